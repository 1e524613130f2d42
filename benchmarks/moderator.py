"""How long the moderator tool takes, against bare `prosodyctl register`.

    sudo .venv/bin/python benchmarks/moderator.py [ACCOUNTS] [SYNCED] [RUNS]

Runs a real Prosody (0.12 from the host; 13 from the Debian 13 root where it was built) serving
the upstream 2026 Jitsi site file as scripts/secure_domain.py secures it. Two parts per version:

1. `moderators set`, per account: ACCOUNTS (default 30) new accounts each way, the ways
   interleaved so background load hits both alike; median and mean per account, and the ratio.
   Rows for context: bare `prosodyctl adduser` with the password on stdin (the safe way by hand),
   and `set` on an existing account (adduser refuses, passwd changes it).
2. `moderators sync` of SYNCED (default 50) accounts: all unchanged, then 1 of them changed,
   against ONE bare `prosodyctl register` call; medians of RUNS (default 7) runs, interleaved.
   Target: 50 unchanged in under 2x one bare call. Then where the time goes, each part run on
   its own: Python's start and the tool's imports, Lua's start, the config check, the stored
   check with 0 and with all accounts, and one PBKDF2 at the stored iteration count.
"""

import os
import pathlib
import re
import statistics
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "scripts")]
# scripts/ is uploaded whole: importing from it here must leave no byte code there.
sys.dont_write_bytecode = True

from moderator_harness import (  # noqa: E402 (the path above makes tests/ importable)
    DOMAIN,
    SYSTEM_PYTHON,
    UPSTREAM_NEWEST,
    secured_site,
    set_moderator,
    start_server,
    sync_moderators,
)
from moderators.prosody import (  # noqa: E402 (the exact scripts the tool runs, timed alone)
    _HOST_CHECK_LUA,
    _STORED_ACCOUNTS_CHECK_LUA,
    _lua_string,
)
from prosody_server import ProsodyServer  # noqa: E402

ROOT13 = pathlib.Path(os.environ.get("PROSODY13_ROOT", "/var/cache/jitsi-meet-gce/trixie"))
# Both Debian packages: prosodyctl runs on lua5.4 and names this source directory.
LUA, SOURCE_DIR = "lua5.4", "/usr/lib/prosody"
# One PBKDF2 with Prosody's own SCRAM code, timed inside Lua (arg: iteration count).
PBKDF2_LUA = """
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
if not pcall(require, "prosody.loader") then pcall(require, "loader") end
local found, scram = pcall(require, "prosody.util.sasl.scram")
if not found then scram = require "util.sasl.scram" end
local started = os.clock()
for _ = 1, 20 do scram.getAuthenticationDatabaseSHA1("bench-pw", "0123456789ab", arg[1]) end
print((os.clock() - started) * 1000 / 20)
"""


def timed(run) -> float:
    start = time.perf_counter()
    done = run()
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {done.stdout}{done.stderr}")
    return elapsed


def measure_set(server: ProsodyServer, accounts: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"prosodyctl register": [], "moderators set (new)": []}
    times["prosodyctl adduser (stdin)"] = []
    times["moderators set (change)"] = []
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
        times["moderators set (new)"].append(
            timed(lambda i=i: set_moderator(server, f"tool{i}", "bench-pw"))
        )
        times["moderators set (change)"].append(
            timed(lambda i=i: set_moderator(server, f"tool{i}", "bench-pw-2"))
        )
    return times


def report_set(version: str, times: dict[str, list[float]]) -> None:
    base = statistics.median(times["prosodyctl register"])
    print(f"Prosody {version}, `set`, {len(times['prosodyctl register'])} accounts each way:")
    for name, values in times.items():
        median, mean = statistics.median(values), statistics.mean(values)
        print(
            f"  {name:27} median {median * 1000:6.1f} ms  mean {mean * 1000:6.1f} ms"
            f"  ({median / base:.2f}x bare, by median)"
        )


def measure_sync(server: ProsodyServer, accounts: int, runs: int) -> dict[str, list[float]]:
    passwords = {f"sync{i:02d}": f"sync-pw-{i}" for i in range(accounts)}
    times: dict[str, list[float]] = {"prosodyctl register, 1 account": []}
    times[f"sync, {accounts} new (first run)"] = [timed(lambda: sync_moderators(server, passwords))]
    times[f"sync, {accounts} unchanged"] = []
    times[f"sync, 1 of {accounts} changed"] = []
    for run in range(runs):
        times["prosodyctl register, 1 account"].append(
            timed(lambda run=run: server.prosodyctl("register", f"yard{run}", DOMAIN, "pw"))
        )
        times[f"sync, {accounts} unchanged"].append(
            timed(lambda: sync_moderators(server, passwords))
        )
        passwords["sync00"] = f"changed-pw-{run}"
        times[f"sync, 1 of {accounts} changed"].append(
            timed(lambda: sync_moderators(server, passwords))
        )
    return times


def measure_parts(server: ProsodyServer, accounts: int, runs: int) -> dict[str, float]:
    """Median wall time of each part of an unchanged sync, each run on its own."""
    # sync00's password has changed since: a "differs" costs the same derivation as a "match".
    pairs = "".join(f"sync{i:02d}\tsync-pw-{i}\n" for i in range(accounts))
    values = (SOURCE_DIR, server.config, "/var/lib/prosody", DOMAIN)
    check = [LUA, "-e", "arg = {" + ", ".join(map(_lua_string, values)) + "}"]
    check += ["-e", _STORED_ACCOUNTS_CHECK_LUA]
    importing = f"import sys; sys.path[:0] = ['{server.scripts}']; import moderators.__main__"
    parts = {
        "Python start (python3 -c pass)": ([SYSTEM_PYTHON, "-c", "pass"], ""),
        # -B: as when the tool runs, nothing is cached, and nothing is left in scripts/.
        "Python start + the tool's imports": ([SYSTEM_PYTHON, "-B", "-c", importing], ""),
        "Lua start (lua5.4 -e '')": ([LUA, "-e", ""], ""),
        "config check (Lua + Prosody's loader)": (
            [LUA, "-", SOURCE_DIR, server.config, DOMAIN],
            _HOST_CHECK_LUA,
        ),
        "stored check, 0 accounts": (check, ""),
        f"stored check, {accounts} accounts": (check, pairs),
    }
    medians = {}
    for name, (argv, stdin) in parts.items():
        medians[name] = statistics.median(
            timed(lambda argv=argv, stdin=stdin: server.run(argv, stdin=stdin)) for _ in range(runs)
        )
    return medians


def pbkdf2_ms(server: ProsodyServer) -> tuple[int, float]:
    """The iteration count Prosody stored, and one PBKDF2 at that count (ms, Prosody's code)."""
    # Prosody 13 also keeps an account_roles/sync00.dat.
    stored = next((server.host_dir / "data").glob("*/accounts/sync00.dat")).read_text()
    iterations = int(re.search(r'"iteration_count"\] = (\d+)', stored).group(1))
    done = server.run([LUA, "-e", f"arg = {{{iterations}}}", "-e", PBKDF2_LUA])
    return iterations, float(done.stdout)


def report_sync(version, times, parts, iterations, pbkdf2, accounts) -> None:
    base = statistics.median(times["prosodyctl register, 1 account"])
    print(f"Prosody {version}, `sync`, median of {len(times[f'sync, {accounts} unchanged'])} runs:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:34} {median * 1000:7.1f} ms  ({median / base:5.2f}x one bare call)")
    print("  where an unchanged run's time goes (each part alone, median):")
    for name, median in parts.items():
        print(f"    {name:40} {median * 1000:7.1f} ms")
    print(
        f"    PBKDF2-SHA-1 at the stored {iterations} iterations: {pbkdf2:.2f} ms per account,"
        f" {pbkdf2 * accounts:.0f} ms for {accounts}"
    )


def main() -> None:
    accounts, synced_accounts, runs = [int(a) for a in (sys.argv[1:] + ["30", "50", "7"])[:3]]
    with tempfile.TemporaryDirectory() as tmp:
        site = secured_site(pathlib.Path(tmp), UPSTREAM_NEWEST)
        versions = ["0.12"] + (["13"] if (ROOT13 / ".ready").exists() else [])
        for version in versions:
            server = start_server(version, site)
            try:
                if accounts:
                    report_set(version, measure_set(server, accounts))
                times = measure_sync(server, synced_accounts, runs)
                parts = measure_parts(server, synced_accounts, runs)
                iterations, pbkdf2 = pbkdf2_ms(server)
                report_sync(version, times, parts, iterations, pbkdf2, synced_accounts)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
