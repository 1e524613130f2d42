"""Checks 6 and 7 of scripts/verify_auth: internal ports closed from here, and the DNS record.

Ports: a plain socket listening on 127.0.0.1 stands for an internal port left open; a free port
for a closed one; a listener whose accept queue is full drops new connections, as a firewall
that drops them does.
"""

import errno
import gc
import socket
import sys
import threading
import time
import warnings

import pytest
from support import SCRIPTS
from verify_auth_harness import DOMAIN, Lab, closed_port, direct, lines, probe, site

sys.path.insert(0, str(SCRIPTS))  # the tools import as packages of scripts/
from verify_auth import resolve  # noqa: E402
from verify_auth.ports import NO_ANSWER, OPEN, knock  # noqa: E402
from verify_auth.probe import PASS, WARN  # noqa: E402


@pytest.fixture
def lab(request) -> Lab:
    return Lab(request)


@pytest.fixture
def listening(request):
    """listening() -> the port of a new socket listening on 127.0.0.1 (an open internal port)."""

    def open_one() -> int:
        sock = socket.socket()
        request.addfinalizer(sock.close)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        return sock.getsockname()[1]

    return open_one


@pytest.fixture
def dropping(request):
    """dropping() -> the port of a listener that drops new connections (its queue is full)."""

    def open_one() -> int:
        sock = socket.socket()
        request.addfinalizer(sock.close)
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        for _ in range(3):  # never accepted: they fill the queue
            filler = socket.socket()
            request.addfinalizer(filler.close)
            filler.setblocking(False)
            filler.connect_ex(sock.getsockname())
        return sock.getsockname()[1]

    return open_one


def test_knock_tells_open_refused_and_dropped_apart(request, listening, dropping):
    open_port, closed, dropped = listening(), closed_port(request), dropping()
    started = time.monotonic()
    found = knock("127.0.0.1", (open_port, closed, dropped), 1.0)
    elapsed = time.monotonic() - started
    assert found == {open_port: OPEN, closed: "Connection refused", dropped: NO_ANSWER}
    assert elapsed < 2, f"took {elapsed:.1f} s"


def test_knock_closes_every_socket_it_opened(request, listening, dropping):
    # Check 6 knocks at eight ports at once; each socket is closed when it is done, not left
    # to the garbage collector (Python warns of a socket it has to close itself).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        knock("127.0.0.1", (listening(), closed_port(request), dropping()), 1.0)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_knock_takes_an_immediate_refusal_as_closed(monkeypatch):
    # Some systems refuse (or find no route) during connect() itself, before any waiting.
    class RefusedAtOnce(socket.socket):
        def connect_ex(self, address):
            return errno.ECONNREFUSED

    monkeypatch.setattr(socket, "socket", RefusedAtOnce)
    assert knock("127.0.0.1", (5222,), 1.0) == {5222: "Connection refused"}


def test_knock_takes_an_immediate_connection_as_open(monkeypatch, listening):
    # ... and some connect at once (a non-blocking connect() that returns 0): open all the same.
    port = listening()

    class ConnectedAtOnce(socket.socket):
        def connect_ex(self, address):
            self.settimeout(5)
            self.connect(address)
            self.setblocking(False)
            return 0

    monkeypatch.setattr(socket, "socket", ConnectedAtOnce)
    assert knock("127.0.0.1", (port,), 1.0) == {port: OPEN}


def test_an_open_internal_port_fails_check_6_and_closed_ones_pass(request, lab, listening):
    server = lab.prosody(site())
    internal, closed = listening(), closed_port(request)
    result = probe("", *direct(server), "--connect", "127.0.0.1", "--closed-ports", f"{closed}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result, "PASS", 6) == [
        f"PASS 6 ports {closed} closed from here: 127.0.0.1: connection refused on {closed}"
    ]
    ports = f"{closed},{internal}"
    result = probe("", *direct(server), "--connect", "127.0.0.1", "--closed-ports", ports)
    assert result.returncode == 1
    assert lines(result, "FAIL", 6) == [
        f"FAIL 6 ports {ports} closed from here: 127.0.0.1 accepts a connection on port"
        f" {internal}: firewall it"
    ]


def test_ports_that_drop_connections_pass_check_6_within_one_timeout(request, dropping):
    # Seven filtered ports cost one --timeout in all, not one each. No server: checks 1 to 5
    # find the endpoint unusable at once.
    ports = ",".join(str(dropping()) for _ in range(7))
    started = time.monotonic()
    result = probe(
        "",
        *["--bosh-url", f"http://127.0.0.1:{closed_port(request)}/http-bind"],
        *["--connect", "127.0.0.1"],
        *["--closed-ports", ports, "--timeout", "1"],
    )
    elapsed = time.monotonic() - started
    assert lines(result, "PASS", 6) == [
        f"PASS 6 ports {ports} closed from here: 127.0.0.1: no answer on {ports.replace(',', ', ')}"
    ]
    assert elapsed < 4, f"took {elapsed:.1f} s"


def test_check_6_without_connect_needs_the_domain_to_resolve(request):
    unusable = f"http://127.0.0.1:{closed_port(request)}/http-bind"
    result = probe("", "--bosh-url", unusable, "--closed-ports", "5222")
    [failed] = lines(result, "FAIL", 6)
    assert failed.startswith(f"FAIL 6 ports 5222 closed from here: cannot tell: {DOMAIN}: it does")
    assert failed.endswith("; give --connect ADDRESS")


class FakeProbe:
    domain = "meet.example.org"
    timeout = 0.5

    def __init__(self, expect_address: str):
        self.expect_address = expect_address


def answers(*addresses: str):
    """A getaddrinfo that answers with these addresses, in this order."""

    def getaddrinfo(name, port, family=0, kind=0, *rest):
        assert name == FakeProbe.domain
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, kind, 6, "", (a, 0))
            for a in addresses
        ]

    return getaddrinfo


def test_check_7_passes_when_the_domain_resolves_to_the_address(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", answers("198.51.100.7", "203.0.113.10"))
    [result] = resolve.address_expected(FakeProbe("203.0.113.10"))
    assert (result.status, result.line()) == (
        PASS,
        "PASS 7 meet.example.org resolves to 203.0.113.10",
    )


@pytest.mark.parametrize(
    ("expected", "found", "line"),
    [
        (
            "203.0.113.10",
            ["198.51.100.7"],
            "meet.example.org has no A record for 203.0.113.10 yet (it resolves to 198.51.100.7)",
        ),
        (
            "2001:db8::10",
            ["2001:db8::7%eth0"],
            "meet.example.org has no AAAA record for 2001:db8::10 yet (it resolves to 2001:db8::7)",
        ),
    ],
)
def test_check_7_warns_naming_the_record_to_fix(monkeypatch, expected, found, line):
    monkeypatch.setattr(socket, "getaddrinfo", answers(*found))
    [result] = resolve.address_expected(FakeProbe(expected))
    assert (result.status, result.line()) == (WARN, f"WARN 7 {line}: create or fix it")


def test_check_7_warns_when_the_resolver_does_not_answer_in_time(monkeypatch):
    def stuck(*args, **kwargs):
        time.sleep(3)
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    started = time.monotonic()
    [result] = resolve.address_expected(FakeProbe("203.0.113.10"))
    assert time.monotonic() - started < 1.5
    assert result.line() == (
        "WARN 7 meet.example.org has no A record for 203.0.113.10 yet"
        " (no DNS answer within 0.5 s): create or fix it"
    )
    # The question is still out, in a thread the probe leaves behind: one that does not hold
    # the process at its exit (a stuck resolver may take minutes to give up).
    asking = [t for t in threading.enumerate() if t.name.endswith("(ask)") and t.is_alive()]
    assert asking and all(t.daemon for t in asking), asking
