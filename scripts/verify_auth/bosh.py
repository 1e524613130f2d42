"""XMPP over BOSH (XEP-0124 and XEP-0206), the transport Jitsi's web client uses at /http-bind.

One request at a time: each POST carries our stanzas (or nothing, to poll) and the server answers
with what it has for us, or with an empty body once its `wait` runs out. Every network step is
bounded by a Deadline, so a dead or silent endpoint costs seconds, never a hang.
"""

import http.client
import secrets
import ssl
import time
import urllib.parse
import xml.etree.ElementTree as ET

BOSH_NS = "http://jabber.org/protocol/httpbind"
XBOSH_NS = "urn:xmpp:xbosh"
# How long the server may hold a poll before answering empty; kept short so waits stay bounded.
BOSH_WAIT = 5
MAX_RESPONSE_BYTES = 1_000_000


class EndpointError(Exception):
    """The BOSH endpoint cannot be used at all: unreachable, not BOSH, or too slow."""


class SessionTerminated(Exception):
    """The server ended the BOSH session; `condition` says why (XEP-0124 section 17)."""

    def __init__(self, condition: str):
        super().__init__(f"the server ended the BOSH session ({condition})")
        self.condition = condition


class Deadline:
    """A budget of seconds for one operation, never past its parent's (the whole run's)."""

    def __init__(self, seconds: float, parent: "Deadline | None" = None):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.parent = parent

    def left(self) -> float:
        own = self.end - time.monotonic()
        return own if self.parent is None else min(own, self.parent.left())

    def remaining(self) -> float:
        """Seconds left; raises once the budget (or the parent's) is spent."""
        left = self.left()
        if left <= 0:
            limit = self.seconds if self.parent is None else min(self.seconds, self.parent.seconds)
            raise EndpointError(f"no answer within {limit:g} s")
        return left


class Endpoint:
    """Where and how to reach the BOSH service: URL, TLS policy, per-step time limit."""

    def __init__(self, url: str, tls: ssl.SSLContext | None, timeout: float):
        self.url = urllib.parse.urlsplit(url)
        self.tls = tls
        self.timeout = timeout

    @property
    def secure(self) -> bool:
        """True only for https with a verified certificate (the only place PLAIN may go)."""
        return self.tls is not None and self.tls.verify_mode == ssl.CERT_REQUIRED

    def connect(self, deadline: Deadline) -> http.client.HTTPConnection:
        host, port = self.url.hostname or "", self.url.port
        limit = min(self.timeout, deadline.remaining())
        if self.url.scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=limit, context=self.tls)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=limit)
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as error:
            conn.close()
            raise EndpointError(f"cannot connect ({describe(error)})") from None
        return conn

    def get(self, path: str, deadline: Deadline) -> tuple[int, bytes]:
        """A bounded GET on the same origin as the BOSH URL: (HTTP status, body)."""
        conn = self.connect(deadline)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read(MAX_RESPONSE_BYTES * 2 + 1)
        except (OSError, http.client.HTTPException) as error:
            raise EndpointError(f"GET {path}: {describe(error)}") from None
        finally:
            conn.close()


def describe(error: BaseException) -> str:
    """A short reason for a network error, without Python's class names where they add nothing."""
    if isinstance(error, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
        return "timed out"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({error.verify_message}); see --ca-file / --insecure"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text


def parse_body(data: bytes) -> ET.Element:
    # XMPP forbids DTDs (RFC 6120 section 11.1); refusing them also rules out entity expansion.
    if b"<!" in data:
        raise EndpointError("the server's answer contains a DTD or comment, which XMPP forbids")
    try:
        body = ET.fromstring(data)  # noqa: S314 - DTDs are refused above
    except ET.ParseError as error:
        raise EndpointError(f"the server's answer is not XML ({error})") from None
    if body.tag != f"{{{BOSH_NS}}}body":
        raise EndpointError(f"the server's answer is not a BOSH <body/> (got <{body.tag}>)")
    return body


class BoshSession:
    """One BOSH session to one XMPP host; `close()` always ends it on the server too."""

    def __init__(self, endpoint: Endpoint, domain: str):
        self.endpoint = endpoint
        self.domain = domain
        self.rid = secrets.randbelow(2**40) + 1
        self.sid: str | None = None
        self._conn: http.client.HTTPConnection | None = None

    def _post(
        self, attrs: dict[str, str], payload: str, deadline: Deadline, held: bool = True
    ) -> ET.Element:
        body = ET.Element("body", {"xmlns": BOSH_NS, "rid": str(self.rid), **attrs})
        if self.sid:
            body.set("sid", self.sid)
        self.rid += 1
        data = ET.tostring(body, encoding="unicode")
        if payload:
            data = data[: -len(" />")] + ">" + payload + "</body>"
        if self._conn is None:
            self._conn = self.endpoint.connect(deadline)
        conn = self._conn
        # The server may hold a request for BOSH_WAIT seconds when it has nothing to say yet;
        # session creation and termination it answers at once.
        limit = self.endpoint.timeout + (BOSH_WAIT if held else 0)
        conn.sock.settimeout(min(limit, deadline.remaining()))
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        try:
            conn.request("POST", self.endpoint.url.path or "/", data.encode(), headers)
            response = conn.getresponse()
            answer = response.read(MAX_RESPONSE_BYTES + 1)
        except (OSError, http.client.HTTPException) as error:
            self._drop()
            raise EndpointError(f"no usable answer ({describe(error)})") from None
        if response.will_close:
            self._drop()
        if response.status != 200:
            raise EndpointError(
                f"it answered HTTP {response.status} {response.reason}"
                " (is this the BOSH endpoint? Jitsi serves it at /http-bind)"
            )
        if len(answer) > MAX_RESPONSE_BYTES:
            raise EndpointError("the server's answer is larger than 1 MB")
        reply = parse_body(answer)
        if reply.get("type") == "terminate" and attrs.get("type") != "terminate":
            self.sid = None
            raise SessionTerminated(reply.get("condition", "no condition given"))
        return reply

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def open(self, deadline: Deadline) -> list[ET.Element]:
        """Creates the session; returns the children of the first answer (often the features)."""
        attrs = {
            "to": self.domain,
            "content": "text/xml; charset=utf-8",
            "hold": "1",
            "wait": str(BOSH_WAIT),
            "ver": "1.6",
            "xml:lang": "en",
            "xmpp:version": "1.0",
            "xmlns:xmpp": XBOSH_NS,
        }
        reply = self._post(attrs, "", deadline, held=False)
        self.sid = reply.get("sid")
        if not self.sid:
            raise EndpointError("the server's session answer has no sid (not a BOSH service?)")
        return list(reply)

    def send(self, payload: str, deadline: Deadline) -> list[ET.Element]:
        """Sends stanzas (or polls, with "") and returns whatever the server answered."""
        return list(self._post({}, payload, deadline))

    def restart(self, deadline: Deadline) -> list[ET.Element]:
        """The XEP-0206 stream restart after SASL success."""
        attrs = {"to": self.domain, "xml:lang": "en", "xmpp:restart": "true"}
        attrs["xmlns:xmpp"] = XBOSH_NS
        return list(self._post(attrs, "", deadline))

    def close(self) -> None:
        """Ends the session on the server (type='terminate'); best effort, bounded, never raises."""
        try:
            if self.sid:
                presence = "<presence xmlns='jabber:client' type='unavailable'/>"
                deadline = Deadline(self.endpoint.timeout)
                self._post({"type": "terminate"}, presence, deadline, held=False)
        except (EndpointError, SessionTerminated):
            pass
        finally:
            self.sid = None
            self._drop()
