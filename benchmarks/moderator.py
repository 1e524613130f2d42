"""How long `moderator.py set` takes per account, against bare `prosodyctl register`.

    sudo .venv/bin/python benchmarks/moderator.py [ACCOUNTS]

Runs a real Prosody (0.12 from the host; 13 from the Debian 13 root where it was built) serving
the upstream 2026 Jitsi site file as scripts/secure_domain.py secures it, creates ACCOUNTS new
accounts (default 30) each way, the two ways interleaved so background load hits both alike, and
prints the median and mean per account and their ratio. Two rows for context: bare
`prosodyctl adduser` with the password on stdin (the safe way by hand), and `moderator.py set`
on an existing account (adduser refuses, passwd changes it). Target: the tool within 2x of bare
prosodyctl (which puts the password in argv; the tool pays for keeping it out: a config check
and a password typed twice on stdin).
"""

import os
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

from moderator_harness import (  # noqa: E402 (the path above makes tests/ importable)
    DOMAIN,
    UPSTREAM_NEWEST,
    secured_site,
    set_moderator,
    start_server,
)
from prosody_server import ProsodyServer  # noqa: E402

ROOT13 = pathlib.Path(os.environ.get("PROSODY13_ROOT", "/var/cache/jitsi-meet-gce/trixie"))


def timed(run) -> float:
    start = time.perf_counter()
    done = run()
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {done.stdout}{done.stderr}")
    return elapsed


def measure(server: ProsodyServer, accounts: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"prosodyctl register": [], "moderator.py set (new)": []}
    times["prosodyctl adduser (stdin)"] = []
    times["moderator.py set (change)"] = []
    for i in range(accounts):
        times["prosodyctl adduser (stdin)"].append(
            timed(
                lambda i=i: server.prosodyctl(
                    "adduser", f"stdin{i}@{DOMAIN}", stdin="bench-pw\nbench-pw\n"
                )
            )
        )
        times["prosodyctl register"].append(
            timed(lambda i=i: server.prosodyctl("register", f"bare{i}", DOMAIN, "bench-pw"))
        )
        times["moderator.py set (new)"].append(
            timed(lambda i=i: set_moderator(server, f"tool{i}", "bench-pw"))
        )
        times["moderator.py set (change)"].append(
            timed(lambda i=i: set_moderator(server, f"tool{i}", "bench-pw-2"))
        )
    return times


def report(version: str, times: dict[str, list[float]]) -> None:
    base = statistics.median(times["prosodyctl register"])
    print(f"Prosody {version}, {len(times['prosodyctl register'])} accounts each:")
    for name, values in times.items():
        median, mean = statistics.median(values), statistics.mean(values)
        print(
            f"  {name:27} median {median * 1000:6.1f} ms  mean {mean * 1000:6.1f} ms"
            f"  ({median / base:.2f}x bare, by median)"
        )


def main() -> None:
    accounts = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory() as tmp:
        site = secured_site(pathlib.Path(tmp), UPSTREAM_NEWEST)
        versions = ["0.12"] + (["13"] if (ROOT13 / ".ready").exists() else [])
        for version in versions:
            server = start_server(version, site)
            try:
                report(version, measure(server, accounts))
            finally:
                server.stop()


if __name__ == "__main__":
    main()
