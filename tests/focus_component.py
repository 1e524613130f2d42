"""A stand-in for jicofo's room-creation gate, as an XEP-0114 component on a test Prosody.

It answers the `conference` IQ the way jicofo does with XMPP authentication on: a requester whose
JID is not on the login domain gets `not-authorized` for a new room; one on the login domain must
send a `machine-uid` (else `not-acceptable`) and gets a result. `accept_everyone=True` imitates a
jicofo without authentication, which the probe must catch; `silent=True` one that never answers;
`refuse_guests_with` names another error for a guest, which the probe must not take for jicofo's
authentication at work. A `login_domain` other than the users' is jicofo with a wrong login-url.
"""

import hashlib
import socket
import threading
import xml.etree.ElementTree as ET

COMPONENT_NS = "jabber:component:accept"
STREAM_NS = "http://etherx.jabber.org/streams"
FOCUS_NS = "http://jitsi.org/protocol/focus"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class FocusComponent:
    def __init__(self, port: int, name: str, secret: str, login_domain: str, accept_everyone=False):
        self.port, self.name, self.secret = port, name, secret
        self.login_domain = login_domain
        self.accept_everyone = accept_everyone
        self.silent = False
        self.refuse_guests_with = "not-authorized"
        self.requests: list[tuple[str, str]] = []  # (requester, answer) for the test to inspect
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self, timeout: float = 5.0) -> "FocusComponent":
        self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        parser = ET.XMLPullParser(events=("start", "end"))
        header = (
            f"<stream:stream xmlns='{COMPONENT_NS}' xmlns:stream='{STREAM_NS}' to='{self.name}'>"
        )
        self._sock.sendall(header.encode())
        stream_id = self._next(parser, "start").get("id", "")
        digest = hashlib.sha1((stream_id + self.secret).encode()).hexdigest()  # noqa: S324
        self._sock.sendall(f"<handshake>{digest}</handshake>".encode())
        # The first element to end is the server's <handshake/>, or a child of a stream error.
        answer = self._next(parser, "end")
        if not answer.tag.endswith("handshake"):
            raise RuntimeError(f"component handshake refused: {ET.tostring(answer)!r}")
        self._sock.settimeout(0.2)  # so the reader notices stop() quickly
        self._thread = threading.Thread(target=self._serve, args=(parser,), daemon=True)
        self._thread.start()
        return self

    def _next(self, parser: ET.XMLPullParser, wanted: str) -> ET.Element:
        """The element of the next `wanted` event (blocking, bounded by the socket timeout)."""
        while True:
            for event, element in parser.read_events():
                if event == wanted:
                    return element
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the component stream")
            parser.feed(data)

    def _serve(self, parser: ET.XMLPullParser) -> None:
        depth = 1  # inside <stream:stream>
        while not self._stopping.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            parser.feed(data)
            for event, element in parser.read_events():
                depth += 1 if event == "start" else -1
                if event == "end" and depth == 1:
                    self._handle(element)

    def _handle(self, stanza: ET.Element) -> None:
        conference = stanza.find(f"{{{FOCUS_NS}}}conference")
        if not stanza.tag.endswith("iq") or stanza.get("type") != "set" or conference is None:
            return
        requester = stanza.get("from", "")
        domain = requester.partition("@")[2].partition("/")[0]
        if conference.get("room") is None:
            answer = "bad-request"
        elif self.accept_everyone:
            answer = "result"
        elif domain != self.login_domain:
            answer = self.refuse_guests_with
        elif not conference.get("machine-uid"):
            answer = "not-acceptable"
        else:
            answer = "result"
        self.requests.append((requester, answer))
        if not self.silent:
            self._reply(stanza, conference, answer)

    def _reply(self, stanza: ET.Element, conference: ET.Element, answer: str) -> None:
        room = conference.get("room", "")
        head = f"<iq xmlns='{COMPONENT_NS}' from='{self.name}'"
        head += f" to='{stanza.get('from')}' id='{stanza.get('id')}'"
        if answer == "result":
            body = (
                f"<conference xmlns='{FOCUS_NS}' room='{room}' ready='true'"
                f" focusjid='focus@auth.{self.login_domain}'>"
                "<property name='authentication' value='true'/></conference>"
            )
            xml = f"{head} type='result'>{body}</iq>"
        else:
            error = f"<error type='cancel'><{answer} xmlns='{STANZAS_NS}'/></error>"
            xml = f"{head} type='error'><conference xmlns='{FOCUS_NS}' room='{room}'/>{error}</iq>"
        self._sock.sendall(xml.encode())

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
