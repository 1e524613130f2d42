"""The probe's WebSocket client (RFC 6455) and its XMPP framing (RFC 7395), against a scripted
server that says exactly what each test needs, right or wrong."""

import base64
import hashlib
import socket
import struct
import sys
import threading
import time

import pytest
from support import SCRIPTS
from websocket_standin import CLOSE, CONTINUATION, GUID, PING, PONG, TEXT

sys.path.insert(0, str(SCRIPTS))  # the tools import as packages of scripts/
from verify_auth.net import Deadline, Dialer, EndpointError, SessionTerminated  # noqa: E402
from verify_auth.websocket import Closed, WebSocket  # noqa: E402
from verify_auth.websocket_upgrade import UpgradeRefused  # noqa: E402
from verify_auth.xmpp_websocket import FRAMING_NS, WebSocketSession  # noqa: E402

TIMEOUT = 1.0
# The limit the probe promises ("over 16 KB of headers"), written out rather than imported, so
# that a changed constant is seen.
HEADER_LIMIT = 16_384


def connect(url) -> WebSocket:
    return WebSocket.connect(Dialer(None, TIMEOUT), url, "xmpp", Deadline(10))


def receive(ws: WebSocket, wait: float = 2.0):
    return ws.receive(wait, Deadline(10))


def test_upgrade_and_text_both_ways(serve):
    seen = {}

    def script(peer):
        seen["request"] = peer.read_request()
        peer.upgrade()
        seen["frame"] = peer.read_frame()
        peer.send_frame(TEXT, b"<b/>")

    url = serve(script)
    ws = connect(url)
    ws.send_text("<a/>")
    assert receive(ws) == b"<b/>"
    request = seen["request"]
    assert request[""] == "GET /xmpp-websocket HTTP/1.1"
    assert request["host"] == f"127.0.0.1:{url.port}"
    assert (request["upgrade"], request["connection"]) == ("websocket", "Upgrade")
    assert (request["sec-websocket-version"], request["sec-websocket-protocol"]) == ("13", "xmpp")
    # Client frames are masked (RFC 6455 section 5.1), and whole.
    assert seen["frame"] == (True, TEXT, True, b"<a/>")


@pytest.mark.parametrize(("size", "code"), [(125, 125), (300, 126), (65_535, 126), (70_000, 127)])
def test_long_messages_use_the_longer_length_fields(serve, size, code):
    # RFC 6455 section 5.2: the shortest length field that holds the size (126: 16 bits, up to
    # 65,535; 127: 64 bits).
    text = "x" * size
    seen = {}

    def script(peer):
        peer.read_request()
        peer.upgrade()
        seen["frame"] = peer.read_frame()
        seen["code"] = peer.size_codes[-1]
        peer.send_frame(TEXT, text.encode())

    ws = connect(serve(script))
    ws.send_text(text)
    assert receive(ws) == text.encode()
    assert seen["frame"] == (True, TEXT, True, text.encode())
    assert seen["code"] == code


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        ({"accept": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, EndpointError, "does not match our key"),
        ({"protocol": None}, EndpointError, "did not agree to the WebSocket subprotocol 'xmpp'"),
        ({"protocol": "mqtt"}, EndpointError, "did not agree to the WebSocket subprotocol 'xmpp'"),
    ],
)
def test_a_wrong_upgrade_answer_is_refused(serve, answer, error, message):
    def script(peer):
        peer.read_request()
        peer.upgrade(**answer)

    with pytest.raises(error, match=message):
        connect(serve(script))


def test_an_extension_the_client_did_not_offer_is_refused(serve):
    def script(peer):
        peer.read_request()
        peer.upgrade(extra=("Sec-WebSocket-Extensions: permessage-deflate",))

    with pytest.raises(EndpointError, match="extensions the probe did not offer"):
        connect(serve(script))


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n", "not switch"),
        (b"SSH-2.0-OpenSSH_9.2 Debian-2\r\n\r\n", "upgrade answer is not HTTP"),
        (b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-Pad: y\r\n" * 3000, "over 16 KB"),
        # One byte over the limit, then silence: refused for its size, not left to time out.
        (b"HTTP/1.1 101 OK\r\nX-Pad: " + b"y" * (HEADER_LIMIT - 25) + b"\r\n", "over 16 KB"),
        (b"HTTP/1.1 101 Swi", "closed the connection during the upgrade"),
    ],
)
def test_an_answer_that_is_no_upgrade_is_refused(serve, answer, message):
    def script(peer):
        peer.read_request()
        peer.sock.sendall(answer)

    with pytest.raises(EndpointError, match=message):
        connect(serve(script))


def test_an_answer_of_exactly_16_kb_of_headers_is_read(serve):
    def script(peer):
        key = peer.read_request()["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324
        head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        head += f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
        head += "Sec-WebSocket-Protocol: xmpp\r\n"
        # Padded so that its first 16,384 bytes (the limit) end just before the blank line.
        pad = HEADER_LIMIT - len(head) - len("X-Pad: \r\n") + 2
        answer = (head + "X-Pad: " + "y" * pad + "\r\n\r\n").encode()
        peer.sock.sendall(answer[:HEADER_LIMIT])
        time.sleep(0.3)  # the client has read all of it, and waits for the rest
        peer.sock.sendall(answer[HEADER_LIMIT:])
        peer.send_frame(TEXT, b"<ok/>")

    assert receive(connect(serve(script))) == b"<ok/>"


def test_a_status_line_without_a_reason_phrase_is_read(serve):
    # RFC 9112 section 4: the reason phrase may be left out, and some servers do.
    def script(peer):
        peer.read_request()
        peer.upgrade(status="101")
        peer.send_frame(TEXT, b"<ok/>")

    assert receive(connect(serve(script))) == b"<ok/>"


def test_an_http_error_is_an_upgrade_refused(serve):
    def script(peer):
        peer.read_request()
        peer.sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    with pytest.raises(UpgradeRefused, match="it answered HTTP 404 Not Found"):
        connect(serve(script))


def test_pings_are_answered_and_fragments_joined(serve):
    seen = {}

    def script(peer):
        peer.read_request()
        peer.upgrade()
        peer.send_frame(PING, b"are you there")
        peer.send_frame(PING, b"x" * 125)  # the longest control frame RFC 6455 allows
        peer.send_frame(TEXT, b"<mess", fin=False)
        peer.send_frame(PING, b"still")  # control frames may come between fragments
        peer.send_frame(CONTINUATION, b"age/>")
        seen["pongs"] = [peer.read_frame(), peer.read_frame(), peer.read_frame()]
        peer.send_frame(TEXT, b"<done/>")  # only once both pongs are in

    ws = connect(serve(script))
    assert receive(ws) == b"<message/>"
    assert receive(ws) == b"<done/>"
    # Pongs (RFC 6455 section 5.5.3), the opcode as the stand-in writes it out.
    assert seen["pongs"] == [
        (True, PONG, True, b"are you there"),
        (True, PONG, True, b"x" * 125),
        (True, PONG, True, b"still"),
    ]


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([(TEXT, b"<x/>", {"mask": True})], "masked its WebSocket frame"),
        ([(TEXT, b"", {"size": 2_000_000})], "larger than 1 MB"),
        ([(CONTINUATION, b"<x/>", {})], "fragments are out of order"),
        ([(0x2, b"\x00\x01", {})], "opcode 0x2"),
        ([(PING, b"p", {"fin": False})], "malformed WebSocket control frame"),
        ([(PING, b"x" * 126, {})], "malformed WebSocket control frame"),
    ],
)
def test_frames_a_server_may_not_send_are_refused(serve, frames, message):
    def script(peer):
        peer.read_request()
        peer.upgrade()
        for opcode, payload, options in frames:
            peer.send_frame(opcode, payload, **options)

    ws = connect(serve(script))
    with pytest.raises(EndpointError, match=message):
        receive(ws)


@pytest.mark.parametrize(
    ("payload", "says", "code"),
    [
        (struct.pack("!H", 1001) + b"going away", "(1001: going away)", 1001),
        (struct.pack("!H", 1000), "(1000)", 1000),  # a code and no reason
        (b"", "(no code)", None),
        (b"\x03", "(no code)", None),  # too short for a code (RFC 6455 wants two bytes)
    ],
)
def test_a_close_from_the_server_is_answered_and_reported(serve, payload, says, code):
    seen = {}

    def script(peer):
        peer.read_request()
        peer.upgrade()
        peer.send_frame(CLOSE, payload)
        seen["answer"] = peer.read_frame()
        peer.sock.settimeout(5)
        seen["after"] = peer.sock.recv(64)
        done.set()

    done = threading.Event()
    ws = connect(serve(script))
    with pytest.raises(Closed) as closed:
        receive(ws)
    assert str(closed.value) == f"WebSocket closed by the server {says}"
    assert closed.value.code == code
    ws.close()  # nothing more to say: the close handshake is done
    assert done.wait(10)
    assert seen["after"] == b"", "the client sent more after the closing handshake"
    # The answer echoes the code (RFC 6455 section 5.5.1), and no reason; without a code, an
    # empty body (a one-byte body is not a valid close, so it is not echoed).
    echoed = b"" if code is None else struct.pack("!H", code)
    assert seen["answer"] == (True, CLOSE, True, echoed)


def test_close_waits_for_the_server_and_is_bounded(serve):
    seen = {}

    def script(peer):
        peer.read_request()
        peer.upgrade()
        seen["close"] = peer.read_frame()
        time.sleep(TIMEOUT * 3)  # never answers the close

    ws = connect(serve(script))
    started = time.monotonic()
    ws.close()
    assert time.monotonic() - started < TIMEOUT + 0.5
    assert seen["close"] == (True, CLOSE, True, struct.pack("!H", 1000))


def test_close_answered_by_the_server_ends_without_a_second_close(serve):
    # RFC 6455 section 5.5.1: once both sides sent a close frame, the connection just ends; the
    # server's answer to ours is not a close to answer again.
    seen = {}
    done = threading.Event()

    def script(peer):
        peer.read_request()
        peer.upgrade()
        seen["close"] = peer.read_frame()
        peer.send_frame(CLOSE, struct.pack("!H", 1000))
        peer.sock.settimeout(5)
        seen["after"] = peer.sock.recv(64)
        done.set()

    connect(serve(script)).close()
    assert done.wait(10)
    assert seen["close"] == (True, CLOSE, True, struct.pack("!H", 1000))
    assert seen["after"] == b"", "the client sent more after the closing handshake"


def test_a_frame_whose_first_two_bytes_arrive_apart_is_read_whole(serve):
    def script(peer):
        peer.read_request()
        peer.upgrade()
        peer.sock.sendall(bytes([0x81]))
        time.sleep(0.3)  # the client has read the first byte, and waits for the length
        peer.sock.sendall(bytes([5]) + b"<ok/>")

    assert receive(connect(serve(script))) == b"<ok/>"


def test_a_continuation_that_comes_later_completes_the_message(serve):
    def script(peer):
        peer.read_request()
        peer.upgrade()
        peer.send_frame(TEXT, b"<mess", fin=False)
        time.sleep(0.3)  # the client has read the first part, and waits for the rest
        peer.send_frame(CONTINUATION, b"age/>")

    assert receive(connect(serve(script))) == b"<message/>"


def test_a_connection_broken_while_sending_is_an_endpoint_error():
    ours, theirs = socket.socketpair()
    theirs.close()
    ws = WebSocket(ours, TIMEOUT, b"")
    try:
        with pytest.raises(EndpointError, match=r"^the WebSocket connection broke \("):
            ws.send_text("<a/>")
    finally:
        ours.close()


def test_silence_is_none_after_the_wait_and_a_cut_frame_an_error(serve):
    def script(peer):
        peer.read_request()
        peer.upgrade()
        time.sleep(0.8)
        peer.sock.sendall(bytes([0x81, 10]) + b"<a")  # ten bytes announced, two sent
        time.sleep(TIMEOUT * 2.5)

    ws = connect(serve(script))
    started = time.monotonic()
    assert receive(ws, wait=0) is None  # no time to wait: nothing, at once
    assert receive(ws, wait=0.3) is None
    assert 0.25 < time.monotonic() - started < 0.6
    with pytest.raises(EndpointError, match="stopped in the middle of a WebSocket frame"):
        receive(ws)
    assert time.monotonic() - started < 0.8 + TIMEOUT + 0.6


def test_the_xmpp_stream_opens_restarts_and_closes_in_order(serve):
    said = []

    def script(peer):
        peer.read_request()
        peer.upgrade()
        for _ in range(2):  # the first <open/>, then the one after SASL
            said.append(peer.read_frame()[3].decode())
            peer.send_frame(TEXT, f"<open xmlns='{FRAMING_NS}' from='d' version='1.0'/>".encode())
        said.append(peer.read_frame()[3].decode())
        peer.send_frame(TEXT, f"<close xmlns='{FRAMING_NS}'/>".encode())
        said.append(peer.read_frame()[:2])
        peer.send_frame(CLOSE, struct.pack("!H", 1000))

    session = WebSocketSession(serve(script), Dialer(None, TIMEOUT), "meet.probe.invalid")
    assert session.open(Deadline(10)) == []
    assert session.restart(Deadline(10)) == []
    session.close()
    opening = f"<open xmlns='{FRAMING_NS}' to='meet.probe.invalid' version='1.0'/>"
    assert said == [opening, opening, f"<close xmlns='{FRAMING_NS}'/>", (True, CLOSE)]


def test_a_websocket_the_server_closes_terminates_the_session(serve):
    # No <close/> first: the server ends the WebSocket itself (nginx or Prosody going away).
    def script(peer):
        peer.read_request()
        peer.upgrade()
        peer.read_frame()
        peer.send_frame(CLOSE, struct.pack("!H", 1001) + b"going away")
        peer.read_frame()  # the client's answering close

    session = WebSocketSession(serve(script), Dialer(None, TIMEOUT), "meet.probe.invalid")
    with pytest.raises(SessionTerminated, match=r"WebSocket closed by the server \(1001: going"):
        session.open(Deadline(10))
    session.close()


@pytest.mark.parametrize(
    ("answer", "condition"),
    [
        (
            "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
            "<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
            "host-unknown",
        ),
        (f"<close xmlns='{FRAMING_NS}'/>", "the server closed the stream"),
    ],
)
def test_a_stream_the_server_ends_terminates_the_session(serve, answer, condition):
    seen = {}
    read = threading.Event()

    def script(peer):
        peer.read_request()
        peer.upgrade()
        peer.read_frame()
        peer.send_frame(TEXT, answer.encode())
        peer.send_frame(CLOSE, struct.pack("!H", 1000))
        seen["after"] = peer.read_frame()
        read.set()

    session = WebSocketSession(serve(script), Dialer(None, TIMEOUT), "meet.probe.invalid")
    with pytest.raises(SessionTerminated, match=condition):
        session.open(Deadline(10))
    session.close()
    # The stream is over: no <close/> on it, only the WebSocket's own closing handshake (which
    # the stand-in's thread may read after close() has returned: wait for it, bounded).
    assert read.wait(10)
    assert seen["after"][:2] == (True, CLOSE)
