"""The XMPP client the rehearsal's stand-in services share (Python standard library only).

It logs in the way jicofo and jitsi-videobridge log in to Prosody on the same machine: c2s on
port 5222, STARTTLS (Prosody requires encryption on auth.DOMAIN), SASL PLAIN, resource binding,
initial presence. Then it hands every stanza to a handler until the server closes the stream,
and `run_forever` logs in again, with a bounded backoff, after Prosody restarts.
"""

import base64
import contextlib
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass

STREAM_NS = "http://etherx.jabber.org/streams"
CLIENT_NS = "jabber:client"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PING_NS = "urn:xmpp:ping"
# Seconds between whitespace keepalives, so a dead connection is noticed.
KEEPALIVE = 60.0
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0


class LoginError(Exception):
    """The server refused the login (for now: the account may not exist yet)."""


@dataclass(frozen=True)
class Account:
    host: str  # where Prosody listens (jicofo's `hostname`, default localhost)
    port: int
    domain: str  # the XMPP domain, auth.DOMAIN
    username: str
    password: str
    resource: str
    # Check the server's certificate against the system's trust, for `domain` (a bridge dialling
    # the signalling node); False: encrypted only (a service on Prosody's own machine).
    verify: bool = False

    @property
    def jid(self) -> str:
        return f"{self.username}@{self.domain}"


def unescape_node(node: str) -> str:
    """XEP-0106: the local part `alice\\40meet.example.com\\2fweb` back to the JID it encodes."""
    codes = {"20": " ", "22": '"', "26": "&", "27": "'", "2f": "/", "3a": ":", "3c": "<"}
    codes |= {"3e": ">", "40": "@", "5c": "\\"}
    out, i = [], 0
    while i < len(node):
        code = node[i + 1 : i + 3].lower()
        if node[i] == "\\" and code in codes:
            out.append(codes[code])
            i += 3
        else:
            out.append(node[i])
            i += 1
    return "".join(out)


class Connection:
    """One logged-in c2s session."""

    def __init__(self, account: Account, timeout: float = 10.0):
        self.account = account
        self.timeout = timeout
        self.sock: socket.socket | ssl.SSLSocket | None = None
        self.parser: ET.XMLPullParser | None = None
        self.root: ET.Element | None = None  # <stream:stream>
        self.depth = 0

    def login(self) -> str:
        """Connects and logs in; returns the bound full JID."""
        self.sock = socket.create_connection((self.account.host, self.account.port), self.timeout)
        features = self._open_stream()
        if features.find(f"{{{TLS_NS}}}starttls") is None:
            raise LoginError("the server offers no STARTTLS")
        self.send(f"<starttls xmlns='{TLS_NS}'/>")
        if not self.read().tag.endswith("proceed"):
            raise LoginError("the server refused STARTTLS")
        context = ssl.create_default_context()
        if not self.account.verify:
            # Loopback to this machine's own Prosody, whose certificate is self-signed:
            # encrypted, not verified (real jicofo trusts the auth domain's certificate instead).
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        # Verified: the system's trust (update-ca-certificates), the name the XMPP domain; a
        # failed check raises ssl.SSLCertVerificationError, an OSError, and no login is sent.
        self.sock = context.wrap_socket(self.sock, server_hostname=self.account.domain)
        features = self._open_stream()
        mechanisms = [m.text for m in features.iter(f"{{{SASL_NS}}}mechanism")]
        if "PLAIN" not in mechanisms:
            raise LoginError(f"the server offers no SASL PLAIN (only {mechanisms})")
        plain = f"\0{self.account.username}\0{self.account.password}".encode()
        self.send(
            f"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{base64.b64encode(plain).decode()}</auth>"
        )
        answer = self.read()
        if not answer.tag.endswith("success"):
            reason = next((child.tag.split("}")[-1] for child in answer), "no reason")
            raise LoginError(f"{self.account.jid} was refused: {reason}")
        self._open_stream()
        # No resource asked: the server picks one (several bridges share one account, and a
        # second session asking for the same resource would replace the first).
        resource = ET.Element("resource")
        resource.text = self.account.resource
        asked = ET.tostring(resource, encoding="unicode") if self.account.resource else ""
        self.send(f"<iq type='set' id='bind1'><bind xmlns='{BIND_NS}'>{asked}</bind></iq>")
        bound = self.read().find(f".//{{{BIND_NS}}}jid")
        if bound is None:
            raise LoginError("resource binding failed")
        self.send("<presence/>")
        return bound.text or ""

    def send(self, xml: str) -> None:
        self.sock.sendall(xml.encode())

    def stanzas(self, stop: Callable[[], bool] = lambda: False) -> Iterator[ET.Element]:
        """Every stanza until the server ends the stream or `stop()` (asked every second) is
        true (then returns)."""
        self.sock.settimeout(1.0)
        quiet_since = time.monotonic()
        while not stop():
            try:
                yield self.read()
                quiet_since = time.monotonic()
            except TimeoutError:
                if time.monotonic() - quiet_since > KEEPALIVE:
                    self.send(" ")
                    quiet_since = time.monotonic()
            except (ConnectionError, OSError, ET.ParseError):
                return

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.send("</stream:stream>")
            self.sock.close()
            self.sock = None

    def _open_stream(self) -> ET.Element:
        """Opens a new stream (at the start, after STARTTLS and after SASL); returns features."""
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.send(
            f"<?xml version='1.0'?><stream:stream xmlns='{CLIENT_NS}' xmlns:stream='{STREAM_NS}'"
            f" to='{self.account.domain}' version='1.0'>"
        )
        features = self.read()
        if not features.tag.endswith("features"):
            raise LoginError(f"expected stream features, got {features.tag}")
        return features

    def read(self) -> ET.Element:
        """The next complete child of <stream:stream> (blocking, bounded by the socket timeout)."""
        while True:
            for event, element in self.parser.read_events():
                self.depth += 1 if event == "start" else -1
                if event == "start" and self.depth == 1:
                    self.root = element
                if event == "end" and self.depth == 1:
                    if element.tag == f"{{{STREAM_NS}}}error":
                        condition = next((c.tag.split("}")[-1] for c in element), "unknown")
                        raise ConnectionError(f"stream error: {condition}")
                    self.root.remove(element)  # a long session must not keep every stanza
                    return element
                if event == "end" and self.depth == 0:
                    raise ConnectionError("the server closed the stream")
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.parser.feed(data)


def iq_reply(stanza: ET.Element, child: ET.Element | None = None, error: str = "") -> str:
    """A result (or, with `error`, an error of that condition) answering the IQ `stanza`."""
    iq = ET.Element("iq", {"type": "error" if error else "result"})
    iq.set("to", stanza.get("from", ""))
    iq.set("id", stanza.get("id", ""))
    if child is not None:
        iq.append(child)
    if error:
        ET.SubElement(ET.SubElement(iq, "error", {"type": "cancel"}), error, {"xmlns": STANZAS_NS})
    return ET.tostring(iq, encoding="unicode")


def answer_other_iq(connection: Connection, stanza: ET.Element) -> None:
    """What every client owes the server: pings answered, other requests refused."""
    if stanza.tag != f"{{{CLIENT_NS}}}iq" or stanza.get("type") not in ("get", "set"):
        return
    if stanza.find(f"{{{PING_NS}}}ping") is not None:
        connection.send(iq_reply(stanza))
    else:
        connection.send(iq_reply(stanza, error="service-unavailable"))


def run_forever(
    account: Account,
    handle: Callable[[Connection, ET.Element], None],
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    on_login: Callable[[Connection], None] = lambda connection: None,
    stop: Callable[[Connection], bool] | None = None,
) -> None:
    """Logs in, serves stanzas, and logs in again whenever the connection ends.

    The wait between attempts doubles from BACKOFF_FIRST up to BACKOFF_MAX seconds and starts
    over after a successful login, so a Prosody restart costs a second or two. `on_login` runs
    after each login (joins, say); `stop(connection)`, asked every second while connected,
    ends it all when true (it may send its goodbyes first).
    """
    delay = BACKOFF_FIRST
    while True:
        connection = Connection(account)
        try:
            log(f"logged in as {connection.login()}")
            delay = BACKOFF_FIRST
            on_login(connection)
            for stanza in connection.stanzas(lambda c=connection: stop is not None and stop(c)):
                handle(connection, stanza)
            if stop is not None and stop(connection):
                return
            log("the server closed the connection")
        except (LoginError, ConnectionError, OSError, ET.ParseError) as error:
            log(f"cannot log in as {account.jid} at {account.host}:{account.port}: {error}")
        finally:
            connection.close()
        sleep(delay)
        delay = min(delay * 2, BACKOFF_MAX)
