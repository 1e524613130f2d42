"""What the moderator tests share: a Prosody secured by the project's configurator, running
the moderator tool beside it, and a look at everything Prosody stored.

The site file is not written by hand: an upstream Jitsi install (../shared) is copied to a
temporary root and secured by scripts/secure_domain, so the tests meet the hosts exactly as a
server has them after `pulumi up`.
"""

import json
import pathlib
import shutil
import subprocess
import sys

from prosody_server import ProsodyServer, prosody13_root
from support import SCRIPTS, upstream_dir

DOMAIN = "meet.example.com"
GUEST = f"guest.{DOMAIN}"
SITE_FILE = f"etc/prosody/conf.avail/{DOMAIN}.cfg.lua"
# The newest upstream install, which current servers have; the oldest as a second opinion.
UPSTREAM_NEWEST, UPSTREAM_OLDEST = "2026-07_master-abf901a", "2020-05_stable-4627"
# The scripts run on the system's own Python (Debian 12: 3.11; the Debian 13 root: 3.13), as on
# the VM, not on the test virtualenv's.
SYSTEM_PYTHON = "/usr/bin/python3"
VERSIONS = ["0.12", "13"]


def secured_site(tmp_path: pathlib.Path, upstream: str) -> str:
    """The upstream site file for DOMAIN after the project's configurator has secured it."""
    root = tmp_path / "jitsi-root"
    shutil.copytree(upstream_dir(upstream), root, symlinks=True)
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "secure_domain"), "--domain", DOMAIN, "--root", root],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, f"secure_domain failed: {done.stdout}{done.stderr}"
    return (root / SITE_FILE).read_text()


def start_server(version: str, site: str) -> ProsodyServer:
    root = prosody13_root() if version == "13" else None
    return ProsodyServer(site, root=root).start()


def moderator(
    server: ProsodyServer,
    *args: str,
    password: str | None = None,
    stdin: str | None = None,
    path_first: str | None = None,
) -> subprocess.CompletedProcess:
    """Runs scripts/moderators against `server` as root on its system; the password (if any)
    travels as one line on stdin, exactly as the Pulumi program sends it."""
    if stdin is None:
        stdin = "" if password is None else f"{password}\n"
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    if path_first:
        path = f"{path_first}:{path}"
    argv = ["env", "-i", f"PATH={path}", "LANG=C.UTF-8", SYSTEM_PYTHON]
    argv += [f"{server.scripts}/moderators", "--prosody-config", server.config, *args]
    return server.run(argv, stdin=stdin, timeout=60)


def set_moderator(server: ProsodyServer, user: str, password: str) -> subprocess.CompletedProcess:
    return moderator(server, "set", user, "--domain", DOMAIN, password=password)


def remove_moderator(server: ProsodyServer, user: str) -> subprocess.CompletedProcess:
    return moderator(server, "remove", user, "--domain", DOMAIN)


def stored_files(server: ProsodyServer, with_housekeeping: bool = False) -> dict[str, bytes]:
    """The files Prosody keeps under its data path (accounts, roles, ...), by name.

    Prosody 13 rewrites <host>/cron.dat on its own schedule (through a temporary cron.dat~);
    those are left out unless asked for, so "nothing changed" compares only what the tool could
    have changed.
    """
    data = server.host_dir / "data"
    return {
        str(p.relative_to(data)): p.read_bytes()
        for p in sorted(data.rglob("*"))
        if p.is_file()
        and "plugins" not in p.relative_to(data).parts
        and (with_housekeeping or p.name not in ("cron.dat", "cron.dat~"))
    }


# --- moderators sync ---------------------------------------------------------------------


def record_path(server: ProsodyServer) -> pathlib.Path:
    """Where the sync tests keep the record of managed names (host path; its folder is made by
    the tool). Beside Prosody's data, not in it: a root-only file of the tool's own."""
    return server.host_dir / "jitsi-meet-gce" / "moderators.json"


def sync_args(server: ProsodyServer, names: str, record: pathlib.Path | None = None) -> list[str]:
    """`sync` arguments for `server`, with the test's record (as the tool sees its path)."""
    record = record_path(server) if record is None else record
    return ["sync", "--domain", DOMAIN, "--names", names, "--record", server.inside(record)]


def sync_moderators(
    server: ProsodyServer,
    passwords: dict[str, str],
    names: str | None = None,
    record: pathlib.Path | None = None,
    path_first: str | None = None,
) -> subprocess.CompletedProcess:
    """Runs `moderators sync` as the Pulumi program does: --names the sorted names (unless
    given, to test a mismatch), stdin the JSON object of names and passwords."""
    names = ",".join(sorted(passwords)) if names is None else names
    stdin = json.dumps(passwords, sort_keys=True)
    args = sync_args(server, names, record)
    return moderator(server, *args, stdin=stdin, path_first=path_first)


def remove_listed(server: ProsodyServer, user: str) -> subprocess.CompletedProcess:
    """`remove USER` with the sync tests' record (what an old per-account resource runs)."""
    record = server.inside(record_path(server))
    return moderator(server, "remove", user, "--domain", DOMAIN, "--record", record)


def moderator_argv(server: ProsodyServer, *args: str) -> list[str]:
    """The full command `moderator` runs (chroot included), to run under a tracer."""
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    argv = ["env", "-i", f"PATH={path}", "LANG=C.UTF-8", SYSTEM_PYTHON]
    argv += [f"{server.scripts}/moderators", "--prosody-config", server.config, *args]
    return server.command(argv)


def snapshot(server: ProsodyServer) -> dict[str, tuple[bytes, int, int]]:
    """Bytes, mtime and mode of every file the tool could change: Prosody's stored data (as in
    stored_files) and the record with anything else in its folder (a leftover temp file)."""
    data = server.host_dir / "data"
    files = [data / name for name in stored_files(server)]
    folder = record_path(server).parent
    files += sorted(folder.iterdir()) if folder.is_dir() else []
    return {
        str(path): (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_mode)
        for path in files
    }


def recorded_names(server: ProsodyServer) -> list[str]:
    return json.loads(record_path(server).read_text())["managed"]
