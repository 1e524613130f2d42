"""scripts/secure_domain on the real files of four upstream Jitsi versions (2020 to 2026), each read
back by the parser its consumer uses."""

import difflib
import re

import pytest
from secure_domain_readers import (
    CONFIG_JS,
    DOMAIN,
    GUEST,
    JICOFO_CONF,
    PROPERTIES,
    PROSODY_FILE,
    config_js_hosts,
    copy_upstream,
    hocon_cli,
    java_properties,
    prosody_values,
    run_tool,
    snapshot,
)
from support import require, upstream_dir, upstream_version_names

try:
    import pyhocon
except ImportError:  # a missing dev requirement must fail under CI, not skip
    pyhocon = None

WANTED_AUTH = {"enabled": True, "type": "XMPP", "login-url": DOMAIN}
OTHER_HOSTS = ("auth.meet.example.com", "recorder.meet.example.com", "conference.meet.example.com")

# Every line the tool may add or remove, per file; anything else in the diff is a failure.
ALLOWED_REMOVED = {
    PROSODY_FILE: [r'\s+authentication = "(jitsi-)?anonymous"( -- do not delete me)?'],
    CONFIG_JS: [r"\s+// anonymousdomain: 'guest\.example\.com',"],
    JICOFO_CONF: [],
    PROPERTIES: [],
}
ALLOWED_ADDED = {
    PROSODY_FILE: [
        r'\s+authentication = "internal_hashed"( -- do not delete me)?',
        r"",
        rf'VirtualHost "{re.escape(GUEST)}"',
        r'\s+authentication = "(jitsi-)?anonymous"',
        r"\s+c2s_require_encryption = false",
        r'\s+modules_enabled = \{ "smacks" \}',
    ],
    CONFIG_JS: [rf"\s+anonymousdomain: '{re.escape(GUEST)}',"],
    JICOFO_CONF: [
        r"\s+authentication: \{",
        r"\s+enabled: true",
        r"\s+type: XMPP",
        rf'\s+login-url: "{re.escape(DOMAIN)}"',
        r"\s+\}",
    ],
    PROPERTIES: [rf"org\.jitsi\.jicofo\.auth\.URL=XMPP:{re.escape(DOMAIN)}"],
}


@pytest.fixture(params=upstream_version_names())
def version(request, tmp_path):
    """(name, original copy, copy the tool has run on) for one upstream version."""
    src = upstream_dir(request.param)
    original = copy_upstream(src, tmp_path / "original")
    secured = copy_upstream(src, tmp_path / "secured")
    # A jicofo.conf as the package leaves it holds a password: mode 640 must survive.
    for root in (original, secured):
        if (root / JICOFO_CONF).exists():
            (root / JICOFO_CONF).chmod(0o640)
    result = run_tool(secured)
    assert result.returncode == 0, result.stderr
    return request.param, original, secured, result


def test_prosody_loader_reads_secured_hosts(version):
    _, original, secured, _ = version
    hosts = (DOMAIN, GUEST, *OTHER_HOSTS)
    before = prosody_values(original / PROSODY_FILE, *hosts)
    after = prosody_values(secured / PROSODY_FILE, *hosts)
    assert after[DOMAIN]["authentication"] == "internal_hashed"
    assert after[GUEST]["defined"] == "true"
    assert after[GUEST]["authentication"] in ("anonymous", "jitsi-anonymous")
    assert after[GUEST]["c2s_require_encryption"] == "false"
    assert before[GUEST]["defined"] == "false"
    for host in OTHER_HOSTS:
        assert after[host] == before[host], host
    # The rest of the main host is untouched (modules, c2s setting).
    assert {k: v for k, v in after[DOMAIN].items() if k != "authentication"} == {
        k: v for k, v in before[DOMAIN].items() if k != "authentication"
    }


def test_guest_host_comes_right_after_the_main_host(version):
    _, _, secured, _ = version
    text = (secured / PROSODY_FILE).read_text()
    headers = re.findall(r'(?m)^(?:VirtualHost|Component) "([^"]+)"', text)
    assert headers.index(GUEST) == headers.index(DOMAIN) + 1


def test_smacks_only_where_the_file_shows_prosody_has_it(version):
    _, original, secured, _ = version
    had_smacks = '"smacks"' in (original / PROSODY_FILE).read_text()
    guest = prosody_values(secured / PROSODY_FILE, GUEST)[GUEST]
    assert ("smacks" in guest["modules_enabled"].split(",")) == had_smacks


def test_config_js_names_the_guest_domain_for_javascript(version):
    _, original, secured, _ = version
    before = config_js_hosts(original / CONFIG_JS)
    after = config_js_hosts(secured / CONFIG_JS)
    assert after.pop("anonymousdomain") == GUEST
    assert "anonymousdomain" not in before
    assert after == before


def test_jicofo_reads_xmpp_authentication(version):
    name, original, secured, _ = version
    conf, props = secured / JICOFO_CONF, secured / PROPERTIES
    require(conf.exists() or props.exists(), f"{name}: no jicofo config at all")
    if conf.exists():
        require(pyhocon is not None, "pyhocon is not installed (requirements-dev.txt)")
        parsed = pyhocon.ConfigFactory.parse_file(str(conf))
        assert dict(parsed.get("jicofo.authentication")) == WANTED_AUTH
        assert hocon_cli(conf, "jicofo.authentication") == WANTED_AUTH
        old = pyhocon.ConfigFactory.parse_file(str(original / JICOFO_CONF))
        parsed["jicofo"].pop("authentication")
        assert parsed == old
        assert len(re.findall(r"(?m)^jicofo\s*\{", conf.read_text())) == 1
    if props.exists():
        after = java_properties(props.read_text())
        assert after.pop("org.jitsi.jicofo.auth.URL") == f"XMPP:{DOMAIN}"
        assert after == java_properties((original / PROPERTIES).read_text())
    # 2020's jicofo never reads jicofo.conf (no -Dconfig.file in its `config`): none is created.
    assert conf.exists() == (original / JICOFO_CONF).exists()


def test_diff_touches_only_intended_lines(version):
    _, original, secured, _ = version
    for rel in (PROSODY_FILE, CONFIG_JS, JICOFO_CONF, PROPERTIES):
        if not (original / rel).exists():
            continue
        old = (original / rel).read_text().splitlines()
        new = (secured / rel).read_text().splitlines()
        diff = [d for d in difflib.ndiff(old, new) if d[:2] in ("- ", "+ ")]
        assert diff, f"{rel} unchanged"
        for line in diff:
            allowed = ALLOWED_REMOVED[rel] if line[0] == "-" else ALLOWED_ADDED[rel]
            assert any(re.fullmatch(p, line[2:]) for p in allowed), f"{rel}: {line!r}"
        assert sum(line[0] == "-" for line in diff) == len(ALLOWED_REMOVED[rel][:1])


def test_backups_modes_and_links(version):
    _, original, secured, _ = version
    for rel in (PROSODY_FILE, CONFIG_JS, JICOFO_CONF, PROPERTIES):
        if (original / rel).exists():
            backup = secured / (rel + ".bak")
            assert backup.read_bytes() == (original / rel).read_bytes()
            assert (secured / rel).stat().st_mode == (original / rel).stat().st_mode
            assert backup.stat().st_mode == (original / rel).stat().st_mode
    link = secured / f"etc/prosody/conf.d/{DOMAIN}.cfg.lua"
    assert link.is_symlink()
    assert str(link.readlink()) == f"/{PROSODY_FILE}"
    leftovers = [p for p in secured.rglob("*.tmp")]
    assert leftovers == []


def test_second_run_changes_nothing(version):
    _, _, secured, first = version
    assert "changed " in first.stdout
    before = snapshot(secured)
    second = run_tool(secured)
    assert second.returncode == 0, second.stderr
    assert snapshot(secured) == before
    assert "nothing needed changing" in second.stdout
    assert "changed " not in second.stdout.replace("unchanged ", "")


def test_dry_run_writes_nothing_and_shows_the_diff(version, tmp_path):
    name, _, _, _ = version
    root = copy_upstream(upstream_dir(name), tmp_path / "dry")
    before = snapshot(root)
    result = run_tool(root, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert snapshot(root) == before
    assert re.search(r'(?m)^\+\s+authentication = "internal_hashed"', result.stdout)
    assert f'+VirtualHost "{GUEST}"' in result.stdout
    assert f"+        anonymousdomain: '{GUEST}'," in result.stdout
    assert "dry run: nothing written" in result.stdout
