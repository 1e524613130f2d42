"""scripts/secure_domain on hand-written files for the cases that break naive tools."""

import pathlib

import pytest
from secure_domain_readers import (
    FIXTURES,
    config_js_hosts,
    hocon_cli,
    java_properties,
    prosody_values,
    run_tool,
    snapshot,
)

DOMAIN = "meet.example.com"


def make_root(
    tmp: pathlib.Path,
    lua: str = "plain.cfg.lua",
    js: str = "config.js",
    jicofo: str | None = "jicofo.conf",
    props: str | None = None,
    domain: str = DOMAIN,
    jitsi_plugin: bool = False,
) -> pathlib.Path:
    """A Jitsi root built from fixtures, with conf.d linking to conf.avail as the package does."""
    root = tmp / "root"
    files = {
        f"etc/prosody/conf.avail/{domain}.cfg.lua": lua,
        f"etc/jitsi/meet/{domain}-config.js": js,
        "etc/jitsi/jicofo/jicofo.conf": jicofo,
        "etc/jitsi/jicofo/sip-communicator.properties": props,
    }
    for rel, fixture in files.items():
        if fixture:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            text = (FIXTURES / fixture).read_text().replace("@DOMAIN@", domain)
            (root / rel).write_text(text)
    (root / "etc/prosody/conf.d").mkdir(parents=True)
    (root / f"etc/prosody/conf.d/{domain}.cfg.lua").symlink_to(
        f"/etc/prosody/conf.avail/{domain}.cfg.lua"
    )
    if jitsi_plugin:
        plugin = root / "usr/share/jitsi-meet/prosody-plugins/mod_auth_jitsi-anonymous.lua"
        plugin.parent.mkdir(parents=True)
        plugin.write_text("-- stand-in\n")
    return root


def lua_path(root, domain=DOMAIN):
    return root / f"etc/prosody/conf.avail/{domain}.cfg.lua"


def assert_refused(root, result, *words):
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr


def test_comments_and_other_hosts_stay_as_they_were(tmp_path):
    root = make_root(tmp_path)
    before = lua_path(root).read_text()
    assert run_tool(root).returncode == 0
    after = lua_path(root).read_text()
    for line in before.splitlines():
        if "authentication" in line and '"anonymous" -- the host' not in line:
            assert line in after.splitlines(), line
    assert '    authentication = "internal_hashed" -- the host the users log in to' in after
    values = prosody_values(
        lua_path(root), DOMAIN, f"guest.{DOMAIN}", f"auth.{DOMAIN}", "other.example.org"
    )
    assert values[DOMAIN]["authentication"] == "internal_hashed"
    assert values[f"auth.{DOMAIN}"]["authentication"] == "internal_hashed"
    assert values["other.example.org"]["authentication"] == "anonymous"
    # The guest host goes after the main host's own trailing comment, before the next section's.
    assert '-- a comment that belongs to the main host\n\nVirtualHost "guest.' in after
    assert '"anonymous"\n    c2s_require_encryption = false\n\n-- internal muc component' in after


def test_guest_provider_follows_the_jitsi_plugin(tmp_path):
    root = make_root(tmp_path, jitsi_plugin=True)
    assert run_tool(root).returncode == 0
    assert prosody_values(lua_path(root), f"guest.{DOMAIN}")[f"guest.{DOMAIN}"][
        "authentication"
    ] == ("jitsi-anonymous")


def test_already_secured_changes_nothing(tmp_path):
    root = make_root(tmp_path, "secured.cfg.lua", "config_secured.js", "jicofo_secured.conf")
    before = snapshot(root)
    result = run_tool(root)
    assert result.returncode == 0, result.stderr
    assert snapshot(root) == before
    assert "nothing needed changing" in result.stdout


def test_existing_guest_host_is_completed_not_duplicated(tmp_path):
    root = make_root(tmp_path, "guest_present.cfg.lua")
    assert run_tool(root).returncode == 0
    text = lua_path(root).read_text()
    assert text.count(f'VirtualHost "guest.{DOMAIN}"') == 1
    guest = prosody_values(lua_path(root), f"guest.{DOMAIN}")[f"guest.{DOMAIN}"]
    assert guest["authentication"] == "anonymous"
    assert guest["c2s_require_encryption"] == "false"


def test_odd_indentation_and_a_domain_with_dashes(tmp_path):
    domain = "my-meet.example-site.org"
    root = make_root(tmp_path, "odd_indent.cfg.lua", domain=domain)
    result = run_tool(root, domain=domain)
    assert result.returncode == 0, result.stderr
    text = lua_path(root, domain).read_text()
    assert f'VirtualHost "guest.{domain}"\n\tauthentication = "anonymous"\n' in text
    assert '\tauthentication   =   "internal_hashed"\n' in text
    values = prosody_values(lua_path(root, domain), domain, f"guest.{domain}")
    assert values[domain]["authentication"] == "internal_hashed"
    assert values[f"guest.{domain}"]["c2s_require_encryption"] == "false"
    assert config_js_hosts(root / f"etc/jitsi/meet/{domain}-config.js")["anonymousdomain"] == (
        f"guest.{domain}"
    )


@pytest.mark.parametrize(
    "js", ["config.js", "config_last.js", "config_other_guest.js", "config_assigned_later.js"]
)
def test_config_js_stays_valid_javascript(tmp_path, js):
    root = make_root(tmp_path, js=js)
    result = run_tool(root)
    assert result.returncode == 0, result.stderr
    hosts = config_js_hosts(root / f"etc/jitsi/meet/{DOMAIN}-config.js")
    assert hosts["anonymousdomain"] == f"guest.{DOMAIN}"
    assert hosts["domain"] == DOMAIN


def test_stale_legacy_property_is_corrected(tmp_path):
    root = make_root(tmp_path, props="stale.properties")
    path = root / "etc/jitsi/jicofo/sip-communicator.properties"
    before = java_properties(path.read_text())
    assert run_tool(root).returncode == 0
    after = java_properties(path.read_text())
    assert after.pop("org.jitsi.jicofo.auth.URL") == f"XMPP:{DOMAIN}"
    before.pop("org.jitsi.jicofo.auth.URL")
    assert after == before


def test_xmpp_prefix_in_hocon_is_removed_and_type_added(tmp_path):
    root = make_root(tmp_path, jicofo="jicofo_prefixed.conf")
    assert run_tool(root).returncode == 0
    conf = root / "etc/jitsi/jicofo/jicofo.conf"
    assert hocon_cli(conf, "jicofo.authentication") == {
        "enabled": True,
        "type": "XMPP",
        "login-url": DOMAIN,
    }


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ({"lua": "token.cfg.lua"}, ['"token"', "refusing"]),
        ({"lua": "guest_before.cfg.lua"}, ["before", "move it"]),
        ({"jicofo": "jicofo_dotted.conf"}, ["jicofo.conf", "by hand"]),
        ({"js": None}, ["files missing", "config.js"]),
        ({"jicofo": None}, ["files missing", "jicofo.conf"]),
    ],
    ids=["main-on-token", "guest-before-main", "hocon-override", "no-config-js", "no-jicofo"],
)
def test_refusals_change_nothing(tmp_path, case, words):
    root = make_root(tmp_path, **case)
    before = snapshot(root)
    result = run_tool(root)
    assert_refused(root, result, *words)
    assert snapshot(root) == before


def test_domain_not_in_the_prosody_config(tmp_path):
    root = make_root(tmp_path)
    lua_path(root).write_text(
        lua_path(root).read_text().replace(f'"{DOMAIN}"', '"other.example.com"')
    )
    before = snapshot(root)
    result = run_tool(root)
    assert_refused(root, result, f'no VirtualHost "{DOMAIN}"')
    assert snapshot(root) == before


@pytest.mark.parametrize(
    "args",
    [
        ["--guest-domain", DOMAIN],
        ["--guest-domain", "Guest.Example.com"],
        ["--domain", "bad domain"],
    ],
)
def test_bad_arguments_are_refused(tmp_path, args):
    root = make_root(tmp_path)
    before = snapshot(root)
    result = run_tool(root, *args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") or "usage" in result.stderr
    assert snapshot(root) == before


def test_unbalanced_lua_is_refused(tmp_path):
    root = make_root(tmp_path)
    lua_path(root).write_text(lua_path(root).read_text().replace('"ping"; }', '"ping"; '))
    before = snapshot(root)
    assert_refused(root, run_tool(root), "never closed")
    assert snapshot(root) == before


def test_a_main_host_with_no_settings_keeps_its_line_out_of_the_guest_host(tmp_path):
    # Its authentication line and the guest host both go right after its header: the line must
    # come first, or it would set the guest host's provider (the tool used to refuse this file).
    root = make_root(tmp_path)
    lua_path(root).write_text(f'VirtualHost "{DOMAIN}"\n\nComponent "conference.{DOMAIN}" "muc"\n')
    result = run_tool(root)
    assert result.returncode == 0, result.stderr
    values = prosody_values(lua_path(root), DOMAIN, f"guest.{DOMAIN}")
    assert values[DOMAIN]["authentication"] == "internal_hashed"
    assert values[f"guest.{DOMAIN}"]["authentication"] == "anonymous"
