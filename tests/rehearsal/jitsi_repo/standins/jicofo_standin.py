#!/usr/bin/env python3
"""Rehearsal stand-in for jicofo: the room-creation gate, logged in as focus@auth.DOMAIN.

    jicofo_standin.py [--config /etc/jitsi/jicofo/jicofo.conf]

It reads jicofo.conf once at start (with the hocon tool, as Jitsi's packaging does), logs in to
Prosody as an ordinary client, and answers the web client's `conference` request, which reaches
it through focus.DOMAIN (mod_client_proxy) from escape(user)@focus.DOMAIN. The rule is jicofo's
with XMPP authentication, as tests/focus_component.py states it: a requester outside the
login-url domain gets not-authorized for a new room; one inside must send a machine-uid (else
not-acceptable) and gets a result. With authentication off (the install's default) everyone
gets a result. Every room counts as new. One log line per answered request, on stdout (the
journal). A config it cannot use exits 78 (EX_CONFIG).

After each login it joins the bridges' room (`jicofo.bridge.brewery-jid`) as `focus`, and
counts its occupants whose presence carries colibri stats: those are bridges (one per
nickname, as the room has one occupant per nickname). `GET /stats` on 127.0.0.1:8888 (jicofo's
REST API) answers `{"bridge_selector": {"bridge_count": N, "operational_bridge_count": N}}`.
"""

import argparse
import http.server
import json
import sys
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import xmpp_client as xmpp
from hocon_config import EX_CONFIG, ConfigError, hocon_get

FOCUS_NS = "http://jitsi.org/protocol/focus"
MUC_NS = "http://jabber.org/protocol/muc"
COLIBRI_NS = "http://jitsi.org/protocol/colibri"
# jicofo's REST API, where its /stats is read (jicofo.rest: port 8888).
REST_HOST, REST_PORT = "127.0.0.1", 8888
BREWERY_NICKNAME = "focus"
CONFIG = "/etc/jitsi/jicofo/jicofo.conf"
# Jicofo reads this legacy property before jicofo.conf, so a stale line there wins.
LEGACY = "/etc/jitsi/jicofo/sip-communicator.properties"
LEGACY_AUTH_URL = "org.jitsi.jicofo.auth.URL"
AUTH_TYPES = ("NONE", "XMPP", "JWT", "SHIBBOLETH")  # jicofo's enum: the names, case and all
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "on"), ("false", "no", "off")  # HOCON booleans


@dataclass(frozen=True)
class Settings:
    account: xmpp.Account
    client_proxy: str  # focus.DOMAIN: requests come from escape(user)@client_proxy
    login_domain: str | None  # None: no authentication, everyone may create rooms
    brewery: str = ""  # the bridges' room, jicofo.bridge.brewery-jid ("" : none)


def read_legacy(path: str) -> dict[str, str]:
    """The key=value lines of sip-communicator.properties; {} when there is no such file."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _boolean(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in TRUE_WORDS + FALSE_WORDS:
        return value.lower() in TRUE_WORDS
    raise ConfigError(f"{key} must be a boolean, not {value!r}")


def login_domain(auth: dict, legacy: dict[str, str]) -> str | None:
    """The domain whose users may create rooms, or None when authentication is off."""
    url = legacy.get(LEGACY_AUTH_URL)
    if url is not None:
        if not url.startswith("XMPP:"):
            raise ConfigError(f"{LEGACY_AUTH_URL}={url}: only XMPP: is modelled")
        return url.removeprefix("XMPP:")
    if not _boolean(auth.get("enabled", False), "jicofo.authentication.enabled"):
        return None
    kind = auth.get("type", "NONE")
    if kind not in AUTH_TYPES:
        raise ConfigError(f"jicofo.authentication.type {kind!r} is not one of {AUTH_TYPES}")
    if kind == "NONE":
        return None  # enabled, but no authority: jicofo lets everyone in
    if kind != "XMPP":
        raise ConfigError(f"jicofo.authentication.type {kind} is not modelled by the stand-in")
    if not auth.get("login-url"):
        raise ConfigError("jicofo.authentication.login-url is required with type XMPP")
    return str(auth["login-url"])


def settings_from(jicofo: dict, legacy: dict[str, str]) -> Settings:
    """Settings from the `jicofo` object of jicofo.conf and the legacy properties."""
    client = jicofo.get("xmpp", {}).get("client", {})
    for key in ("domain", "username", "password"):
        if not client.get(key):
            raise ConfigError(f"jicofo.xmpp.client.{key} is missing")
    port = client.get("port", 5222)
    if not str(port).isdigit():
        raise ConfigError(f"jicofo.xmpp.client.port must be a number, not {port!r}")
    account = xmpp.Account(
        host=str(client.get("hostname", "localhost")),
        port=int(port),
        domain=str(client["domain"]),
        username=str(client["username"]),
        password=str(client["password"]),
        resource="focus",
    )
    auth = jicofo.get("authentication", {})
    brewery = jicofo.get("bridge", {}).get("brewery-jid", "")
    return Settings(
        account,
        str(client.get("client-proxy", "")),
        login_domain(auth, legacy),
        str(brewery),
    )


def requester_of(sender: str, client_proxy: str) -> str:
    """The user behind a request: decoded from escape(user)@focus.DOMAIN when proxied."""
    node, at, rest = sender.partition("/")[0].partition("@")
    if at and client_proxy and rest == client_proxy:
        return xmpp.unescape_node(node)
    return sender


def domain_of(jid: str) -> str:
    return jid.partition("/")[0].rpartition("@")[2]


def decide(settings: Settings, requester: str, conference: ET.Element) -> str:
    """'result' or the error condition for one conference request."""
    if conference.get("room") is None:
        return "bad-request"
    if settings.login_domain is None:
        return "result"
    if domain_of(requester) != settings.login_domain:
        return "not-authorized"
    if not conference.get("machine-uid"):
        return "not-acceptable"
    return "result"


def conference_reply(settings: Settings, stanza: ET.Element, answer: str) -> str:
    conference = ET.Element("conference", {"xmlns": FOCUS_NS})
    conference.set("room", stanza.find(f"{{{FOCUS_NS}}}conference").get("room", ""))
    if answer != "result":
        return xmpp.iq_reply(stanza, conference, error=answer)
    conference.set("ready", "true")
    conference.set("focusjid", settings.account.jid)
    enabled = "false" if settings.login_domain is None else "true"
    ET.SubElement(conference, "property", {"name": "authentication", "value": enabled})
    return xmpp.iq_reply(stanza, conference)


class Brewery:
    """The bridges in the bridges' room: occupants (nicknames) whose presence has colibri stats.
    The XMPP loop writes it, the REST thread reads it."""

    def __init__(self, room: str):
        self.room = room.lower()
        self.bridges: set[str] = set()
        self.lock = threading.Lock()

    def join(self, connection: xmpp.Connection) -> None:
        with self.lock:
            self.bridges.clear()  # a new session: the room tells every occupant again
        if self.room:
            presence = ET.Element("presence", {"to": f"{self.room}/{BREWERY_NICKNAME}"})
            ET.SubElement(presence, "x", {"xmlns": MUC_NS})
            connection.send(ET.tostring(presence, encoding="unicode"))

    def presence(self, stanza: ET.Element, log) -> bool:
        """Takes a presence from the room into account; False when it is not the room's."""
        room, _, nick = stanza.get("from", "").partition("/")
        if not self.room or room.lower() != self.room or not nick:
            return False
        if stanza.get("type") == "error":
            log(f"cannot join the bridges' room {self.room}")
            return True
        bridge = stanza.get("type") != "unavailable" and (
            stanza.find(f"{{{COLIBRI_NS}}}stats") is not None
        )
        with self.lock:
            known = nick in self.bridges
            if bridge and not known:
                self.bridges.add(nick)
                log(f"bridge {nick} joined ({len(self.bridges)} bridges)")
            elif not bridge and known:
                self.bridges.discard(nick)
                log(f"bridge {nick} left ({len(self.bridges)} bridges)")
        return True

    def stats(self) -> dict:
        with self.lock:
            count = len(self.bridges)
        return {"bridge_selector": {"bridge_count": count, "operational_bridge_count": count}}


def serve_stats(
    brewery: Brewery, host: str = REST_HOST, port: int = REST_PORT
) -> http.server.ThreadingHTTPServer:
    """jicofo's REST API's /stats, in a thread of its own."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's names)
            found = self.path == "/stats"
            body = json.dumps(brewery.stats() if found else {"error": "not found"}).encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def handler(settings: Settings, log, brewery: Brewery | None = None):
    def on_stanza(connection: xmpp.Connection, stanza: ET.Element) -> None:
        if stanza.tag == f"{{{xmpp.CLIENT_NS}}}presence":
            if brewery is not None:
                brewery.presence(stanza, log)
            return
        conference = stanza.find(f"{{{FOCUS_NS}}}conference")
        is_set = stanza.tag == f"{{{xmpp.CLIENT_NS}}}iq" and stanza.get("type") == "set"
        if not is_set or conference is None:
            xmpp.answer_other_iq(connection, stanza)
            return
        requester = requester_of(stanza.get("from", ""), settings.client_proxy)
        answer = decide(settings, requester, conference)
        connection.send(conference_reply(settings, stanza, answer))
        log(f"conference room={conference.get('room')} requester={requester} answer={answer}")

    return on_stanza


def log(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=CONFIG)
    parser.add_argument("--legacy", default=LEGACY)
    args = parser.parse_args(argv)
    try:
        jicofo = hocon_get(args.config, "jicofo")
        if not isinstance(jicofo, dict):
            raise ConfigError(f"{args.config}: jicofo is not an object")
        settings = settings_from(jicofo, read_legacy(args.legacy))
    except ConfigError as error:
        print(f"jicofo stand-in: configuration error: {error}", file=sys.stderr, flush=True)
        return EX_CONFIG
    if settings.login_domain is None:
        log("authentication off: everyone may create rooms")
    else:
        log(f"authentication XMPP: only users of {settings.login_domain} may create rooms")
    brewery = Brewery(settings.brewery)
    try:
        serve_stats(brewery)
    except OSError as error:
        print(f"jicofo stand-in: cannot serve {REST_HOST}:{REST_PORT}: {error}", flush=True)
        return 1
    xmpp.run_forever(settings.account, handler(settings, log, brewery), log, on_login=brewery.join)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
