"""scripts/bridge_account against a real Prosody (0.12, and 13 from the Debian 13 root).

The site file is the newest upstream one, secured by scripts/secure_domain; jvb@auth.DOMAIN has
the install's 8-character secret and the local bridge's jvb.conf (tests/fixtures/bridge_account)
holds it too. The tool must move both to the generated password, once.
"""

import os
import pathlib
import shutil
import subprocess

import pytest
from moderator_harness import (
    DOMAIN,
    SITE_FILE,
    SYSTEM_PYTHON,
    UPSTREAM_NEWEST,
    VERSIONS,
    secured_site,
    stored_files,
)
from prosody_server import ProsodyServer, prosody13_root
from pyhocon import ConfigFactory
from support import ROOT, require
from xmpp_login import password_login

AUTH = f"auth.{DOMAIN}"
JVB = f"jvb@{AUTH}"
OLD = "Old8Char"  # what the fixture's jvb.conf holds, as the install's debconf secret
NEW = "Gen7erated0Pass4word9for1the2bridges3XyZ"  # 40 letters and digits, like the program's
JVB_CONF = "etc/jitsi/videobridge/jvb.conf"
FIXTURES = ROOT / "tests" / "fixtures" / "bridge_account"
CLIENT = "videobridge.apis.xmpp-client.configs.shard"


def install(tmp_path: pathlib.Path, version: str, site: str | None = None) -> ProsodyServer:
    """A running Prosody serving a secured Jitsi root that lives in its own folder (so that
    Prosody 13's chroot sees it): Prosody's site file is a link to the root's."""
    site = site if site is not None else secured_site(tmp_path, UPSTREAM_NEWEST)
    server = ProsodyServer(site, root=prosody13_root() if version == "13" else None)
    jitsi = server.host_dir / "jitsi"
    (jitsi / SITE_FILE).parent.mkdir(parents=True)
    (jitsi / SITE_FILE).write_text(site)
    conf = jitsi / JVB_CONF
    conf.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "jvb.conf", conf)
    # As the package leaves it: 0640, root and the bridge's group (here: prosody's).
    conf.chmod(0o640)
    os.chown(conf, 0, server.gid)
    (server.host_dir / "site.cfg.lua").unlink()
    (server.host_dir / "site.cfg.lua").symlink_to(server.inside(jitsi / SITE_FILE))
    server.jitsi = jitsi
    server.start()
    made = server.prosodyctl("register", "jvb", AUTH, OLD)
    assert made.returncode == 0, made.stdout + made.stderr
    return server


def tool_argv(server: ProsodyServer, domain: str = DOMAIN) -> list[str]:
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    argv = ["env", "-i", f"PATH={path}", "LANG=C.UTF-8", SYSTEM_PYTHON]
    argv += [f"{server.scripts}/bridge_account", "--domain", domain]
    argv += ["--prosody-config", server.config, "--root", server.inside(server.jitsi)]
    return server.command(argv)


def tool(server: ProsodyServer, stdin: str = f"{NEW}\n", domain: str = DOMAIN):
    return subprocess.run(
        tool_argv(server, domain), input=stdin, capture_output=True, text=True, timeout=60
    )


def touched(server: ProsodyServer) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of what the tool may change: Prosody's accounts, the two files (and any
    backup beside them)."""
    data = server.host_dir / "data"
    paths = [data / name for name in stored_files(server)]
    for folder in (server.jitsi / JVB_CONF).parent, (server.jitsi / SITE_FILE).parent:
        paths += sorted(folder.iterdir())
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


@pytest.fixture(params=VERSIONS)
def server(request, tmp_path):
    server = install(tmp_path, request.param)
    yield server
    server.stop()


def test_the_account_and_the_local_bridge_get_the_new_password_once(server):
    fixture = ConfigFactory.parse_file(str(FIXTURES / "jvb.conf"))
    done = tool(server)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"Changed password of {JVB}",
        f"Changed /{SITE_FILE}: internal.auth.{DOMAIN} only for {AUTH} "
        f'("muc_filter_access") (previous version in {DOMAIN}.cfg.lua.bak)',
        f"Changed /{JVB_CONF}: the local bridge's PASSWORD (previous version in jvb.conf.bak)",
    ]
    assert password_login(server.c2s_port, JVB, NEW)
    assert not password_login(server.c2s_port, JVB, OLD)
    conf = server.jitsi / JVB_CONF
    parsed = ConfigFactory.parse_file(str(conf))
    assert parsed.get(f"{CLIENT}.PASSWORD") == NEW
    # Nothing else moved: the same tree once PASSWORD is put back.
    parsed.put(f"{CLIENT}.PASSWORD", OLD)
    assert parsed == fixture
    assert (conf.stat().st_mode & 0o7777, conf.stat().st_uid, conf.stat().st_gid) == (
        0o640,
        0,
        server.gid,
    )
    before = touched(server)
    again = tool(server)
    assert again.returncode == 0, again.stderr
    assert [line.split(" ")[0] for line in again.stdout.splitlines()] == ["Kept"] * 3
    assert "restarted" not in again.stdout
    assert touched(server) == before
    assert NEW not in done.stdout + done.stderr + again.stdout + again.stderr


def test_the_password_is_in_no_argv_environment_or_file_but_jvb_conf(tmp_path):
    require(shutil.which("strace") is not None, "strace is not installed (apt install strace)")
    server = install(tmp_path, "0.12")
    try:
        log = tmp_path / "execve.log"
        tracer = ["strace", "-f", "-e", "trace=execve", "-s", "4096", "-v", "-o", str(log)]
        done = subprocess.run(
            [*tracer, *tool_argv(server)], input=f"{NEW}\n", capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        trace = log.read_text()
        # The trace saw the password's way to Prosody, and the password nowhere in it.
        assert "prosodyctl" in trace and "passwd" in trace and JVB in trace
        assert NEW not in trace
        holding = [
            str(p.relative_to(server.host_dir))
            for p in server.host_dir.rglob("*")
            if p.is_file() and NEW.encode() in p.read_bytes()
        ]
        assert holding == ["jitsi/" + JVB_CONF]
    finally:
        server.stop()
