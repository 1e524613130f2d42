#!/usr/bin/env python3
"""Secure a Jitsi Meet install: only accounts on DOMAIN open rooms, guests join via GUEST.

    python3 secure_domain --domain DOMAIN [--guest-domain GUEST] [--root DIR] [--dry-run]

Edits the Prosody site config, config.js, jicofo.conf and (where present) the legacy
sip-communicator.properties; validates every result before writing anything; writes atomically
with one FILE.bak backup; with --root / restarts the services whose files changed.
Exit status: 0 done or nothing to do, 1 refused (nothing changed), 2 bad arguments.
"""

import argparse
import os
import pathlib
import re
import sys

# Run from a checkout too, it must leave no byte code in scripts/: the deployment ships
# that folder whole.
sys.dont_write_bytecode = True
if not __package__:
    # Run as `python3 scripts/secure_domain`: import this folder and scripts/shared as packages of
    # scripts/, so no module of this folder can shadow another one's by name.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from shared.launch import forget_cached_main

    forget_cached_main(__file__)

from secure_domain import services  # noqa: E402
from secure_domain.files import Refusal, read_text, replace_with_backup, unified_diff  # noqa: E402
from secure_domain.plan import plan  # noqa: E402

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+")


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="secure_domain", description=__doc__.splitlines()[0])
    p.add_argument("--domain", required=True, help="the Jitsi domain, e.g. meet.example.com")
    p.add_argument("--guest-domain", help="the anonymous guest host (default: guest.DOMAIN)")
    p.add_argument("--root", default="/", help="the root the Jitsi files are under (default /)")
    p.add_argument("--dry-run", action="store_true", help="print a diff, write nothing")
    args = p.parse_args(argv)
    args.guest_domain = args.guest_domain or f"guest.{args.domain}"
    for option, value in (("--domain", args.domain), ("--guest-domain", args.guest_domain)):
        if not _DOMAIN.fullmatch(value):
            p.exit(
                2, f"error: {option} {value!r} is not a lowercase DNS name like meet.example.com\n"
            )
    if args.guest_domain == args.domain:
        p.exit(2, "error: --guest-domain must differ from --domain (e.g. guest.DOMAIN)\n")
    args.root = pathlib.Path(args.root)
    if not args.root.is_dir():
        p.exit(2, f"error: --root {args.root} is not a directory\n")
    return args


def run(args: argparse.Namespace) -> None:
    changes = plan(args.root, args.domain, args.guest_domain)
    changed = [c for c in changes if c.new != c.old]
    for c in changes:
        if c.new == c.old:
            print(f"unchanged {c.shown}: {c.what} already set")
        elif args.dry_run:
            print(unified_diff(c.shown, c.old, c.new), end="")
            print(f"would change {c.shown}: {c.what}")
        else:
            # Re-read right before writing: refuse rather than overwrite a concurrent edit.
            if read_text(c.path) != c.old:
                raise Refusal(f"{c.shown} changed while this tool ran; run it again")
            backup = replace_with_backup(c.path, c.old, c.new)
            print(f"changed {c.shown}: {c.what} (previous version in {backup.name})")
    if not changed:
        print(f"nothing needed changing: {args.domain} is already a secure domain")
        return
    if args.dry_run:
        print("dry run: nothing written")
        return
    if args.root.resolve() == pathlib.Path("/"):
        services.restart({c.service for c in changed if c.service}, print)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    try:
        run(args)
    except Refusal as e:
        print(f"secure_domain: refused: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
