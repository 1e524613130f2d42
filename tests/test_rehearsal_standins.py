"""The rehearsal's jicofo stand-in: its room-creation rule on its own functions, and with the
stand-in mod_client_proxy on a real Prosody (0.12 and 13), as the booted machine runs them."""

import os
import shutil
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET

import pytest
from rehearsal.jitsi_repo import build
from support import require

sys.path.insert(0, str(build.STANDINS))  # the stand-ins import each other as siblings
import jicofo_standin as jicofo  # noqa: E402
import xmpp_client as xmpp  # noqa: E402
from hocon_config import EX_CONFIG, ConfigError  # noqa: E402

TEMPLATES_PLUGINS = build.TEMPLATES / "jitsi-meet-prosody/usr/share/jitsi-meet/prosody-plugins"
DOMAIN = "meet.example.org"
LOGIN = xmpp.Account("localhost", 5222, f"auth.{DOMAIN}", "focus", "pw", "focus")


# --- The jicofo stand-in, on its own functions ---


def settings(login_domain: str | None) -> jicofo.Settings:
    return jicofo.Settings(LOGIN, f"focus.{DOMAIN}", login_domain)


def conference(**attrs) -> ET.Element:
    return ET.Element(f"{{{jicofo.FOCUS_NS}}}conference", attrs)


ROOM = f"room1@conference.{DOMAIN}"


@pytest.mark.parametrize(
    ("requester", "attrs", "answer"),
    [
        (f"guest1@guest.{DOMAIN}/web", {"room": ROOM, "machine-uid": "u"}, "not-authorized"),
        (f"alice@{DOMAIN}/web", {"room": ROOM}, "not-acceptable"),
        (f"alice@{DOMAIN}/web", {"room": ROOM, "machine-uid": "u"}, "result"),
        (f"alice@auth.{DOMAIN}/web", {"room": ROOM, "machine-uid": "u"}, "not-authorized"),
        (f"alice@{DOMAIN}/web", {"machine-uid": "u"}, "bad-request"),
    ],
)
def test_xmpp_authentication_lets_only_login_domain_users_create_rooms(requester, attrs, answer):
    assert jicofo.decide(settings(DOMAIN), requester, conference(**attrs)) == answer


def test_without_authentication_everyone_creates_rooms():
    guest = f"guest1@guest.{DOMAIN}/web"
    assert jicofo.decide(settings(None), guest, conference(room=ROOM)) == "result"


def test_the_requester_is_decoded_from_the_client_proxy_address():
    proxied = f"alice\\40{DOMAIN}\\2fweb-1@focus.{DOMAIN}"
    assert jicofo.requester_of(proxied, f"focus.{DOMAIN}") == f"alice@{DOMAIN}/web-1"
    assert jicofo.requester_of(f"bob@{DOMAIN}/x", f"focus.{DOMAIN}") == f"bob@{DOMAIN}/x"
    assert xmpp.unescape_node("a\\20b\\5c\\3a") == "a b\\:"


@pytest.mark.parametrize(
    ("auth", "legacy", "login"),
    [
        ({}, {}, None),
        ({"enabled": False, "type": "XMPP", "login-url": DOMAIN}, {}, None),
        ({"enabled": True, "type": "XMPP", "login-url": DOMAIN}, {}, DOMAIN),
        ({"enabled": "true", "type": "XMPP", "login-url": DOMAIN}, {}, DOMAIN),
        # jicofo's default type is NONE: enabled without a type lets everyone in.
        ({"enabled": True, "login-url": DOMAIN}, {}, None),
        # The "XMPP:" prefix belongs to the legacy property only; in HOCON it is part of the domain.
        ({"enabled": True, "type": "XMPP", "login-url": f"XMPP:{DOMAIN}"}, {}, f"XMPP:{DOMAIN}"),
        # The legacy property is read first and wins.
        ({}, {"org.jitsi.jicofo.auth.URL": "XMPP:legacy.example.org"}, "legacy.example.org"),
    ],
)
def test_login_domain_follows_jicofos_settings(auth, legacy, login):
    assert jicofo.login_domain(auth, legacy) == login


@pytest.mark.parametrize(
    "auth",
    [
        {"enabled": True, "type": "xmpp", "login-url": DOMAIN},  # enum names are case-sensitive
        {"enabled": True, "type": "JWT"},
        {"enabled": True, "type": "XMPP"},
        {"enabled": "maybe"},
    ],
)
def test_settings_the_stand_in_cannot_honour_are_config_errors(auth):
    with pytest.raises(ConfigError):
        jicofo.login_domain(auth, {})


class FakeConnection:
    def __init__(self):
        self.sent: list[ET.Element] = []

    def send(self, xml: str) -> None:
        self.sent.append(ET.fromstring(xml))  # noqa: S314 - the stand-in's own output


def stanza(xml: str) -> ET.Element:
    return ET.fromstring(f"<wrap xmlns='jabber:client'>{xml}</wrap>")[0]  # noqa: S314 - ours


def test_handler_answers_through_the_proxy_and_logs_one_line_per_request():
    lines, connection = [], FakeConnection()
    on_stanza = jicofo.handler(settings(DOMAIN), lines.append)
    guest = f"g\\40guest.{DOMAIN}\\2fw@focus.{DOMAIN}"
    request = f"<conference xmlns='{jicofo.FOCUS_NS}' room='{ROOM}' machine-uid='u'/>"
    on_stanza(connection, stanza(f"<iq type='set' id='a1' from='{guest}'>{request}</iq>"))
    on_stanza(
        connection,
        stanza(f"<iq type='get' id='p1' from='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>"),
    )
    on_stanza(
        connection,
        stanza(f"<iq type='get' id='v1' from='{DOMAIN}'><query xmlns='jabber:iq:version'/></iq>"),
    )
    refused, ping, other = connection.sent
    assert (refused.get("type"), refused.get("to"), refused.get("id")) == ("error", guest, "a1")
    assert refused.find(f".//{{{xmpp.STANZAS_NS}}}not-authorized") is not None
    assert (ping.get("type"), ping.get("id")) == ("result", "p1")
    assert other.find(f".//{{{xmpp.STANZAS_NS}}}service-unavailable") is not None
    assert lines == [f"conference room={ROOM} requester=g@guest.{DOMAIN}/w answer=not-authorized"]


def test_a_result_names_the_room_and_the_focus():
    connection = FakeConnection()
    request = f"<conference xmlns='{jicofo.FOCUS_NS}' room='{ROOM}' machine-uid='u'/>"
    sender = f"alice\\40{DOMAIN}\\2fw@focus.{DOMAIN}"
    iq = f"<iq type='set' id='a2' from='{sender}'>{request}</iq>"
    jicofo.handler(settings(DOMAIN), lambda line: None)(connection, stanza(iq))
    answer = connection.sent[0]
    result = answer.find(f"{{{jicofo.FOCUS_NS}}}conference")
    assert answer.get("type") == "result"
    assert (result.get("room"), result.get("ready"), result.get("focusjid")) == (
        ROOM,
        "true",
        f"focus@auth.{DOMAIN}",
    )


def test_the_fixture_jicofo_conf_reads_as_the_install_leaves_it(tmp_path):
    require(shutil.which("hocon") is not None, "the hocon tool (ruby-hocon) is not installed")
    source = build.EXTRA_FILES["jicofo"]["usr/share/jicofo/jicofo.conf.example"]
    conf = tmp_path / "jicofo.conf"
    conf.write_text(source.read_text().replace("meet.example.com", DOMAIN))
    read = jicofo.settings_from(jicofo.hocon_get(str(conf), "jicofo"), {})
    assert read.account.jid == f"focus@auth.{DOMAIN}"
    assert (read.client_proxy, read.login_domain) == (f"focus.{DOMAIN}", None)


@pytest.mark.parametrize("text", ["jicofo { xmpp { client {", "other { }", "jicofo { }"])
def test_a_config_it_cannot_use_exits_78(tmp_path, text):
    require(shutil.which("hocon") is not None, "the hocon tool (ruby-hocon) is not installed")
    conf = tmp_path / "jicofo.conf"
    conf.write_text(text)
    assert jicofo.main(["--config", str(conf), "--legacy", str(tmp_path / "none")]) == EX_CONFIG


# --- mod_client_proxy and the jicofo stand-in together, on a real Prosody (0.12 and 13) ---

PROXY_SITE = f"""
plugin_paths = {{ "{{plugins}}" }}
VirtualHost "{DOMAIN}"
    authentication = "internal_hashed"
    modules_enabled = {{ "bosh" }} -- as Jitsi's main host (and the harness waits for HTTP)
VirtualHost "other.{DOMAIN}"
    authentication = "internal_hashed"
VirtualHost "auth.{DOMAIN}"
    authentication = "internal_hashed"
Component "focus.{DOMAIN}" "client_proxy"
    target_address = "focus@auth.{DOMAIN}"
"""


@pytest.fixture(params=["prosody-0.12", "prosody-13"])
def proxy_server(request):
    from prosody_server import ProsodyServer, prosody13_root

    root = prosody13_root() if request.param == "prosody-13" else None
    server = ProsodyServer(PROXY_SITE, root=root)
    copy = server.host_dir / "jitsi-plugins"
    shutil.copytree(TEMPLATES_PLUGINS, copy)
    site = server.host_dir / "site.cfg.lua"
    site.write_text(site.read_text().replace("{plugins}", server.inside(copy)))
    # STARTTLS needs a certificate per host, found by name in the harness's certs folder.
    for host in (DOMAIN, f"other.{DOMAIN}", f"auth.{DOMAIN}"):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
            + ["-nodes", "-days", "1", "-subj", f"/CN={host}"]
            + ["-keyout", server.host_dir / f"certs/{host}.key"]
            + ["-out", server.host_dir / f"certs/{host}.crt"],
            capture_output=True,
            check=True,
            timeout=30,
        )
    for path in [copy, *server.host_dir.rglob("*")]:
        os.chown(path, server.uid, server.gid)
    server.start()
    try:
        for user, host in (
            ("focus", f"auth.{DOMAIN}"),
            ("alice", DOMAIN),
            ("bob", f"other.{DOMAIN}"),
        ):
            added = server.prosodyctl("adduser", f"{user}@{host}", stdin="pw-1\npw-1\n")
            assert added.returncode == 0, added.stdout + added.stderr
        yield server
    finally:
        server.stop()


def ask_focus(server, user: str, host: str) -> ET.Element:
    """The answer `user` gets from focus.DOMAIN to a new-room request."""
    client = xmpp.Connection(xmpp.Account("127.0.0.1", server.c2s_port, host, user, "pw-1", "w"))
    client.login()
    try:
        request = f"<conference xmlns='{jicofo.FOCUS_NS}' room='{ROOM}' machine-uid='m1'/>"
        client.send(f"<iq type='set' id='ask1' to='focus.{DOMAIN}'>{request}</iq>")
        while True:  # bounded by the connection's 10 s socket timeout
            answer = client.read()
            if answer.get("id") == "ask1":
                return answer
    finally:
        client.close()


def test_the_focus_proxy_reaches_the_stand_in_and_brings_its_answer_back(proxy_server):
    offline = ask_focus(proxy_server, "alice", DOMAIN)
    assert offline.find(f".//{{{xmpp.STANZAS_NS}}}service-unavailable") is not None
    account = xmpp.Account(
        "127.0.0.1", proxy_server.c2s_port, f"auth.{DOMAIN}", "focus", "pw-1", "f"
    )
    focus, lines = xmpp.Connection(account), []
    focus.login()
    serve = jicofo.handler(settings(DOMAIN), lines.append)
    thread = threading.Thread(
        target=lambda: [serve(focus, s) for s in focus.stanzas()], daemon=True
    )
    thread.start()
    try:
        accepted = ask_focus(proxy_server, "alice", DOMAIN)
        refused = ask_focus(proxy_server, "bob", f"other.{DOMAIN}")
    finally:
        focus.close()
        thread.join(timeout=5)
    assert (accepted.get("type"), accepted.get("from")) == ("result", f"focus.{DOMAIN}")
    assert accepted.get("to", "").startswith(f"alice@{DOMAIN}/")
    assert refused.find(f".//{{{xmpp.STANZAS_NS}}}not-authorized") is not None
    # The stand-in saw the real users behind the proxy's escaped addresses.
    assert [line.split()[2].split("/")[0] for line in lines] == [
        f"requester=alice@{DOMAIN}",
        f"requester=bob@other.{DOMAIN}",
    ]
