"""scripts/bridge_account's two edits on files alone: jvb.conf (HOCON, read back with pyhocon and
Debian's `hocon` tool) and the internal room of every upstream site file (read back with
Prosody's own loader); and its refusals, each before any change."""

import json
import shutil
import subprocess
import sys

import pytest
from moderator_harness import DOMAIN, SITE_FILE, UPSTREAM_NEWEST
from pyhocon import ConfigFactory
from support import SCRIPTS, UPSTREAM, require
from test_bridge_account import FIXTURES, JVB_CONF, NEW, OLD, install, tool, touched

sys.path.insert(0, str(SCRIPTS))
from bridge_account import internal_room, jvb_conf  # noqa: E402
from secure_domain import loader  # noqa: E402

LOGIN = ("jvb", f"auth.{DOMAIN}")
CLIENTS = "videobridge.apis.xmpp-client.configs"


def _hocon_tool(text: str) -> dict:
    require(shutil.which("hocon") is not None, "the hocon tool is missing (apt install ruby-hocon)")
    done = subprocess.run(
        ["hocon", "-j", "get", CLIENTS], input=text, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", ["jvb.conf", "jvb-dotted.conf"])
def test_only_the_password_of_the_clients_for_jvb_at_auth_domain_changes(name):
    old = (FIXTURES / name).read_text()
    new = jvb_conf.with_password(old, LOGIN, NEW)
    before, after = ConfigFactory.parse_string(old), ConfigFactory.parse_string(new)
    changed = [
        c
        for c in after.get(CLIENTS)
        if after.get(f"{CLIENTS}.{c}.PASSWORD") != before.get(f"{CLIENTS}.{c}.PASSWORD")
    ]
    ours = [c for c in after.get(CLIENTS) if after.get(f"{CLIENTS}.{c}.DOMAIN") == LOGIN[1]]
    assert changed == ours and len(ours) == 1
    assert after.get(f"{CLIENTS}.{ours[0]}.PASSWORD") == NEW
    after.put(f"{CLIENTS}.{ours[0]}.PASSWORD", OLD)
    assert after == before
    assert _hocon_tool(new)[ours[0]]["PASSWORD"] == NEW
    # One line differs, and a second pass changes nothing.
    assert sum(a != b for a, b in zip(old.splitlines(), new.splitlines(), strict=True)) == 1
    assert jvb_conf.with_password(new, LOGIN, NEW) == new
    jvb_conf.check_with_hocon_tool(new, LOGIN, NEW)


def test_a_later_override_is_caught_by_the_hocon_tool():
    text = (FIXTURES / "jvb.conf").read_text() + f'{CLIENTS}.shard.PASSWORD = ${{?NOPE}}"x"\n'
    with pytest.raises(jvb_conf.Refusal):
        jvb_conf.check_with_hocon_tool(jvb_conf.with_password(text, LOGIN, NEW), LOGIN, NEW)


@pytest.mark.parametrize("upstream", sorted(p.name for p in UPSTREAM.glob("20*")))
def test_every_upstream_internal_room_gets_the_filter_and_still_loads(upstream):
    site = UPSTREAM / upstream / "etc/prosody/conf.avail" / f"{DOMAIN}.cfg.lua"
    old = site.read_text()
    new = internal_room.filtered(old, DOMAIN)
    internal_room.check(str(site), new, DOMAIN)
    require(loader.available(), "Prosody's config loader is not installed")
    room = f"internal.auth.{DOMAIN}"
    got = loader.read_values(str(site), new, [(room, "muc_filter_whitelist"), (DOMAIN, "storage")])
    assert got[(room, "muc_filter_whitelist")] == f"auth.{DOMAIN}"
    assert internal_room.filtered(new, DOMAIN) == new
    added = [line for line in new.splitlines() if line not in old.splitlines()]
    assert [line.strip() for line in added] == [
        f'muc_filter_whitelist = "auth.{DOMAIN}"',
        '"muc_filter_access";',
    ]


def _refused(server, code: int, stdin: str = f"{NEW}\n", domain: str = DOMAIN) -> str:
    before = touched(server)
    done = tool(server, stdin, domain)
    assert done.returncode == code, done.stdout + done.stderr
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1
    assert NEW not in done.stderr
    assert touched(server) == before
    return done.stderr


def test_refusals_change_nothing(tmp_path):
    server = install(tmp_path, "0.12")
    try:
        for stdin in ("short\n", f"{NEW}\n{NEW}\n", f"{NEW} x\n", "é" * 40, ""):
            assert "ASCII" in _refused(server, 2, stdin)
        assert "not configured" in _refused(server, 3, domain="other.example.com")
        site = server.jitsi / SITE_FILE
        text = site.read_text()
        room = f'Component "internal.auth.{DOMAIN}" "muc"'
        site.write_text(text.replace(room, f'{room}\n    muc_filter_whitelist = "x"'))
        assert "refusing to replace it" in _refused(server, 3)
        site.write_text(text)
        (server.jitsi / JVB_CONF).unlink()
        assert "local bridge installed" in _refused(server, 3)
    finally:
        server.stop()


def test_an_unsecured_install_is_not_ready(tmp_path):
    upstream = UPSTREAM / UPSTREAM_NEWEST / "etc/prosody/conf.avail" / f"{DOMAIN}.cfg.lua"
    server = install(tmp_path, "0.12", site=upstream.read_text())
    try:
        assert "secure the domain first" in _refused(server, 3)
    finally:
        server.stop()


@pytest.mark.parametrize(
    "body",
    [
        '    modules_enabled = { "ping" }\n',  # one line: the entry goes right after "{"
        '    modules_enabled = { "ping", "muc_hide_all" }\n',
        '    storage = "memory"\n',  # no modules_enabled at all: a table of its own
    ],
)
def test_any_shape_of_the_rooms_modules_gives_a_config_prosody_loads(tmp_path, body):
    room = f"internal.auth.{DOMAIN}"
    old = f'VirtualHost "{DOMAIN}"\nComponent "{room}" "muc"\n{body}-- end\n'
    new = internal_room.filtered(old, DOMAIN)
    internal_room.check(str(tmp_path / "site.cfg.lua"), new, DOMAIN)
    require(loader.available(), "Prosody's config loader is not installed")
    got = loader.read_values(str(tmp_path / "x.cfg.lua"), new, [(room, "muc_filter_whitelist")])
    assert got[(room, "muc_filter_whitelist")] == f"auth.{DOMAIN}"
    assert internal_room.filtered(new, DOMAIN) == new
