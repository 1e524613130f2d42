"""The moderator tool on Prosody 13 as Prosody's own apt repository lays it out.

Jitsi's handbook (and scripts/install_jitsi/repos.sh) installs Prosody 13 from
packages.prosody.im on Debian 12 and Ubuntu. Those packages do not keep Prosody's sources in
/usr/lib/prosody as Debian's do: they install them as a Lua library,
/usr/share/lua/5.x/prosody/ (see jitsi/jitsi-meet#17303: "with prosody 0.13, queue.lua is now in
/usr/share/lua/5.4/prosody/util/queue.lua"), and their prosodyctl names no CFG_SOURCEDIR. The
layout is rebuilt here from the Debian 13 root: a prosodyctl without CFG_SOURCEDIR, on the plain
`lua` interpreter, finding Prosody as `prosody.*` on Lua's module path only.
"""

import pathlib
import shutil
import subprocess

import pytest
from moderator_harness import (
    DOMAIN,
    SYSTEM_PYTHON,
    UPSTREAM_NEWEST,
    secured_site,
    start_server,
)
from xmpp_login import password_login

ALICE = f"alice@{DOMAIN}"


def repo_layout(server) -> tuple[str, dict[str, str]]:
    """A bin folder with a packages.prosody.im-style prosodyctl, and the Lua path it needs."""
    host = pathlib.Path(server.host_dir)
    (host / "lualib").mkdir()
    # Debian 13's C modules export both luaopen_util_* and luaopen_prosody_util_*, so the
    # same files serve as the library layout.
    shutil.copytree(server.root / "usr/lib/prosody", host / "lualib" / "prosody", symlinks=True)
    # What stays in /usr/lib/prosody there: the plugin folder only (mounted over it by `run`).
    (host / "usr-lib-prosody").mkdir()
    (host / "usr-lib-prosody" / "modules").symlink_to(
        server.inside(host / "lualib/prosody/modules")
    )
    real = (server.root / "usr/bin/prosodyctl").read_text()
    lines = real.splitlines(keepends=True)
    assert lines[0].startswith("#!") and "CFG_SOURCEDIR='/usr/lib/prosody';\n" in lines
    body = "".join(line for line in lines[1:] if not line.startswith("CFG_SOURCEDIR="))
    (host / "bin").mkdir()
    fake = host / "bin" / "prosodyctl"
    fake.write_text("#!/usr/bin/env lua\n" + body)
    fake.chmod(0o755)
    lualib = server.inside(host / "lualib")
    env = {"LUA_PATH": f"{lualib}/?.lua;;", "LUA_CPATH": f"{lualib}/?.so;;"}
    return server.inside(host / "bin"), env


def run(server, argv: list[str], stdin: str = "") -> subprocess.CompletedProcess:
    """argv chrooted into the Prosody 13 root, with /usr/lib/prosody holding only modules/, as
    under Prosody's own packages (a private mount namespace: the root itself is not changed)."""
    shadow = pathlib.Path(server.host_dir) / "usr-lib-prosody"
    script = 'mount --bind "$1" "$2/usr/lib/prosody" && shift 2 && exec chroot "$@"'
    wrapped = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    wrapped += [str(shadow), str(server.root), str(server.root), *argv]
    return subprocess.run(wrapped, input=stdin, capture_output=True, text=True, timeout=60)


@pytest.fixture
def prosody13(tmp_path):
    server = start_server("13", secured_site(tmp_path, UPSTREAM_NEWEST))
    yield server
    server.stop()


def run_moderator(server, bin_dir: str, env: dict[str, str], *args: str, stdin: str = ""):
    path = f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    argv = ["env", "-i", f"PATH={path}", "LANG=C.UTF-8"]
    argv += [f"{k}={v}" for k, v in env.items()]
    argv += [SYSTEM_PYTHON, f"{server.scripts}/moderators", "--prosody-config", server.config]
    return run(server, [*argv, *args], stdin=stdin)


def test_set_and_remove_work_with_prosodys_own_package_layout(prosody13):
    bin_dir, env = repo_layout(prosody13)
    # The stand-in really is that layout: its prosodyctl works only with the Lua path.
    ctl = [f"{bin_dir}/prosodyctl", "--config", prosody13.config, "about"]
    assert run(prosody13, ["env", "-i", *ctl]).returncode != 0
    assert run(prosody13, ["env", *[f"{k}={v}" for k, v in env.items()], *ctl]).returncode == 0
    done = run_moderator(prosody13, bin_dir, env, "set", "alice", "--domain", DOMAIN, stdin="s3\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Created {ALICE}\n"
    assert password_login(prosody13.c2s_port, ALICE, "s3")
    done = run_moderator(prosody13, bin_dir, env, "remove", "alice", "--domain", DOMAIN)
    assert done.returncode == 0, done.stderr
    assert not password_login(prosody13.c2s_port, ALICE, "s3")
