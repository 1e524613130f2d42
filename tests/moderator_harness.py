"""What the moderator tests share: a Prosody secured by the project's configurator, running
moderator.py beside it, and a look at everything Prosody stored.

The site file is not written by hand: an upstream Jitsi install (../shared) is copied to a
temporary root and secured by scripts/secure_domain.py, so the tests meet the hosts exactly as a
server has them after `pulumi up`.
"""

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
        [sys.executable, str(SCRIPTS / "secure_domain.py"), "--domain", DOMAIN, "--root", root],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, f"secure_domain.py failed: {done.stdout}{done.stderr}"
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
    """Runs scripts/moderator.py against `server` as root on its system; the password (if any)
    travels as one line on stdin, exactly as the Pulumi program sends it."""
    if stdin is None:
        stdin = "" if password is None else f"{password}\n"
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    if path_first:
        path = f"{path_first}:{path}"
    argv = ["env", "-i", f"PATH={path}", "LANG=C.UTF-8", SYSTEM_PYTHON]
    argv += [f"{server.scripts}/moderator.py", "--prosody-config", server.config, *args]
    return server.run(argv, stdin=stdin, timeout=60)


def set_moderator(server: ProsodyServer, user: str, password: str) -> subprocess.CompletedProcess:
    return moderator(server, "set", user, "--domain", DOMAIN, password=password)


def remove_moderator(server: ProsodyServer, user: str) -> subprocess.CompletedProcess:
    return moderator(server, "remove", user, "--domain", DOMAIN)


def stored_files(server: ProsodyServer, with_housekeeping: bool = False) -> dict[str, bytes]:
    """The files Prosody keeps under its data path (accounts, roles, ...), by name.

    Prosody 13 rewrites <host>/cron.dat on its own schedule; that is left out unless asked for,
    so "nothing changed" compares only what the tool could have changed.
    """
    data = server.host_dir / "data"
    return {
        str(p.relative_to(data)): p.read_bytes()
        for p in sorted(data.rglob("*"))
        if p.is_file()
        and "plugins" not in p.relative_to(data).parts
        and (with_housekeeping or p.name != "cron.dat")
    }
