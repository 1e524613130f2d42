#!/usr/bin/env python3
"""Rehearse `pulumi up` on a booted Debian machine: one run, for whoever changes the program.

As root (it boots a machine), after `bash tests/run.sh` has set up .venv and the packages:

    .venv/bin/python tests/rehearse.py [--release bookworm|trixie] [--domain DOMAIN]
                                            [--moderator NAME ...] [--report FILE]

It builds the stand-in Jitsi repository, boots a fresh machine, runs the program's own remote
steps over SSH (first deploy), proves the result from outside over https, runs `up` again with
the same config (nothing may run), runs every step again (nothing may change or restart), and
prints the figures. Moderators get random passwords that are never printed. Exit status 0 when
every check held, 1 otherwise.
"""

import argparse
import pathlib
import secrets
import sys
import tempfile
import time

sys.path[:0] = [
    str(pathlib.Path(__file__).resolve().parent),
    str(pathlib.Path(__file__).resolve().parent.parent),
]

from rehearsal.outside import Client, prove  # noqa: E402
from rehearsal.report import Report  # noqa: E402
from rehearsal.stage import Stage  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", choices=("bookworm", "trixie"), default="bookworm")
    parser.add_argument("--domain", default="meet.rehearsal.example")
    parser.add_argument("--moderator", action="append", dest="moderators", metavar="NAME")
    parser.add_argument("--report", type=pathlib.Path, help="also write the figures to FILE")
    args = parser.parse_args()
    moderators = {name: secrets.token_urlsafe(18) for name in args.moderators or ["alice"]}
    report, failures = Report(args.release), []
    with (
        tempfile.TemporaryDirectory(prefix="rehearsal-") as work,
        Stage(args.release, pathlib.Path(work)) as stage,
    ):
        config = stage.config(moderators, domain=args.domain)
        first = stage.up(config)
        report.add("first deploy", first, boot_to_verified=time.monotonic() - stage.booted_at)
        cert = stage.file(f"/etc/jitsi/meet/{args.domain}.crt")
        for held, what in prove(
            Client(stage.vm.address, args.domain, cert), args.domain, moderators
        ):
            print(f"{'PASS' if held else 'FAIL'} outside: {what}")
            failures += [] if held else [what]
        again = stage.up(config)
        report.add("second up, same config", again)
        failures += [f"a second up ran {again.ran()}"] if again.ran() else []
        rerun = stage.rerun_every_step()
        report.add("every step again", rerun)
        restarted = {unit: n for unit, n in rerun.restarts.items() if n}
        failures += [f"running every step again restarted {restarted}"] if restarted else []
    print("\n".join(report.lines()))
    if args.report:
        args.report.write_text("\n".join(report.lines()) + "\n")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
