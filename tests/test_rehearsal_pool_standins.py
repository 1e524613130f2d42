"""The rehearsal's bridge-pool behaviour of the stand-ins, on their own functions: the jvb
stand-in's settings from a boot script's jvb.conf and from the package's, its presence and its
HTTP endpoints; the jicofo stand-in's count of the bridges' room and its /stats. The booted
machines' proof is tests/test_rehearsal_pool.py."""

import json
import shutil
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from rehearsal.jitsi_repo import build
from support import SCRIPTS, require

sys.path.insert(0, str(build.STANDINS))  # the stand-ins import each other as siblings
sys.path.insert(0, str(SCRIPTS / "bridge"))
import boot  # noqa: E402
import jicofo_standin as jicofo  # noqa: E402
import jvb_standin as jvb  # noqa: E402
import xmpp_client as xmpp  # noqa: E402
from hocon_config import ConfigError, hocon_get  # noqa: E402

DOMAIN = "meet.example.org"
ROOM = f"jvbbrewery@internal.auth.{DOMAIN}"
META = {
    "jitsi-domain": DOMAIN,
    "jitsi-signalling-address": "10.128.0.2",
    "internal": "10.128.0.7",
    "external": "34.118.20.9",
    "nickname": "jitsi-bridges-x7k2-6f1c0a52",
}
PACKAGE_CONF = """videobridge {
    apis.xmpp-client.configs {
        shard {
            HOSTNAME=localhost
            DOMAIN="auth.meet.example.org"
            USERNAME=jvb
            PASSWORD="Ab3dEf7h"
            MUC_JIDS="jvbbrewery@internal.auth.meet.example.org"
            MUC_NICKNAME=5c6e4f1a-93be-4c1e-8f0e-0d1e2f3a4b5c
        }
    }
}
"""


def _read(tmp_path, text: str) -> jvb.Bridge:
    require(shutil.which("hocon") is not None, "the hocon tool (ruby-hocon) is not installed")
    conf = tmp_path / "jvb.conf"
    conf.write_text(text)
    return jvb.bridge_from(hocon_get(str(conf), "videobridge"))


def test_a_pooled_bridge_reads_the_boot_scripts_jvb_conf(tmp_path):
    bridge = _read(tmp_path, boot.jvb_conf(META, "p" * 40))
    assert bridge.account == xmpp.Account(
        "10.128.0.2", 5222, f"auth.{DOMAIN}", "jvb", "p" * 40, "", verify=True
    )
    assert bridge.rooms == (f"JvbBrewery@internal.auth.{DOMAIN}",)
    assert bridge.nickname == META["nickname"]
    # Bound for Google's health checks, and the graceful shutdown on.
    assert (bridge.http_host, bridge.http_port, bridge.shutdown_api) == ("0.0.0.0", 8080, True)  # noqa: S104


def test_the_packages_own_jvb_conf_stays_local_and_unverified(tmp_path):
    bridge = _read(tmp_path, PACKAGE_CONF)
    assert (bridge.account.host, bridge.account.verify) == ("localhost", False)
    assert bridge.nickname == "5c6e4f1a-93be-4c1e-8f0e-0d1e2f3a4b5c"
    # Upstream's defaults: the private server on loopback, no REST API.
    assert (bridge.http_host, bridge.http_port, bridge.shutdown_api) == ("127.0.0.1", 8080, False)


def test_verification_is_off_only_when_the_config_says_so(tmp_path):
    text = boot.jvb_conf(META, "p" * 40).replace(
        '"MUC_NICKNAME"', '"DISABLE_CERTIFICATE_VERIFICATION": true, "MUC_NICKNAME"'
    )
    assert _read(tmp_path, text).account.verify is False


@pytest.mark.parametrize(
    "videobridge",
    [
        {},
        {"apis": {"xmpp-client": {"configs": {"a": {"DOMAIN": "auth.x.org"}}}}},
        {"apis": {"xmpp-client": {"configs": {"a": {"DOMAIN": "d", "USERNAME": "u",
                                                    "PASSWORD": "p", "PORT": "x"}}}}},
    ],
)  # fmt: skip
def test_a_jvb_conf_without_a_usable_account_is_a_config_error(videobridge):
    with pytest.raises(ConfigError):
        jvb.bridge_from(videobridge)


def test_the_join_carries_colibri_stats_and_the_leave_is_unavailable():
    join = ET.fromstring(jvb.stats_presence(ROOM, "nick-1"))  # noqa: S314 - ours
    assert join.get("to") == f"{ROOM}/nick-1" and join.get("type") is None
    assert join.find(f"{{{jvb.MUC_NS}}}x") is not None
    stats = join.find(f"{{{jvb.COLIBRI_NS}}}stats")
    assert {s.get("name") for s in stats} >= {"stress_level", "graceful_shutdown"}
    leave = ET.fromstring(jvb.stats_presence(ROOM, "nick-1", "unavailable"))  # noqa: S314
    assert leave.get("type") == "unavailable" and len(leave) == 0


def _presence(sender: str, stats=True, kind: str = "") -> ET.Element:
    presence = ET.Element(f"{{{xmpp.CLIENT_NS}}}presence", {"from": sender})
    if kind:
        presence.set("type", kind)
    if stats:
        ET.SubElement(presence, f"{{{jicofo.COLIBRI_NS}}}stats")
    return presence


def test_jicofo_counts_occupants_with_stats_one_per_nickname():
    brewery, lines = jicofo.Brewery(f"JvbBrewery@internal.auth.{DOMAIN}"), []
    assert brewery.presence(_presence(f"{ROOM}/a"), lines.append)
    brewery.presence(_presence(f"{ROOM}/b"), lines.append)
    # The same nickname again (a second session of one occupant): still one bridge.
    brewery.presence(_presence(f"{ROOM}/a"), lines.append)
    # Jicofo itself and other occupants without stats are no bridges.
    brewery.presence(_presence(f"{ROOM}/focus", stats=False), lines.append)
    assert not brewery.presence(_presence(f"other@internal.auth.{DOMAIN}/c"), lines.append)
    assert brewery.stats() == {
        "bridge_selector": {"bridge_count": 2, "operational_bridge_count": 2}
    }
    brewery.presence(_presence(f"{ROOM}/b", stats=False, kind="unavailable"), lines.append)
    assert brewery.stats()["bridge_selector"]["operational_bridge_count"] == 1
    assert lines == [
        "bridge a joined (1 bridges)",
        "bridge b joined (2 bridges)",
        "bridge b left (1 bridges)",
    ]


def test_jicofo_settings_name_the_brewery(tmp_path):
    require(shutil.which("hocon") is not None, "the hocon tool (ruby-hocon) is not installed")
    source = build.EXTRA_FILES["jicofo"]["usr/share/jicofo/jicofo.conf.example"]
    conf = tmp_path / "jicofo.conf"
    conf.write_text(source.read_text().replace("meet.example.com", DOMAIN))
    read = jicofo.settings_from(jicofo.hocon_get(str(conf), "jicofo"), {})
    assert read.brewery == f"JvbBrewery@internal.auth.{DOMAIN}"


def _get(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body)  # noqa: S310 - loopback test server
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_jicofos_stats_over_http():
    brewery = jicofo.Brewery(ROOM)
    brewery.presence(_presence(f"{ROOM}/a"), lambda line: None)
    server = jicofo.serve_stats(brewery, "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        status, body = _get(f"{base}/stats")
        assert status == 200
        assert json.loads(body)["bridge_selector"]["operational_bridge_count"] == 1
        assert _get(f"{base}/other")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("api", [True, False])
def test_the_bridges_health_and_graceful_shutdown_endpoints(api):
    account = xmpp.Account("10.0.0.1", 5222, f"auth.{DOMAIN}", "jvb", "p", "jvb", True)
    bridge = jvb.Bridge(account, (ROOM,), "nick", "127.0.0.1", 0, api)
    lifecycle = jvb.Lifecycle(bridge, lambda line: None)
    server = jvb.serve_http(bridge, lifecycle)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert _get(f"{base}/about/health")[0] == 200
        assert json.loads(_get(f"{base}/colibri/stats")[1])["participants"] == 0
        status, _ = _get(f"{base}/colibri/shutdown", b'{"graceful-shutdown": true}')
        # Without the REST API and its shutdown both enabled, there is no such endpoint.
        assert status == (200 if api else 404)
        assert lifecycle.requested.is_set() is api
    finally:
        server.shutdown()
        server.server_close()


class _Sent:
    def __init__(self):
        self.sent: list[str] = []

    def send(self, xml: str) -> None:
        self.sent.append(xml)


def test_after_a_shutdown_request_the_bridge_leaves_once_and_stops():
    account = xmpp.Account("10.0.0.1", 5222, f"auth.{DOMAIN}", "jvb", "p", "jvb", True)
    lifecycle = jvb.Lifecycle(jvb.Bridge(account, (ROOM,), "n", "", 0, True), lambda line: None)
    connection = _Sent()
    assert lifecycle.stop(connection) is False and connection.sent == []
    lifecycle.requested.set()
    assert lifecycle.stop(connection) and lifecycle.stop(connection)
    assert len(connection.sent) == 1 and "unavailable" in connection.sent[0]
    with pytest.raises(jvb.Stopped):
        lifecycle.sleep(5)
