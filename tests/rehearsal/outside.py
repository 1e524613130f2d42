"""Logging in from outside the machine, as a browser's Jitsi client does: BOSH over https.

Independent of the project's probe (scripts/verify_auth*.py): its own BOSH exchange, slixmpp's
SASL mechanisms, and TLS verified against the certificate the machine really serves, reached at
its address with the domain as server name (no DNS needed). Used by the rehearsal to judge the
outcome of a deployment with code that shares nothing with what it judges.
"""

import base64
import contextlib
import http.client
import itertools
import random
import socket
import ssl
import time
import uuid
import xml.etree.ElementTree as ET

from slixmpp.util import sasl

BOSH = "http://jabber.org/protocol/httpbind"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
FOCUS = "http://jitsi.org/protocol/focus"
WAIT = 5


class OutsideError(Exception):
    """The endpoint did not answer as BOSH would (not a refusal: a broken exchange)."""


class _Session:
    """One BOSH session to `host` through https://<domain>/http-bind at `address`."""

    def __init__(self, address: str, domain: str, host: str, tls: ssl.SSLContext, timeout: float):
        self.address, self.domain, self.host, self.tls = address, domain, host, tls
        self.timeout = timeout
        self.rid = itertools.count(random.randrange(1 << 20, 1 << 30))
        self.sid = ""
        # One kept-alive connection, as a browser keeps it.
        raw = socket.create_connection((address, 443), timeout=timeout)
        self.conn = http.client.HTTPSConnection(domain, 443, timeout=timeout)
        self.conn.sock = tls.wrap_socket(raw, server_hostname=domain)

    def _post(self, attributes: str, payload: str = "") -> ET.Element:
        sid = f" sid='{self.sid}'" if self.sid else ""
        body = f"<body xmlns='{BOSH}' rid='{next(self.rid)}'{sid} {attributes}>{payload}</body>"
        self.conn.request("POST", "/http-bind", body.encode(), {"Content-Type": "text/xml"})
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise OutsideError(f"HTTP {response.status} from /http-bind")
        element = ET.fromstring(data)  # noqa: S314 (our own test machine answers)
        if element.get("type") == "terminate":
            raise OutsideError(f"session terminated: {element.get('condition')}")
        return element

    def open(self) -> list[ET.Element]:
        first = self._post(
            f"to='{self.host}' ver='1.6' wait='{WAIT}' hold='1' xml:lang='en' "
            "xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'"
        )
        self.sid = first.get("sid", "")
        if not self.sid:
            raise OutsideError("no BOSH session id")
        return self._until_stanzas(list(first))

    def send(self, payload: str) -> list[ET.Element]:
        return self._until_stanzas(list(self._post("", payload)))

    def restart(self) -> list[ET.Element]:
        answer = self._post(
            f"to='{self.host}' xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true' xml:lang='en'"
        )
        return self._until_stanzas(list(answer))

    def _until_stanzas(self, stanzas: list[ET.Element]) -> list[ET.Element]:
        deadline = time.monotonic() + self.timeout
        while not stanzas:
            if time.monotonic() > deadline:
                raise OutsideError(f"no answer within {self.timeout} s")
            stanzas = list(self._post(""))
        return stanzas

    def close(self) -> None:
        if self.sid:
            with contextlib.suppress(OSError, OutsideError):
                self._post(
                    "type='terminate'", "<presence type='unavailable' xmlns='jabber:client'/>"
                )
        self.sid = ""
        self.conn.close()


def _mechanisms(features: list[ET.Element]) -> list[str]:
    return [m.text or "" for f in features for m in f.iter(f"{{{SASL}}}mechanism")]


class Client:
    """What a participant can do from outside, judged by the server's own answers."""

    def __init__(self, address: str, domain: str, ca_pem: str, timeout: float = 15.0):
        self.address, self.domain, self.timeout = address, domain, timeout
        self.tls = ssl.create_default_context(cadata=ca_pem)

    def login(self, host: str, user: str | None = None, password: str | None = None):
        """A bound session (caller closes it), or None when the server refused the login."""
        session = _Session(self.address, self.domain, host, self.tls, self.timeout)
        try:
            offered = _mechanisms(session.open())
            credentials = {"username": user or "", "password": password or ""}
            wanted = ["SCRAM-SHA-1"] if user else ["ANONYMOUS"]
            try:
                mech = sasl.choose(
                    wanted,
                    lambda required, optional: credentials,
                    # TLS, no channel binding (a browser's client does not bind either).
                    lambda values: {
                        "encrypted": True,
                        "unencrypted_scram": False,
                        "binding_proposed": False,
                        "tls_version": "TLSv1.3",
                    },
                )
            except sasl.SASLNoAppropriateMechanism:
                raise OutsideError(f"no {wanted[0]} in {offered}") from None
            initial = base64.b64encode(mech.process()).decode() or "="
            answer = session.send(f"<auth xmlns='{SASL}' mechanism='{mech.name}'>{initial}</auth>")
            while answer[0].tag == f"{{{SASL}}}challenge":
                reply = base64.b64encode(mech.process(base64.b64decode(answer[0].text or "")))
                answer = session.send(
                    f"<response xmlns='{SASL}'>{reply.decode() or '='}</response>"
                )
            if answer[0].tag == f"{{{SASL}}}failure":
                session.close()
                return None
            if answer[0].tag != f"{{{SASL}}}success":
                raise OutsideError(f"unexpected SASL answer {answer[0].tag}")
            if answer[0].text:
                mech.process(base64.b64decode(answer[0].text))  # checks the server's signature
            session.restart()
            # A lowercase resource of its own, as Jitsi's web client binds (the focus answers
            # through an address whose local part Prosody lowercases).
            resource = f"outside-{uuid.uuid4().hex[:8]}"
            bound = session.send(
                f"<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='{BIND}'>"
                f"<resource>{resource}</resource></bind></iq>"
            )
            jid = next(iter(bound[0].iter(f"{{{BIND}}}jid")), None)
            if jid is None:
                raise OutsideError("resource binding failed")
            return session
        except BaseException:
            session.close()
            raise

    def can_log_in(self, host: str, user: str | None = None, password: str | None = None) -> bool:
        session = self.login(host, user, password)
        if session is None:
            return False
        session.close()
        return True

    def ask_focus_for_a_room(self, session: _Session) -> str:
        """'result', or the error condition jicofo answers a new room's request with."""
        room = f"outside-{uuid.uuid4().hex[:12]}@conference.{self.domain}"
        stanza = (
            f"<iq xmlns='jabber:client' type='set' id='focus' to='focus.{self.domain}'>"
            f"<conference xmlns='{FOCUS}' room='{room}' machine-uid='{uuid.uuid4().hex}'/></iq>"
        )
        answer = session.send(stanza)
        deadline = time.monotonic() + self.timeout
        while not any(s.get("id") == "focus" for s in answer):
            if time.monotonic() > deadline:
                raise OutsideError("the focus did not answer")
            answer = session.send("")
        iq = next(s for s in answer if s.get("id") == "focus")
        if iq.get("type") == "result":
            return "result"
        conditions = [c.tag.split("}")[1] for c in iq.iter() if c.tag.startswith(f"{{{STANZAS}}}")]
        return conditions[0] if conditions else f"type={iq.get('type')}"


def prove(client: Client, domain: str, moderators: dict[str, str]) -> list[tuple[bool, str]]:
    """Each rule of a secure domain, judged from outside: (held, what was checked)."""
    checks = [
        (not client.can_log_in(domain), f"anonymous login to {domain} is refused"),
        (client.can_log_in(f"guest.{domain}"), f"anonymous login to guest.{domain} works"),
    ]
    for name, password in sorted(moderators.items()):
        checks.append((client.can_log_in(domain, name, password), f"moderator {name} logs in"))
    if moderators:
        name, password = sorted(moderators.items())[0]
        wrong = not client.can_log_in(domain, name, password + "-wrong")
        checks.append((wrong, f"a wrong password for {name} is refused"))
    guest = client.login(f"guest.{domain}")
    try:
        answer = client.ask_focus_for_a_room(guest)
    finally:
        guest.close()
    checks.append((answer == "not-authorized", f"jicofo refuses a guest's room ({answer})"))
    if moderators:
        name, password = sorted(moderators.items())[0]
        session = client.login(domain, name, password)
        try:
            answer = client.ask_focus_for_a_room(session)
        finally:
            session.close()
        checks.append((answer == "result", f"jicofo accepts {name}'s room ({answer})"))
    return checks
