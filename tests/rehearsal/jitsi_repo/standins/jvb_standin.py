#!/usr/bin/env python3
"""Rehearsal stand-in for jitsi-videobridge2: logs in as jvb@auth.DOMAIN and joins the bridges'
room, with its health and graceful-shutdown endpoints.

    jvb_standin.py [--config /etc/jitsi/videobridge/jvb.conf]

It reads `videobridge` in jvb.conf with the hocon tool, as upstream's packaging does, and uses
the first shard of `apis.xmpp-client.configs` (HOSTNAME, PORT, DOMAIN, USERNAME, PASSWORD,
MUC_JIDS, MUC_NICKNAME, DISABLE_CERTIFICATE_VERIFICATION). As jicoco does, a HOSTNAME other than
localhost gets STARTTLS with the certificate verified against the system's trust for DOMAIN;
on localhost the connection is encrypted, not verified. After each login it joins every room
of MUC_JIDS as MUC_NICKNAME, its presence carrying colibri stats (jicofo counts such occupants
as bridges); it answers pings and logs in again, with a bounded backoff, after a refusal or a
Prosody restart. It logs why a login or a join failed.

Its private HTTP server (`http-servers.private`, 127.0.0.1:8080 by default) answers
`GET /about/health` (200), `GET /colibri/stats` (no participants: it forwards no media) and,
with `apis.rest.enabled` and `rest.shutdown.enabled`, `POST /colibri/shutdown`: with
`{"graceful-shutdown": true}` (or false) it leaves its rooms and exits 0 a second later, as
the real bridge does once it is empty. A config it cannot use exits 78 (EX_CONFIG).
"""

import argparse
import dataclasses
import http.server
import json
import sys
import threading
import time
import xml.etree.ElementTree as ET

import xmpp_client as xmpp
from hocon_config import EX_CONFIG, ConfigError, hocon_get

CONFIG = "/etc/jitsi/videobridge/jvb.conf"
SHARDS = "apis.xmpp-client.configs"
MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = f"{MUC_NS}#user"
COLIBRI_NS = "http://jitsi.org/protocol/colibri"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
TRUE_WORDS = ("true", "yes", "on")
# What the real bridge waits after leaving before it exits is a minute; here a second.
EXIT_AFTER = 1.0


@dataclasses.dataclass(frozen=True)
class Bridge:
    account: xmpp.Account
    rooms: tuple[str, ...]  # MUC_JIDS, bare room JIDs
    nickname: str
    http_host: str
    http_port: int
    shutdown_api: bool  # apis.rest.enabled and rest.shutdown.enabled


def _get(tree: object, path: str, default: object = None) -> object:
    """The value at a dotted path of the `videobridge` object (absent: `default`)."""
    for key in path.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return default
        tree = tree[key]
    return tree


def _true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in TRUE_WORDS)


def bridge_from(videobridge: object) -> Bridge:
    """The stand-in's settings from the `videobridge` object of jvb.conf."""
    shards = _get(videobridge, SHARDS)
    if not isinstance(shards, dict) or not shards:
        raise ConfigError(f"videobridge.{SHARDS} has no shard")
    name = sorted(shards)[0]
    shard = shards[name]
    for key in ("DOMAIN", "USERNAME", "PASSWORD"):
        if not isinstance(shard, dict) or not shard.get(key):
            raise ConfigError(f"videobridge.{SHARDS}.{name}.{key} is missing")
    port = shard.get("PORT", 5222)
    if not str(port).isdigit():
        raise ConfigError(f"videobridge.{SHARDS}.{name}.PORT must be a number, not {port!r}")
    host = str(shard.get("HOSTNAME", "localhost"))
    account = xmpp.Account(
        host=host,
        port=int(port),
        domain=str(shard["DOMAIN"]),
        username=str(shard["USERNAME"]),
        password=str(shard["PASSWORD"]),
        # The server's choice: every bridge of a pool logs in as jvb@auth.DOMAIN.
        resource="",
        verify=host not in LOCAL_HOSTS
        and not _true(shard.get("DISABLE_CERTIFICATE_VERIFICATION", False)),
    )
    rooms = tuple(r.strip() for r in str(shard.get("MUC_JIDS", "")).split(",") if r.strip())
    private = _get(videobridge, "http-servers.private", {})
    http_port = private.get("port", 8080) if isinstance(private, dict) else 8080
    if not str(http_port).isdigit():
        raise ConfigError(f"videobridge.http-servers.private.port {http_port!r} is no number")
    return Bridge(
        account=account,
        rooms=rooms,
        nickname=str(shard.get("MUC_NICKNAME", "")) or "jvb",
        http_host=str(private.get("host", "127.0.0.1")) if isinstance(private, dict) else "",
        http_port=int(http_port),
        shutdown_api=_true(_get(videobridge, "apis.rest.enabled", False))
        and _true(_get(videobridge, "rest.shutdown.enabled", False)),
    )


def stats_presence(room: str, nickname: str, kind: str = "") -> str:
    """A join (or, with kind 'unavailable', a leave) of room as nickname, with colibri stats."""
    presence = ET.Element("presence", {"to": f"{room}/{nickname}"})
    if kind:
        presence.set("type", kind)
        return ET.tostring(presence, encoding="unicode")
    ET.SubElement(presence, "x", {"xmlns": MUC_NS})
    stats = ET.SubElement(presence, "stats", {"xmlns": COLIBRI_NS})
    for name, value in (
        ("stress_level", "0.0"),
        ("conferences", "0"),
        ("participants", "0"),
        ("graceful_shutdown", "false"),
    ):
        ET.SubElement(stats, "stat", {"name": name, "value": value})
    return ET.tostring(presence, encoding="unicode")


def handler(bridge: Bridge, log):
    """Stanzas: pings answered, and each room's answer to the join logged."""
    rooms = {room.lower() for room in bridge.rooms}

    def on_stanza(connection: xmpp.Connection, stanza: ET.Element) -> None:
        if stanza.tag != f"{{{xmpp.CLIENT_NS}}}presence":
            xmpp.answer_other_iq(connection, stanza)
            return
        room, _, nick = stanza.get("from", "").partition("/")
        if room.lower() not in rooms:
            return
        if stanza.get("type") == "error":
            error = stanza.find(f"{{{xmpp.CLIENT_NS}}}error")
            children = list(error) if error is not None else []
            condition = next((c.tag.split("}")[-1] for c in children), "?")
            log(f"cannot join {room} as {bridge.nickname}: {condition}")
            return
        codes = {s.get("code") for s in stanza.iter(f"{{{MUC_USER_NS}}}status")}
        if "110" in codes and stanza.get("type") != "unavailable":
            log(f"joined {room} as {nick}")

    return on_stanza


class Stopped(Exception):
    """A shutdown was asked while the bridge waited to log in again."""


class Lifecycle:
    """The graceful shutdown asked over HTTP, seen by the XMPP loop once a second."""

    def __init__(self, bridge: Bridge, log):
        self.bridge, self.log = bridge, log
        self.requested = threading.Event()
        self.left = False

    def joins(self, connection: xmpp.Connection) -> None:
        for room in self.bridge.rooms:
            connection.send(stats_presence(room, self.bridge.nickname))

    def stop(self, connection: xmpp.Connection | None) -> bool:
        if not self.requested.is_set():
            return False
        if not self.left and connection is not None:
            for room in self.bridge.rooms:
                connection.send(stats_presence(room, self.bridge.nickname, "unavailable"))
            self.left = True
            self.log("graceful shutdown: left the bridges' room")
        return True

    def sleep(self, seconds: float) -> None:
        """The wait before the next login, cut short by a shutdown."""
        if self.requested.wait(seconds):
            raise Stopped


def serve_http(bridge: Bridge, lifecycle: Lifecycle) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, status: int, body: dict | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 (http.server's names)
            if self.path == "/about/health":
                self._reply(200)
            elif self.path == "/colibri/stats":
                self._reply(200, {"participants": 0, "conferences": 0, "stress_level": 0.0})
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path != "/colibri/shutdown" or not bridge.shutdown_api:
                self._reply(404, {"error": "not found"})
                return
            try:
                graceful = json.loads(body)["graceful-shutdown"]
            except (ValueError, KeyError, TypeError):
                self._reply(400, {"error": "graceful-shutdown is missing"})
                return
            lifecycle.log(f"shutdown requested (graceful-shutdown: {graceful})")
            lifecycle.requested.set()
            self._reply(200)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((bridge.http_host, bridge.http_port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def log(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=CONFIG)
    args = parser.parse_args(argv)
    try:
        bridge = bridge_from(hocon_get(args.config, "videobridge"))
    except ConfigError as error:
        print(f"jvb stand-in: configuration error: {error}", file=sys.stderr, flush=True)
        return EX_CONFIG
    lifecycle = Lifecycle(bridge, log)
    try:
        server = serve_http(bridge, lifecycle)
    except OSError as error:
        print(f"jvb stand-in: cannot serve {bridge.http_host}:{bridge.http_port}: {error}")
        return 1
    log(f"private HTTP server on {bridge.http_host}:{bridge.http_port}")
    checked = "verified" if bridge.account.verify else "not verified"
    log(f"XMPP {bridge.account.host}:{bridge.account.port}, certificate {checked}")
    try:
        xmpp.run_forever(
            bridge.account,
            handler(bridge, log),
            log,
            sleep=lifecycle.sleep,
            on_login=lifecycle.joins,
            stop=lifecycle.stop,
        )
    except Stopped:
        log("graceful shutdown while not connected")
    time.sleep(EXIT_AFTER)
    server.shutdown()
    log("exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
