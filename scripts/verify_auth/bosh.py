"""XMPP over BOSH (XEP-0124 and XEP-0206), the transport Jitsi's web client uses at /http-bind.

One request at a time: each POST carries our stanzas (or nothing, to poll) and the server answers
with what it has for us, or with an empty body once its `wait` runs out.
"""

import http.client
import secrets
import urllib.parse
import xml.etree.ElementTree as ET

from .net import (
    MAX_RESPONSE_BYTES,
    Deadline,
    Dialer,
    EndpointError,
    HttpConnection,
    SessionTerminated,
    describe,
)
from .xmpp import parse_xml

BOSH_NS = "http://jabber.org/protocol/httpbind"
XBOSH_NS = "urn:xmpp:xbosh"
# The longest the server may hold an empty poll, in seconds; --timeout lowers it, so that a short
# --timeout also means short waits.
BOSH_WAIT = 5


class BoshSession:
    """One BOSH session to one XMPP host; `close()` always ends it on the server too."""

    name = "bosh"

    def __init__(self, url: urllib.parse.SplitResult, dialer: Dialer, domain: str):
        self.url = url
        self.dialer = dialer
        self.domain = domain
        # BOSH's `wait` is whole seconds; at least 1, at most BOSH_WAIT, and never over --timeout.
        self.hold = max(1, min(BOSH_WAIT, int(dialer.timeout)))
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
            conn = HttpConnection(self.dialer, self.url, deadline)
            conn.connect()
            self._conn = conn
        conn = self._conn
        # The server may hold a request for `hold` seconds when it has nothing to say yet;
        # session creation and termination it answers at once.
        limit = self.dialer.timeout + (self.hold if held else 0)
        conn.sock.settimeout(min(limit, deadline.remaining()))
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        try:
            conn.request("POST", self.url.path or "/", data.encode(), headers)
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
        reply = parse_xml(answer)
        if reply.tag != f"{{{BOSH_NS}}}body":
            raise EndpointError(f"the server's answer is not a BOSH <body/> (got <{reply.tag}>)")
        if reply.get("type") == "terminate" and attrs.get("type") != "terminate":
            self.sid = None
            raise SessionTerminated(self.name, reply.get("condition", "no condition given"))
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
            "wait": str(self.hold),
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
        """Sends one stanza (or polls, with "") and returns whatever the server answered."""
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
                deadline = Deadline(self.dialer.timeout)
                self._post({"type": "terminate"}, presence, deadline, held=False)
        except (EndpointError, SessionTerminated):
            pass
        finally:
            self.sid = None
            self._drop()
