"""The probe's BOSH client when the server misbehaves, against a scripted HTTP server here: at
the edges of its size limit and of XEP-0124, so that each refusal, and each thing that must not be
refused, is seen."""

import re
import socket
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from typing import NamedTuple

import pytest
from support import SCRIPTS

sys.path.insert(0, str(SCRIPTS))  # the tools import as packages of scripts/
from verify_auth.bosh import BoshSession  # noqa: E402
from verify_auth.net import Deadline, Dialer, EndpointError  # noqa: E402
from verify_auth.xmpp import XmppClient  # noqa: E402

TIMEOUT = 1.0
# The size limit the probe promises ("larger than 1 MB"), written out rather than imported, so
# that a changed constant is seen.
LIMIT = 1_000_000
BOSH_NS = "http://jabber.org/protocol/httpbind"
WAIT = 5.0  # no step of the BOSH stand-in blocks longer than this
STEP = 0.1  # how often its waits look whether the test has stopped it
# In a BOSH script: read the request, then close the connection without answering it.
HANG_UP = None
NGINX_PAGE = b"<html><head><title>error</title></head><body>nginx</body></html>"


def ok(body: str, *headers: str) -> tuple[str, tuple[str, ...], bytes]:
    """A 200 answer in a BOSH script, with extra header lines."""
    return "200 OK", headers, body.encode()


class Request(NamedTuple):
    connection: int  # the TCP connection it came on, counted from 0
    line: str
    headers: dict[str, str]
    body: ET.Element


class BoshStandIn:
    """An HTTP server on 127.0.0.1 and a free port that answers each request with the next of
    `answers` (status, header lines, body; or HANG_UP), then with an empty BOSH <body/>, and
    records every request; `errors` holds what its thread raised."""

    def __init__(self, answers):
        self._answers = list(answers)
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self._listener.settimeout(STEP)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> "BoshStandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=WAIT * 2)
        self._listener.close()

    def _serve(self) -> None:
        try:
            connection = 0
            while not self._stop.is_set():
                try:
                    sock, _ = self._listener.accept()
                except TimeoutError:
                    continue
                with sock:
                    self._converse(sock, connection)
                connection += 1
        except BaseException as error:  # handed to the test, which fails on it
            self.errors.append(error)

    def _recv(self, sock: socket.socket) -> bytes:
        """The next bytes; b"" at the end of the connection or once the test stops us."""
        deadline = time.monotonic() + WAIT
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                return sock.recv(65536)
            except TimeoutError:
                continue
        return b""

    def _converse(self, sock: socket.socket, connection: int) -> None:
        sock.settimeout(STEP)
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = self._recv(sock)
                if not chunk:
                    return  # the client is done with this connection
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            line, *lines = head.decode().split("\r\n")
            headers = {}
            for header in lines:
                name, _, value = header.partition(":")
                headers[name.strip().lower()] = value.strip()
            size = int(headers["content-length"])
            while len(data) < size:
                chunk = self._recv(sock)
                if not chunk:
                    raise ConnectionError("the client sent half a request")
                data += chunk
            body, data = data[:size], data[size:]
            self.requests.append(Request(connection, line, headers, ET.fromstring(body)))  # noqa: S314
            answer = self._answers.pop(0) if self._answers else ok(f"<body xmlns='{BOSH_NS}'/>")
            if answer is HANG_UP:
                return
            status, extra, content = answer
            lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(content)}", *extra]
            sock.settimeout(WAIT)  # one answer may be over a megabyte
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + content)
            sock.settimeout(STEP)
            if "Connection: close" in extra:
                return


@pytest.fixture
def bosh(request):
    """bosh(*answers) -> (stand-in, session): a BOSH session to a stand-in answering `answers`;
    the session is closed and the stand-in stopped after the test, and its errors fail it."""

    def start(*answers):
        server = BoshStandIn(answers).start()
        url = urllib.parse.urlsplit(f"http://127.0.0.1:{server.port}/http-bind")
        session = BoshSession(url, Dialer(None, TIMEOUT), "meet.probe.invalid")

        def finish():
            session.close()
            server.stop()
            assert not server.errors, server.errors

        request.addfinalizer(finish)
        return server, session

    return start


SESSION = f"<body xmlns='{BOSH_NS}' sid='s1'/>"


def test_requests_carry_consecutive_rids_and_the_session(bosh):
    # XEP-0124 section 7: each request's rid is one more than the last one's, or the server
    # ends the session; every request after the first names the session.
    server, session = bosh(ok(SESSION))
    session.open(Deadline(10))
    session.send("<presence xmlns='jabber:client'/>", Deadline(10))
    session.restart(Deadline(10))
    session.close()
    bodies = [request.body for request in server.requests]
    assert len(bodies) == 4
    first = int(bodies[0].get("rid"))
    assert [int(body.get("rid")) for body in bodies] == [first, first + 1, first + 2, first + 3]
    assert [body.get("sid") for body in bodies] == [None, "s1", "s1", "s1"]
    assert {request.line for request in server.requests} == {"POST /http-bind HTTP/1.1"}
    assert server.requests[0].headers["content-type"] == "text/xml; charset=utf-8"
    # Creation asks for one request held at a time, for at most --timeout (1 s) each.
    opening = bodies[0].attrib
    assert (opening["to"], opening["hold"], opening["wait"], opening["ver"]) == (
        "meet.probe.invalid",
        "1",
        "1",
        "1.6",
    )
    assert bodies[2].get("{urn:xmpp:xbosh}restart") == "true"
    # close() ends the session on the server, going offline first.
    assert bodies[3].get("type") == "terminate"
    assert [child.get("type") for child in bodies[3]] == ["unavailable"]


@pytest.mark.parametrize(
    ("headers", "connections"),
    [((), [0, 0]), (("Connection: close",), [0, 1])],
)
def test_an_answer_that_closes_its_connection_makes_the_next_request_open_one(
    bosh, headers, connections
):
    # A kept-alive connection is used again; one the server closes after its answer cannot be.
    server, session = bosh(ok(SESSION, *headers))
    session.open(Deadline(10))
    assert session.send("", Deadline(10)) == []
    assert [request.connection for request in server.requests] == connections


@pytest.mark.parametrize(
    "status",
    [
        "404 Not Found",
        "503 Service Unavailable",
        # Below 200 is no answer either (a 1xx is only ever an interim one).
        "101 Switching Protocols",
    ],
)
def test_an_http_error_is_refused_with_a_hint(bosh, status):
    _, session = bosh((status, (), NGINX_PAGE))
    hint = "(is this the BOSH endpoint? Jitsi serves it at /http-bind)"
    with pytest.raises(EndpointError, match=f"^{re.escape(f'it answered HTTP {status} {hint}')}$"):
        session.open(Deadline(10))


def test_an_answer_that_is_not_http_is_no_usable_answer(bosh):
    # A status line without a number is no HTTP answer (http.client raises its own error, not
    # an OSError): the probe says so instead of crashing.
    _, session = bosh(("is-not-a-status", (), b""))
    with pytest.raises(EndpointError, match=r"^no usable answer \("):
        session.open(Deadline(10))


def test_a_session_whose_stream_never_opens_is_terminated(bosh):
    # The server creates the session but never sends the stream's features: when the client
    # gives up, it still ends the session, rather than leaving it to time out on the server.
    server, session = bosh(ok(SESSION))
    with (
        pytest.raises(EndpointError, match="timed out|no answer within"),
        XmppClient(session, Deadline(1.5)),
    ):
        pass
    assert server.requests[-1].body.get("type") == "terminate"


@pytest.mark.parametrize(
    ("timeout", "wait"), [(0.5, "1"), (1.0, "1"), (3.9, "3"), (5.0, "5"), (30.0, "5")]
)
def test_the_server_may_hold_a_poll_for_whole_seconds_within_the_timeout(request, timeout, wait):
    # XEP-0124's `wait` is whole seconds: at least 1, at most 5, never more than --timeout
    # (rounded down), so that a short --timeout also means short waits.
    server = BoshStandIn([ok(SESSION)]).start()
    request.addfinalizer(server.stop)
    url = urllib.parse.urlsplit(f"http://127.0.0.1:{server.port}/http-bind")
    session = BoshSession(url, Dialer(None, timeout), "meet.probe.invalid")
    request.addfinalizer(session.close)
    session.open(Deadline(10))
    assert (server.requests[0].body.get("wait"), server.requests[0].body.get("hold")) == (wait, "1")


def padded(size: int) -> str:
    """A session answer of exactly `size` bytes (whitespace inside the <body/>)."""
    head, tail = f"<body xmlns='{BOSH_NS}' sid='s1'>", "</body>"
    return head + " " * (size - len(head) - len(tail)) + tail


def test_an_answer_of_exactly_1_mb_is_read(bosh):
    _, session = bosh(ok(padded(LIMIT)))
    assert session.open(Deadline(10)) == []
    assert session.sid == "s1"


def test_an_answer_over_1_mb_is_refused(bosh):
    # One byte over, and well-formed: refused for its size alone.
    _, session = bosh(ok(padded(LIMIT + 1)))
    with pytest.raises(EndpointError, match=r"^the server's answer is larger than 1 MB$"):
        session.open(Deadline(10))


@pytest.mark.parametrize(
    ("body", "tag"),
    [
        (NGINX_PAGE.decode(), "html"),
        ("<body sid='s1'/>", "body"),  # a <body/>, but not BOSH's (no namespace)
    ],
)
def test_an_answer_that_is_not_a_bosh_body_is_refused(bosh, body, tag):
    _, session = bosh(ok(body))
    message = f"the server's answer is not a BOSH <body/> (got <{tag}>)"
    with pytest.raises(EndpointError, match=f"^{re.escape(message)}$"):
        session.open(Deadline(10))


@pytest.mark.parametrize(
    "body", [f"<body xmlns='{BOSH_NS}'/>", f"<body xmlns='{BOSH_NS}' sid=''/>"]
)
def test_a_session_answer_without_a_sid_is_refused(bosh, body):
    _, session = bosh(ok(body))
    with pytest.raises(EndpointError, match=r"^the server's session answer has no sid \(not a"):
        session.open(Deadline(10))


@pytest.mark.parametrize(
    ("answers", "asked"),
    [
        ([ok(SESSION), ("500 Internal Server Error", (), NGINX_PAGE)], True),
        ([ok(SESSION), HANG_UP], True),
        # The server went away: the terminate cannot even connect.
        ([ok(SESSION, "Connection: close")], False),
    ],
    ids=["http-error", "hang-up", "gone"],
)
def test_a_terminate_that_fails_still_closes_quietly(bosh, answers, asked):
    server, session = bosh(*answers)
    session.open(Deadline(10))
    if not asked:
        server.stop()
    started = time.monotonic()
    session.close()  # best effort: nothing to raise, the probe has its verdict already
    assert time.monotonic() - started < TIMEOUT + 0.5
    assert session.sid is None
    said = [request.body.get("type") for request in server.requests]
    assert said == ([None, "terminate"] if asked else [None])
