"""XMPP over WebSocket (RFC 7395), the transport Jitsi's web client uses at /xmpp-websocket.

The subprotocol is `xmpp`; every WebSocket message is one whole element. `<open/>` and `<close/>`
(framing namespace) start and end a stream, a stream restart after SASL is a new `<open/>`, and
everything else is a stanza or a stream-level element, each with its namespaces declared.
"""

import urllib.parse
import xml.etree.ElementTree as ET

from .net import Deadline, Dialer, EndpointError, SessionTerminated
from .websocket import Closed, WebSocket
from .websocket_upgrade import UpgradeRefused
from .xmpp import STREAM_NS, ProtocolError, local_name, parse_xml

FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"
# The longest one empty poll waits for the server: our own read, so it ends on time.
POLL = 1.0


class WebSocketSession:
    """One XMPP stream over its own WebSocket; `close()` always ends both."""

    name = "websocket"

    def __init__(self, url: urllib.parse.SplitResult, dialer: Dialer, domain: str):
        self.url = url
        self.dialer = dialer
        self.domain = domain
        self.hold = min(POLL, dialer.timeout)
        self._ws: WebSocket | None = None
        self._stream_open = False

    def open(self, deadline: Deadline) -> list[ET.Element]:
        try:
            self._ws = WebSocket.connect(self.dialer, self.url, "xmpp", deadline)
        except UpgradeRefused as error:
            hint = "is this the XMPP WebSocket endpoint? Jitsi serves it at /xmpp-websocket"
            raise EndpointError(f"{error} ({hint})") from None
        return self._start_stream(deadline)

    def restart(self, deadline: Deadline) -> list[ET.Element]:
        """RFC 7395 section 3.5: after SASL success the client opens the stream anew."""
        return self._start_stream(deadline)

    def _start_stream(self, deadline: Deadline) -> list[ET.Element]:
        assert self._ws is not None
        self._ws.send_text(f"<open xmlns='{FRAMING_NS}' to='{self.domain}' version='1.0'/>")
        while (answer := self._receive(deadline.remaining(), deadline)) is None:
            pass  # nothing yet: deadline.remaining() ends this when the time is up
        if answer.tag != f"{{{FRAMING_NS}}}open":
            raise ProtocolError(f"the server answered <open/> with <{local_name(answer)}>")
        self._stream_open = True
        return []

    def send(self, payload: str, deadline: Deadline) -> list[ET.Element]:
        """Sends one stanza (or just polls, with "") and returns what came within one hold."""
        assert self._ws is not None
        if payload:
            self._ws.send_text(payload)
        answer = self._receive(min(self.hold, deadline.remaining()), deadline)
        return [] if answer is None else [answer]

    def _receive(self, wait: float, deadline: Deadline) -> ET.Element | None:
        assert self._ws is not None
        try:
            data = self._ws.receive(wait, deadline)
        except Closed as closed:
            self._stream_open = False
            raise SessionTerminated(self.name, str(closed)) from None
        if data is None or not data.strip():  # nothing, or whitespace between stanzas
            return None
        element = parse_xml(data)
        if element.tag == f"{{{STREAM_NS}}}error":
            self._stream_open = False
            names = [local_name(child) for child in element if local_name(child) != "text"]
            raise SessionTerminated(self.name, names[0] if names else "stream error")
        if element.tag == f"{{{FRAMING_NS}}}close":
            self._stream_open = False
            raise SessionTerminated(self.name, "the server closed the stream")
        return element

    def close(self) -> None:
        """Closes the stream (`<close/>`, answered in kind) and the WebSocket; bounded, never
        raises."""
        if self._ws is None:
            return
        try:
            if self._stream_open:
                self._ws.send_text(f"<close xmlns='{FRAMING_NS}'/>")
                deadline = Deadline(self.dialer.timeout)
                while self._receive(deadline.left(), deadline) is not None:
                    pass  # stanzas still in flight; the server's <close/> ends this
        except (SessionTerminated, EndpointError, ProtocolError):
            pass
        finally:
            self._stream_open = False
            self._ws.close()
            self._ws = None
