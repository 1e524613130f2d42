"""The probe's WebSocket client and its XMPP framing when the server misbehaves, against the
scripted stand-in (tests/websocket_standin.py): at the edges of their size limit and of RFC 6455
and RFC 7395, so that each refusal, and each thing that must not be refused, is seen."""

import re
import socket
import struct
import sys
import threading
import time

import pytest
from support import SCRIPTS
from websocket_standin import CLOSE, CONTINUATION, TEXT

sys.path.insert(0, str(SCRIPTS))  # the tools import as packages of scripts/
from verify_auth.net import Deadline, Dialer, EndpointError, SessionTerminated  # noqa: E402
from verify_auth.websocket import WebSocket  # noqa: E402
from verify_auth.websocket_upgrade import UpgradeRefused  # noqa: E402
from verify_auth.xmpp_websocket import FRAMING_NS, WebSocketSession  # noqa: E402

TIMEOUT = 1.0
# The size limit the probe promises ("larger than 1 MB"), written out rather than imported, so
# that a changed constant is seen.
LIMIT = 1_000_000
STREAMS_NS = "urn:ietf:params:xml:ns:xmpp-streams"


def connect(url) -> WebSocket:
    return WebSocket.connect(Dialer(None, TIMEOUT), url, "xmpp", Deadline(10))


def upgraded(peer) -> None:
    peer.read_request()
    peer.upgrade()


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([(TEXT, b"x" * LIMIT, {})], None),
        (
            [(TEXT, b"x" * (LIMIT // 2), {"fin": False}), (CONTINUATION, b"x" * (LIMIT // 2), {})],
            None,
        ),
        (
            [
                (TEXT, b"x" * (LIMIT // 2), {"fin": False}),
                (CONTINUATION, b"x" * (LIMIT // 2 + 1), {}),
            ],
            "the server's WebSocket message is larger than 1 MB",
        ),
        # Only announced: refused from its header, before a byte of it is read.
        ([(TEXT, b"", {"size": LIMIT + 1})], "the server's WebSocket frame is larger than 1 MB"),
    ],
    ids=["one-frame-of-1-mb", "fragments-of-1-mb", "fragments-over-1-mb", "a-frame-over-1-mb"],
)
def test_a_message_may_be_1_mb_and_no_more(serve, frames, message):
    def script(peer):
        upgraded(peer)
        for opcode, payload, options in frames:
            peer.send_frame(opcode, payload, **options)

    ws = connect(serve(script))
    if message is None:
        assert ws.receive(2.0, Deadline(10)) == b"x" * LIMIT
    else:
        with pytest.raises(EndpointError, match=f"^{message}$"):
            ws.receive(2.0, Deadline(10))
    ws.close()


@pytest.mark.parametrize("bit", [0x40, 0x20, 0x10])
def test_a_frame_with_a_reserved_bit_is_refused(serve, bit):
    # RFC 6455 section 5.2: RSV1-3 stay 0 unless an extension says otherwise, and the probe
    # offers none.
    def script(peer):
        upgraded(peer)
        peer.sock.sendall(bytes([0x80 | bit | TEXT, 4]) + b"<x/>")

    ws = connect(serve(script))
    with pytest.raises(EndpointError, match="^the server set reserved WebSocket bits"):
        ws.receive(2.0, Deadline(10))
    ws.close()


def test_a_connection_reset_while_receiving_is_an_endpoint_error(serve):
    def script(peer):
        upgraded(peer)
        peer.read_frame()  # the client is connected and about to read
        # A zero linger makes close() send a reset (RST), not an orderly end (FIN).
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.sock.close()

    ws = connect(serve(script))
    ws.send_text("<a/>")
    with pytest.raises(EndpointError, match=r"^the WebSocket connection broke \("):
        ws.receive(2.0, Deadline(10))
    ws.close()


def test_a_refused_upgrade_closes_its_connection_at_once(serve):
    # The probe tries one way in after another: a refused one must not keep its connection
    # open while the error is reported (the error's traceback would otherwise hold it).
    closed = threading.Event()

    def script(peer):
        peer.read_request()
        peer.sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        peer.sock.settimeout(5)
        try:
            if peer.sock.recv(1) == b"":
                closed.set()
        except TimeoutError:
            pass  # still open: the test says so

    url = serve(script)
    with pytest.raises(UpgradeRefused) as refused:
        connect(url)
    assert closed.wait(5), "the connection stayed open"
    assert "403 Forbidden" in str(refused.value)


@pytest.mark.parametrize("status", ["503 Service Unavailable", "426 Upgrade Required"])
def test_a_refused_upgrade_is_reported_with_its_whole_reason(serve, status):
    def script(peer):
        peer.read_request()
        peer.sock.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())

    session = WebSocketSession(serve(script), Dialer(None, TIMEOUT), "meet.probe.invalid")
    message = (
        f"it answered HTTP {status} to the WebSocket upgrade"
        " (is this the XMPP WebSocket endpoint? Jitsi serves it at /xmpp-websocket)"
    )
    with pytest.raises(EndpointError, match=f"^{re.escape(message)}$"):
        session.open(Deadline(10))
    session.close()


def closing(peer) -> None:
    """The server's side of the client's close(): <close/> for <close/>, then the WebSocket's
    own closing handshake."""
    peer.read_frame()
    peer.send_frame(TEXT, f"<close xmlns='{FRAMING_NS}'/>".encode())
    peer.read_frame()
    peer.send_frame(CLOSE, struct.pack("!H", 1000))


OPEN = f"<open xmlns='{FRAMING_NS}' from='meet.probe.invalid' version='1.0'/>".encode()


@pytest.mark.parametrize("keepalive", [False, True], ids=["silence", "whitespace"])
def test_a_late_stream_open_is_waited_for(serve, keepalive):
    # The <open/> answer may take longer than one poll (1 s) and one --timeout step (1 s): only
    # the session's deadline ends the wait. Whitespace between stanzas (RFC 6120 keepalives) is
    # no answer yet.
    pause = TIMEOUT * 1.5

    def script(peer):
        upgraded(peer)
        peer.read_frame()
        if keepalive:
            peer.send_frame(TEXT, b" ")
        time.sleep(pause)
        peer.send_frame(TEXT, OPEN)
        closing(peer)

    session = WebSocketSession(serve(script), Dialer(None, TIMEOUT), "meet.probe.invalid")
    started = time.monotonic()
    assert session.open(Deadline(10)) == []
    assert time.monotonic() - started >= pause
    session.close()


def test_a_stream_open_never_answered_ends_at_the_deadline(serve):
    def script(peer):
        upgraded(peer)
        peer.read_frame()  # the <open/>, never answered
        peer.read_frame()  # the client's close, once it gives up
        peer.send_frame(CLOSE, struct.pack("!H", 1000))

    session = WebSocketSession(serve(script), Dialer(None, TIMEOUT), "meet.probe.invalid")
    started = time.monotonic()
    with pytest.raises(EndpointError, match=r"^no answer within 2 s$"):
        session.open(Deadline(2))
    assert 2 <= time.monotonic() - started < 2.5
    session.close()


@pytest.mark.parametrize(
    ("children", "condition"),
    [
        (
            f"<text xmlns='{STREAMS_NS}'>Sorry</text><host-unknown xmlns='{STREAMS_NS}'/>",
            "host-unknown",
        ),
        (
            f"<host-unknown xmlns='{STREAMS_NS}'/><text xmlns='{STREAMS_NS}'>Sorry</text>",
            "host-unknown",
        ),
        # RFC 6120 section 4.9.4: an application-specific condition may follow the defined one,
        # which is the one to name.
        (
            f"<policy-violation xmlns='{STREAMS_NS}'/><text xmlns='{STREAMS_NS}'>Sorry</text>"
            "<too-many-logins xmlns='urn:example:application'/>",
            "policy-violation",
        ),
        (f"<text xmlns='{STREAMS_NS}'>Sorry</text>", "stream error"),  # no condition at all
    ],
    ids=["text-first", "text-last", "application-condition", "text-only"],
)
def test_a_stream_error_is_named_by_its_condition_not_its_text(serve, children, condition):
    read = threading.Event()

    def script(peer):
        upgraded(peer)
        peer.read_frame()
        error = f"<stream:error xmlns:stream='http://etherx.jabber.org/streams'>{children}"
        peer.send_frame(TEXT, (error + "</stream:error>").encode())
        peer.send_frame(CLOSE, struct.pack("!H", 1000))
        peer.read_frame()  # the client's answering close
        read.set()

    session = WebSocketSession(serve(script), Dialer(None, TIMEOUT), "meet.probe.invalid")
    with pytest.raises(SessionTerminated) as ended:
        session.open(Deadline(10))
    assert ended.value.condition == condition
    assert str(ended.value) == f"the server ended the websocket session ({condition})"
    session.close()
    assert read.wait(10)
