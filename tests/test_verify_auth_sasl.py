"""The probe's SASL mechanisms and its XMPP client, in-process, against a server that says exactly
what each test needs: every message a broken or hostile server may send is refused with an error
that says what was wrong, and what the probe sends is the exact bytes the protocols fix.

A probe that took a malformed SCRAM exchange for a login, or a fake "success" for proof that the
server knows the account, would report a deployment as secure when it is not."""

import base64
import re
import sys
import time
import xml.etree.ElementTree as ET

import pytest
from support import SCRIPTS

sys.path.insert(0, str(SCRIPTS))  # the tools import as packages of scripts/
from verify_auth.net import Deadline, EndpointError  # noqa: E402
from verify_auth.sasl import Anonymous, Plain, SaslError, ScramSha1  # noqa: E402
from verify_auth.xmpp import (  # noqa: E402
    BIND_NS,
    SASL_NS,
    SESSION_NS,
    STREAM_NS,
    ProtocolError,
    XmppClient,
    error_condition,
    local_name,
    parse_xml,
)

# The worked example of RFC 5802 section 5 (user "user", password "pencil"): a valid exchange.
RFC_NONCE = "fyko+d2lbbFgONRv9qkxdawL"
RFC_SERVER_FIRST = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
RFC_CLIENT_FINAL = (
    b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
)
RFC_SIGNATURE = "rmF9pqV8S7suAoZWja4dJRkFsKQ="


def rfc_scram() -> ScramSha1:
    return ScramSha1("user", "pencil", nonce=RFC_NONCE)


def answered_scram() -> ScramSha1:
    """The RFC exchange after the client answered the server's challenge: only the final word
    (the server's signature) is left."""
    scram = rfc_scram()
    assert scram.respond(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    return scram


# --- the mechanisms' first messages ----------------------------------------------------------


def test_scram_sha1_matches_the_rfc_5802_example():
    scram = rfc_scram()
    assert scram.initial() == f"n,,n=user,r={RFC_NONCE}".encode()
    assert scram.respond(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    scram.check_success(f"v={RFC_SIGNATURE}".encode())


def test_plain_sends_nul_user_nul_password():
    # RFC 4616: authzid (empty), NUL, authcid, NUL, password; nothing else.
    assert Plain("user", "pencil").initial() == b"\0user\0pencil"


def test_anonymous_sends_no_initial_response():
    assert Anonymous().initial() is None


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("user", b"n,,n=user,r=abc"),
        # RFC 5802 section 5.1: "=" becomes "=3D" and "," becomes "=2C"; "=" first, or the "="
        # of "=2C" would be escaped again.
        ("a,b", b"n,,n=a=2Cb,r=abc"),
        ("a=b", b"n,,n=a=3Db,r=abc"),
        ("x=,y", b"n,,n=x=3D=2Cy,r=abc"),
    ],
)
def test_scram_escapes_the_user_name(user, expected):
    # An unescaped "," would end the attribute: the server would read another user's name.
    assert ScramSha1(user, "pencil", nonce="abc").initial() == expected


# --- challenges the mechanisms must refuse ---------------------------------------------------


@pytest.mark.parametrize(
    "mechanism", [Anonymous(), Plain("user", "pencil")], ids=["ANONYMOUS", "PLAIN"]
)
def test_a_challenge_to_a_mechanism_that_has_none_is_refused(mechanism):
    with pytest.raises(SaslError, match=f"challenge to {mechanism.name}, which has none"):
        mechanism.respond(b"r=abc")


@pytest.mark.parametrize(
    ("challenge", "says"),
    [
        (b"r=someone-elses-nonce,s=QSXCR+Q6sek8bf92,i=4096", "does not extend ours"),
        (b"r=abc,s=QSXCR+Q6sek8bf92,i=4096", "does not extend ours"),  # ours, echoed back
        (b"r=abcXYZ,s=QSXC,i=0", "asks for 0 SCRAM iterations"),
        (b"r=abcXYZ,s=QSXC,i=999999999", "asks for 999999999 SCRAM iterations"),
        (b"r=abcXYZ,s=QSXC,i=1000001", "asks for 1000001 SCRAM iterations"),
        (b"r=abcXYZ,s=QSXC,i=4096,x", "malformed"),  # an attribute without "="
        (b"r=abcXYZ,s=QSXC,i=4096,ab=c", "malformed"),  # RFC 5802: names are one letter
        (b"r=abc\xff,s=QSXC,i=1", "not UTF-8"),
        (b"r=abcXYZ,i=4096", "lacks a salt or an iteration count"),
        (b"r=abcXYZ,s=QSXC", "lacks a salt or an iteration count"),
        (b"r=abcXYZ,s=QSXC,i=4096x", "lacks a salt or an iteration count"),
        (b"r=abcXYZ,s=QSXC,i=-1", "lacks a salt or an iteration count"),
        # "*" is outside base64's alphabet: a lenient decoder would drop it and go on.
        (b"r=abcXYZ,s=QSXC*,i=1", "salt is not base64"),
        (b"r=abcXYZ,s=QSX,i=1", "salt is not base64"),  # bad padding
        # A valid challenge but for an attribute with an empty name.
        (b"r=abcXYZ,s=QSXC,i=1,=abc", "malformed"),
    ],
)
def test_scram_refuses_a_bad_challenge(challenge, says):
    with pytest.raises(SaslError, match=says):
        ScramSha1("user", "pencil", nonce="abc").respond(challenge)


@pytest.mark.parametrize("rounds", [1, 1_000_000])
def test_scram_takes_from_one_to_a_million_iterations(rounds):
    proof = ScramSha1("user", "pencil", nonce="abc").respond(f"r=abcXYZ,s=QSXC,i={rounds}".encode())
    assert proof.startswith(b"c=biws,r=abcXYZ,p=")


def test_scram_refuses_a_second_challenge():
    # After the client's proof only the server's signature may come; a server asking again
    # could be fishing for a second proof.
    scram = answered_scram()
    with pytest.raises(SaslError, match="second SCRAM challenge"):
        scram.respond(RFC_SERVER_FIRST)


# --- the server's final word -----------------------------------------------------------------


def test_scram_success_with_the_right_signature_is_accepted():
    answered_scram().check_success(f"v={RFC_SIGNATURE}".encode())


def test_scram_success_before_any_challenge_is_refused():
    # A fake server that says "success" at once has proved nothing about the account.
    with pytest.raises(SaslError, match="success before the SCRAM exchange finished"):
        rfc_scram().check_success(f"v={RFC_SIGNATURE}".encode())


@pytest.mark.parametrize(
    "final",
    [
        # The right signature with a character outside base64: a lenient decoder would drop it
        # and accept it.
        b"v=rmF9pqV8S7su*AoZWja4dJRkFsKQ=",
        b"v=not base64",
        b"v=",
        b"e=invalid-proof",  # no v= at all: RFC 5802's server error
        b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # a server that does not know the account
    ],
)
def test_scram_success_without_a_valid_signature_is_refused(final):
    scram = answered_scram()
    with pytest.raises(SaslError, match="signature is wrong"):
        scram.check_success(final)


# --- what the XMPP client reads --------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "name"),
    [(f"{{{STREAM_NS}}}features", "features"), (f"{{{SASL_NS}}}success", "success"), ("iq", "iq")],
)
def test_local_name_drops_the_namespace(tag, name):
    assert local_name(ET.Element(tag)) == name


@pytest.mark.parametrize(
    "data",
    [
        # A DTD may define entities that expand to gigabytes; XMPP forbids DTDs and comments.
        b"<!DOCTYPE iq [<!ENTITY a 'aaaa'>]><iq>&a;</iq>",
        b"<iq><!-- a comment --></iq>",
    ],
)
def test_a_dtd_or_comment_is_refused(data):
    with pytest.raises(EndpointError, match="contains a DTD or comment"):
        parse_xml(data)


@pytest.mark.parametrize("data", [b"not xml", b"<iq>", b"<iq></message>", b""])
def test_what_is_not_xml_is_refused(data):
    with pytest.raises(EndpointError, match="the server's answer is not XML"):
        parse_xml(data)


@pytest.mark.parametrize(
    ("xml", "condition"),
    [
        ("<iq xmlns='jabber:client' type='error'/>", "no error element"),
        # The condition is the element that is not <text/>, wherever <text/> stands.
        (
            f"<failure xmlns='{SASL_NS}'><text>Wrong password</text><not-authorized/></failure>",
            "not-authorized: Wrong password",
        ),
        (f"<failure xmlns='{SASL_NS}'><not-authorized/></failure>", "not-authorized"),
        (f"<failure xmlns='{SASL_NS}'><not-authorized/><text> </text></failure>", "not-authorized"),
        (f"<failure xmlns='{SASL_NS}'><text>why</text></failure>", "no condition given: why"),
        (f"<failure xmlns='{SASL_NS}'/>", "no condition given"),
        (
            "<iq xmlns='jabber:client' type='error'><error type='cancel'>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no</text>"
            "<not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
            "not-allowed: no",
        ),
    ],
)
def test_error_condition_names_the_servers_reason(xml, condition):
    assert error_condition(parse_xml(xml.encode())) == condition


# --- the XMPP client against a scripted server -----------------------------------------------


class _ScriptedServer:
    """A transport whose server answers each element the client sends with `answer(element)`,
    a list of XML strings; it keeps what the client sent, parsed."""

    domain = "meet.example.com"

    def __init__(self, answer, features: str = ""):
        self.answer = answer
        self.features = f"<features xmlns='{STREAM_NS}'>{features}</features>"
        self.sent: list[ET.Element] = []

    def open(self, _deadline):
        return [parse_xml(self.features.encode())]

    restart = open

    def send(self, payload: str, _deadline):
        # The script answers every element at once: a poll means the client waits for an
        # answer the server would never send (it would hang until the deadline).
        assert payload, "the client polled for an answer the script does not have"
        element = parse_xml(payload.encode())
        self.sent.append(element)
        return [parse_xml(reply.encode()) for reply in self.answer(element)]

    def close(self):
        pass


def sasl(kind: str, data: bytes | str = "") -> str:
    text = base64.b64encode(data).decode() if isinstance(data, bytes) else data
    return f"<{kind} xmlns='{SASL_NS}'>{text}</{kind}>"


def scripted(*replies: str):
    """An `answer` that gives each element the client sends the next reply, in turn."""
    pending = iter(replies)
    return lambda _element: [next(pending)]


def sent_data(element: ET.Element) -> bytes:
    return base64.b64decode(element.text or "")


def test_the_client_runs_the_rfc_scram_exchange():
    # The baseline for the tests below: the scripted server is enough for a whole login.
    server = _ScriptedServer(
        scripted(
            sasl("challenge", RFC_SERVER_FIRST), sasl("success", f"v={RFC_SIGNATURE}".encode())
        )
    )
    with XmppClient(server, Deadline(5)) as client:
        assert client.authenticate(rfc_scram()) == (True, "")
    auth, response = server.sent
    assert (auth.tag, auth.get("mechanism")) == (f"{{{SASL_NS}}}auth", "SCRAM-SHA-1")
    assert sent_data(auth) == b"n,,n=user,r=" + RFC_NONCE.encode()
    assert response.tag == f"{{{SASL_NS}}}response"
    assert sent_data(response) == RFC_CLIENT_FINAL


def test_an_empty_response_is_written_as_a_lone_equals_sign_both_ways():
    # RFC 6120 section 6.4.2: "=" is an empty response, distinct from none; it is not base64,
    # so the client must neither send an empty <auth/> nor refuse the server's "=".
    server = _ScriptedServer(scripted(sasl("success", "=")))
    with XmppClient(server, Deadline(5)) as client:
        assert client.authenticate(Anonymous()) == (True, "")
    (auth,) = server.sent
    assert (auth.get("mechanism"), auth.text) == ("ANONYMOUS", "=")


def test_an_unexpected_sasl_element_is_a_protocol_error():
    # <abort/> is the client's to send; from the server it is neither an answer nor a refusal.
    server = _ScriptedServer(scripted(sasl("abort")))
    expected = pytest.raises(ProtocolError, match="unexpected SASL element <abort/>")
    with XmppClient(server, Deadline(5)) as client, expected:
        client.authenticate(Plain("user", "pencil"))


@pytest.mark.parametrize("kind", ["success", "challenge"])
def test_sasl_data_that_is_not_base64_is_refused(kind):
    # "*" is outside base64's alphabet: a lenient decoder would drop it and go on.
    server = _ScriptedServer(scripted(sasl(kind, "dj1h*YmM=")))
    expected = pytest.raises(SaslError, match="SASL data is not base64")
    with XmppClient(server, Deadline(5)) as client, expected:
        client.authenticate(Plain("user", "pencil"))


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (
            "<iq xmlns='jabber:client' type='result' id='{}'><bind xmlns='" + BIND_NS + "'>"
            "<jid>guest-1@guest.meet.example.com/verify-auth-1</jid></bind></iq>",
            "guest-1@guest.meet.example.com/verify-auth-1",
        ),
        (
            "<iq xmlns='jabber:client' type='error' id='{}'><error type='cancel'>"
            "<not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
            "resource binding failed (not-allowed)",
        ),
    ],
)
def test_binding_gives_the_servers_jid_or_fails_saying_why(answer, outcome):
    server = _ScriptedServer(lambda element: [answer.format(element.get("id"))])
    with XmppClient(server, Deadline(5)) as client:
        if outcome.startswith("resource binding failed"):
            with pytest.raises(ProtocolError, match=re.escape(outcome)):
                client.bind()
        else:
            assert client.bind() == outcome == client.jid


def bind_and_session(element: ET.Element) -> list[str]:
    """The server's answers to resource binding and to the RFC 3921 session: both succeed."""
    assert local_name(element) == "iq"
    jid = "<jid>guest-1@guest.meet.example.com/verify-auth-1</jid>"
    binding = element.find(f"{{{BIND_NS}}}bind") is not None
    payload = f"<bind xmlns='{BIND_NS}'>{jid}</bind>" if binding else ""
    return [f"<iq xmlns='jabber:client' type='result' id='{element.get('id')}'>{payload}</iq>"]


@pytest.mark.parametrize(
    ("features", "session_sent"),
    [
        # An old server (RFC 3921) requires the session: without it, it routes no stanza.
        (f"<session xmlns='{SESSION_NS}'/>", True),
        # Current servers mark it optional, or leave it out: asking for it would be a wasted round.
        (f"<session xmlns='{SESSION_NS}'><optional/></session>", False),
        ("", False),
    ],
)
def test_the_session_is_started_only_when_the_server_requires_it(features, session_sent):
    server = _ScriptedServer(bind_and_session, features=f"<bind xmlns='{BIND_NS}'/>{features}")
    with XmppClient(server, Deadline(5)) as client:
        assert client.bind() == "guest-1@guest.meet.example.com/verify-auth-1"
    sessions = [
        element
        for element in server.sent
        if element.get("type") == "set" and element.find(f"{{{SESSION_NS}}}session") is not None
    ]
    assert len(server.sent) == (2 if session_sent else 1)
    assert len(sessions) == (1 if session_sent else 0)


class _SilentServer:
    """A transport whose server never answers: each poll takes one hold, as BOSH's does."""

    domain = "meet.example.com"
    hold = 0.2

    def __init__(self):
        self.polls = 0

    def send(self, payload: str, _deadline):
        if not payload:
            self.polls += 1
            time.sleep(self.hold)
        return []

    def close(self):
        pass


def test_an_iq_without_answer_is_given_up_after_its_wait_and_one_hold_at_most():
    # How check 5 and check 8 bound their wait for the focus and the room: polls start only
    # while `wait` lasts, so it ends between `wait` and `wait` plus one poll's hold.
    server = _SilentServer()
    client = XmppClient(server, Deadline(30))
    started = time.monotonic()
    answer = client.iq("get", "<query xmlns='urn:example'/>", to="focus.example.com", wait=1.0)
    took = time.monotonic() - started
    assert answer is None
    # A wait that ran a second past its end would exceed this margin (0.5 s, for a busy machine).
    assert 1.0 <= took < 1.0 + server.hold + 0.5, took
    assert server.polls >= 4
