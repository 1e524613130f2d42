"""An XMPP client session over any transport: stream features, SASL, stream restart, resource
bind, IQs. The transport (BOSH or WebSocket) carries whole elements both ways."""

import base64
import secrets
import xml.etree.ElementTree as ET

from .net import Deadline, EndpointError
from .sasl import SaslError

STREAM_NS = "http://etherx.jabber.org/streams"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
SESSION_NS = "urn:ietf:params:xml:ns:xmpp-session"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class ProtocolError(Exception):
    """The server said something an XMPP server may not say at this point."""


def local_name(element: ET.Element) -> str:
    return element.tag.rpartition("}")[2]


def parse_xml(data: bytes) -> ET.Element:
    """One element the server sent; EndpointError when it is not XML an XMPP server may send."""
    # XMPP forbids DTDs (RFC 6120 section 11.1); refusing them also rules out entity expansion.
    if b"<!" in data:
        raise EndpointError("the server's answer contains a DTD or comment, which XMPP forbids")
    try:
        return ET.fromstring(data)  # noqa: S314 - DTDs are refused above
    except ET.ParseError as error:
        raise EndpointError(f"the server's answer is not XML ({error})") from None


def error_condition(element: ET.Element) -> str:
    """The defined condition of a SASL <failure/> or a stanza's <error/>, e.g. not-authorized."""
    error = element if local_name(element) == "failure" else element.find("{*}error")
    if error is None:
        return "no error element"
    names = [local_name(child) for child in error if local_name(child) != "text"]
    text = error.findtext("{*}text")
    condition = names[0] if names else "no condition given"
    return f"{condition}: {text.strip()}" if text and text.strip() else condition


class XmppClient:
    """One client session over `transport` (a BoshSession or a WebSocketSession, not yet open),
    within `deadline`; use as a context manager so the session always ends."""

    def __init__(self, transport, deadline: Deadline):
        self.transport = transport
        self.domain = transport.domain
        self.deadline = deadline
        self.jid: str | None = None
        self._pending: list[ET.Element] = []
        self._features: ET.Element | None = None

    def __enter__(self) -> "XmppClient":
        try:
            self._pending = self.transport.open(self.deadline)
            self._features = self._wait_for(lambda el: el.tag == f"{{{STREAM_NS}}}features")
        except BaseException:
            self.transport.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.transport.close()

    def _take(self, wanted) -> ET.Element | None:
        for index, element in enumerate(self._pending):
            if wanted(element):
                return self._pending.pop(index)
        return None

    def _wait_for(self, wanted) -> ET.Element:
        """The next element that `wanted` accepts, polling the server until the deadline."""
        while (found := self._take(wanted)) is None:
            self._pending.extend(self.transport.send("", self.deadline))
        return found

    def mechanisms(self) -> list[str]:
        """The SASL mechanisms the server offered on this stream."""
        assert self._features is not None
        found = self._features.findall(f"{{{SASL_NS}}}mechanisms/{{{SASL_NS}}}mechanism")
        return [(m.text or "").strip() for m in found]

    def authenticate(self, mechanism) -> tuple[bool, str]:
        """Runs one SASL exchange: (True, "") on success, else (False, the server's condition)."""
        initial = mechanism.initial()
        text = "=" if not initial else base64.b64encode(initial).decode()
        auth = f"<auth xmlns='{SASL_NS}' mechanism='{mechanism.name}'>{text}</auth>"
        reply = self.transport.send(auth, self.deadline)
        while True:
            self._pending.extend(reply)
            answer = self._wait_for(lambda el: el.tag.startswith(f"{{{SASL_NS}}}"))
            kind = local_name(answer)
            data = _b64(answer.text)
            if kind == "failure":
                return False, error_condition(answer)
            if kind == "success":
                mechanism.check_success(data)
                return True, ""
            if kind != "challenge":
                raise ProtocolError(f"unexpected SASL element <{kind}/>")
            response = base64.b64encode(mechanism.respond(data)).decode()
            reply = self.transport.send(
                f"<response xmlns='{SASL_NS}'>{response}</response>", self.deadline
            )

    def bind(self) -> str:
        """Restarts the stream after SASL and binds a resource; returns the full JID."""
        self._pending = self.transport.restart(self.deadline)
        features = self._wait_for(lambda el: el.tag == f"{{{STREAM_NS}}}features")
        resource = f"verify-auth-{secrets.token_hex(4)}"
        bind = f"<bind xmlns='{BIND_NS}'><resource>{resource}</resource></bind>"
        answer = self.iq("set", bind, to=None)
        if answer is None or answer.get("type") != "result":
            seen = "no answer" if answer is None else error_condition(answer)
            raise ProtocolError(f"resource binding failed ({seen})")
        self.jid = (answer.findtext(f"{{{BIND_NS}}}bind/{{{BIND_NS}}}jid") or "").strip()
        # Old servers require the RFC 3921 session; current ones mark it optional or omit it.
        session = features.find(f"{{{SESSION_NS}}}session")
        if session is not None and session.find(f"{{{SESSION_NS}}}optional") is None:
            self.iq("set", f"<session xmlns='{SESSION_NS}'/>", to=None)
        return self.jid

    def send(self, stanza: str) -> None:
        """Sends a stanza that gets no answer of its own (a presence); what the server sends back
        waits for `received`."""
        self._pending.extend(self.transport.send(stanza, self.deadline))

    def received(self, wanted) -> list[ET.Element]:
        """Takes every element received so far that `wanted` accepts, in the server's order."""
        taken = [element for element in self._pending if wanted(element)]
        self._pending = [element for element in self._pending if not wanted(element)]
        return taken

    def iq(self, kind: str, payload: str, to: str | None, wait: float | None = None):
        """Sends an IQ and returns its answer, or None when none came within `wait` seconds."""
        iq_id = secrets.token_hex(6)
        to_attr = f" to='{to}'" if to else ""
        stanza = f"<iq xmlns='jabber:client' type='{kind}' id='{iq_id}'{to_attr}>{payload}</iq>"
        give_up = None if wait is None else Deadline(wait, self.deadline)
        self._pending.extend(self.transport.send(stanza, self.deadline))

        def answers(el: ET.Element) -> bool:
            return local_name(el) == "iq" and el.get("id") == iq_id

        while (found := self._take(answers)) is None:
            # A poll starts only while `wait` is not over, and then ends within the transport's
            # hold: the answer gets at most `wait` plus one hold, which --timeout bounds.
            if give_up is not None and give_up.left() <= 0:
                return None
            self._pending.extend(self.transport.send("", self.deadline))
        return found


def _b64(text: str | None) -> bytes:
    text = (text or "").strip()
    if text in ("", "="):
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise SaslError("the server's SASL data is not base64") from None
