"""scripts/verify_auth without a server: the config.js reader, argument and stdin errors."""

import io
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest
from support import SCRIPTS, upstream_dir, upstream_version_names

sys.path.insert(0, str(SCRIPTS))  # the tools import as packages of scripts/
from shared import configjs  # noqa: E402
from verify_auth import args as cli  # noqa: E402
from verify_auth import credentials, net, ports, trust  # noqa: E402
from verify_auth.__main__ import probe_from  # noqa: E402
from verify_auth.bosh import BoshSession  # noqa: E402
from verify_auth.net import Deadline, Dialer, EndpointError  # noqa: E402

PASSWORD = "pencil-Secret-42"
# Bad uses of the outside-proof options, and the option each error line must name.
BAD_OPTIONS = [
    (["--transports", "bosh,xmpp"], "--transports"),
    (["--transports", ""], "--transports"),
    (["--websocket-url", "wss://meet.example.com/xmpp-websocket"], "--websocket-url"),
    (["--transports", "websocket", "--websocket-url", "https://x/y"], "--websocket-url"),
    (["--connect", "meet.example.com"], "--connect"),
    (["--connect", "203.0.113.300"], "--connect"),
    (["--expect-address", "somewhere"], "--expect-address"),
    (["--closed-ports", "5222,abc"], "--closed-ports"),
    (["--closed-ports", "0"], "--closed-ports"),
    (["--closed-ports", "70000"], "--closed-ports"),
    (["--closed-ports", "65536"], "--closed-ports"),
    (["--closed-ports", ""], "--closed-ports"),
    (["--ca-env", "1-NOT-A-NAME"], "--ca-env"),
    (["--ca-env", "TEST_CA", "--insecure"], "--ca-env"),
    (["--ca-file", "/etc/hosts", "--ca-env", "TEST_CA"], "--ca-file"),
    (["--bridges", "0"], "--bridges 0"),
    (["--bridges", "1001"], "--bridges 1001"),
    (["--bridges", "two"], "--bridges"),
    (["--bridges", "2", "--bridges-wait", "-1"], "--bridges-wait"),
    (["--bridges", "2", "--bridges-wait", "1801"], "--bridges-wait"),
    (["--bridges", "2", "--jicofo-url", "ftp://127.0.0.1:8888"], "--jicofo-url"),
    (["--bridges", "2", "--jicofo-url", "http://"], "--jicofo-url"),
    (["--bridges-wait", "60"], "need --bridges"),
    (["--jicofo-url", "http://10.0.0.2:8888"], "need --bridges"),
]


@pytest.mark.parametrize("version", upstream_version_names())
def test_config_js_of_every_upstream_version(version):
    path = upstream_dir(version) / "etc/jitsi/meet/meet.example.com-config.js"
    text = path.read_text()
    # Upstream ships the key commented out: that is "not set", not the example value.
    assert configjs.anonymous_domain(text) is None
    enabled = text.replace(
        "// anonymousdomain: 'guest.example.com',", "anonymousdomain: 'guest.meet.example.com',"
    )
    assert configjs.anonymous_domain(enabled) == "guest.meet.example.com"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("var config = { hosts: { domain: 'd', anonymousdomain: \"g.d\" } };", "g.d"),
        ("var config = { hosts: { 'anonymousdomain': 'g.d' } };", "g.d"),
        # A nested object's key, a string and a block comment are not the setting.
        ("var config = { hosts: { x: { anonymousdomain: 'no' } } };", None),
        ("var config = { hosts: { domain: 'anonymousdomain: \"no\"' } };", None),
        ("var config = { hosts: { /* anonymousdomain: 'no', */ domain: 'd' } };", None),
        ("var config = { hosts: {} };\nconfig.hosts.anonymousdomain = 'late.d';", "late.d"),
        (
            "var config = { hosts: { anonymousdomain: 'g.d' } };\n"
            "config.hosts.anonymousdomain = 'l';",
            "l",
        ),
        # A value a reader cannot know without running the code is not a guest host.
        ("var g = 'g.d'; var config = { hosts: { anonymousdomain: g } };", None),
    ],
)
def test_config_js_reader(source, expected):
    assert configjs.anonymous_domain(source) == expected


def test_config_js_reader_refuses_a_page_that_is_not_config_js():
    with pytest.raises(configjs.NotJitsiConfig):
        configjs.anonymous_domain("<html><body>Welcome to nginx!</body></html>")


def run_probe(args: list[str], stdin: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "verify_auth"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "stdin", "names"),
    [
        (["--domain", "localhost"], "", "--domain"),
        (["--domain", "meet..example.com"], "", "--domain"),
        (["--domain", "meet.example.com", "--guest-domain", "guest"], "", "--guest-domain"),
        (["--domain", "meet.example.com"], '{"alice": "' + PASSWORD, "not JSON"),
        (["--domain", "meet.example.com"], '["alice", "' + PASSWORD + '"]', "JSON object"),
        (["--domain", "meet.example.com"], '{"alice": 42}', "alice"),
        (["--domain", "meet.example.com"], '{"alice@other.org": "' + PASSWORD + '"}', "alice"),
        (["--domain", "meet.example.com", "--ca-file", "/etc/hosts", "--insecure"], "", "--ca"),
        (["--domain", "meet.example.com", "--ca-file", "/nonexistent.pem"], "", "--ca-file"),
        (["--domain", "meet.example.com", "--bosh-url", "ftp://x/http-bind"], "", "--bosh-url"),
        *[(["--domain", "meet.example.com", *bad], "", names) for bad, names in BAD_OPTIONS],
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args, stdin, names):
    result = run_probe(args, stdin)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], result.stderr
    assert PASSWORD not in result.stderr


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "--ca-env TEST_CA: the variable is not set or empty"),
        ("", "--ca-env TEST_CA: the variable is not set or empty"),
        (" \n", "--ca-env TEST_CA: the variable is not set or empty"),
        ("not a certificate " + PASSWORD, "--ca-env TEST_CA: the variable does not hold a PEM"),
        (
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            "--ca-env TEST_CA: the variable does not hold a PEM",
        ),
    ],
)
def test_a_ca_env_without_a_certificate_gives_one_line_and_exit_2(value, says):
    env = {} if value is None else {"TEST_CA": value}
    clean = {k: v for k, v in os.environ.items() if k != "TEST_CA"}
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "verify_auth"), "--domain", "d.example.com"]
        + ["--ca-env", "TEST_CA"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean, **env},
    )
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"verify_auth: error: {says}"), line
    assert PASSWORD not in line  # the variable's content is never echoed


@pytest.mark.parametrize("version", upstream_version_names())
def test_the_probe_reads_what_the_configurator_wrote(version):
    # One reader for both tools: what secure() writes is exactly what the probe checks.
    text = (upstream_dir(version) / "etc/jitsi/meet/meet.example.com-config.js").read_text()
    secured = configjs.secure(text + "\nconfig.hosts.anonymousdomain = 'stale';\n", "guest.d")
    assert configjs.anonymous_domain(secured) == "guest.d"
    assert configjs.secure(secured, "guest.d") == secured


@pytest.mark.parametrize(
    "source",
    [
        "var config = { hosts: { domain: 'd' };",  # a brace never closed
        "var config = { hosts: { domain: 'd } };",  # a string never closed
        "var config = { other: {} };",  # no hosts
        "x" * (configjs.MAX_CONFIG_BYTES + 1),
    ],
)
def test_config_js_reader_refuses_what_it_cannot_trust(source):
    with pytest.raises(configjs.NotJitsiConfig):
        configjs.anonymous_domain(source)


def _probe(monkeypatch, *args: str):
    """The probe as the command line builds it, with empty stdin (no moderators)."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    return probe_from(["--domain", "meet.example.com", *args])


def test_a_spent_budget_refuses_to_wait_any_longer():
    with pytest.raises(EndpointError, match="no answer within 0 s"):
        Deadline(0).remaining()
    # A step's own budget never outlasts the run's.
    with pytest.raises(EndpointError, match="no answer within 0 s"):
        Deadline(5, Deadline(0)).remaining()
    assert 4.5 < Deadline(5).remaining() <= 5


@pytest.mark.parametrize(
    ("args", "budget"),
    [
        ([], 15 * 10),  # --timeout is 10 s unless set
        (["--timeout", "4"], 15 * 4),
        (
            ["--timeout", "4", "--transports", "bosh,websocket", "--focus-wait", "30"],
            15 * 4 * 2 + 30,
        ),
        (["--timeout", "2", "--bridges", "3", "--bridges-wait", "600"], 15 * 2 + 15 * 2 + 600),
    ],
)
def test_the_whole_run_is_bounded_by_its_options(monkeypatch, args, budget):
    # 15 --timeout steps per transport, --focus-wait once; check 8 as many more, and its wait.
    assert _probe(monkeypatch, *args).run.seconds == budget


# Each bounded option: its two ends are accepted, and just beyond either end is refused.
RANGES = [
    (["--timeout"], "0.5", "300", "0.4", "300.5"),
    (["--focus-wait"], "0", "600", "-0.5", "600.5"),
    ([], "1", "1000", "0", "1001"),  # --bridges
    (["--bridges", "2", "--bridges-wait"], "0", "1800", "-0.5", "1800.5"),
]


@pytest.mark.parametrize(("option", "low", "high", "below", "above"), RANGES)
def test_each_range_takes_its_ends_and_refuses_beyond_them(
    monkeypatch, option, low, high, below, above
):
    option = option or ["--bridges"]
    for value in (low, high):
        _probe(monkeypatch, *option, value)
    for value in (below, above):
        with pytest.raises(cli.UsageError, match=f"^{option[-1]} {value} is out of range"):
            _probe(monkeypatch, *option, value)


@pytest.mark.parametrize("resolved", [["127.0.0.1"], ["127.0.0.1", "127.0.0.2"]])
def test_check_6_without_connect_knocks_at_the_first_address_the_domain_resolves_to(
    monkeypatch, resolved
):
    refusing = socket.socket()  # bound, never listening: connections to it are refused
    refusing.bind(("127.0.0.1", 0))
    port = refusing.getsockname()[1]
    try:
        probe = _probe(monkeypatch, "--closed-ports", str(port), "--timeout", "2")
        monkeypatch.setattr(ports, "addresses", lambda *_: resolved)
        [result] = ports.ports_closed(probe)
    finally:
        refusing.close()
    assert result.line() == (
        f"PASS 6 ports {port} closed from here: 127.0.0.1: connection refused on {port}"
    )


def test_the_two_label_domain_is_accepted_and_a_missing_one_named(monkeypatch):
    assert _probe(monkeypatch).domain == "meet.example.com"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert probe_from(["--domain", "example.org"]).domain == "example.org"
    result = run_probe([], "")
    assert result.returncode == 2 and "--domain" in result.stderr, result.stderr


def test_a_url_of_the_wrong_kind_names_the_kind(monkeypatch):
    with pytest.raises(cli.UsageError, match="^--bosh-url 'ftp://x/y' is not a http[(]s[)] URL"):
        _probe(monkeypatch, "--bosh-url", "ftp://x/y")
    wrong = "^--websocket-url 'http://x/y' is not a ws[(]s[)] URL"
    with pytest.raises(cli.UsageError, match=wrong):
        _probe(monkeypatch, "--transports", "websocket", "--websocket-url", "http://x/y")


def test_a_ca_file_that_cannot_be_read_when_loaded_is_a_usage_error(monkeypatch, tmp_path):
    # Readable when the options were checked, not when loaded (replaced, or on a failing disk).
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")

    def unreadable(**_):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(trust.ssl, "create_default_context", unreadable)
    with pytest.raises(cli.UsageError, match="is not a PEM CA file .*Permission denied"):
        _probe(monkeypatch, "--ca-file", str(ca))


def late_bosh_server(request, *delays: float) -> urllib.parse.SplitResult:
    """A BOSH server that answers the n-th request on its one connection after delays[n]."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    request.addfinalizer(listener.close)
    body = b"<body xmlns='http://jabber.org/protocol/httpbind' sid='s1'/>"

    def late():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            for delay in delays:
                conn.recv(65536)
                time.sleep(delay)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n"
                conn.sendall(head.encode() + body)

    server = threading.Thread(target=late, daemon=True)
    server.start()
    request.addfinalizer(lambda: server.join(5))
    return urllib.parse.urlsplit(f"http://127.0.0.1:{listener.getsockname()[1]}/http-bind")


def test_a_bosh_session_is_created_within_one_timeout(request):
    # Creating a session is answered at once (XEP-0124): it gets --timeout, not --timeout plus
    # the hold a poll may take. This server answers after 1.5 s; --timeout is 1.
    session = BoshSession(late_bosh_server(request, 1.5), Dialer(None, 1.0), "meet.example.com")
    started = time.monotonic()
    with pytest.raises(EndpointError, match="timed out"):
        session.open(Deadline(10))
    assert time.monotonic() - started < 1.4
    session.close()


def test_a_bosh_session_is_ended_within_one_timeout(request):
    # So is ending one: a server slow to answer the terminate costs --timeout, no more.
    session = BoshSession(late_bosh_server(request, 0, 1.5), Dialer(None, 1.0), "meet.example.com")
    session.open(Deadline(10))
    started = time.monotonic()
    session.close()  # never raises: the session is over for the probe either way
    assert time.monotonic() - started < 1.4


@pytest.mark.parametrize(("size", "accepted"), [(1_000_000, True), (1_000_001, False)])
def test_stdin_of_up_to_1_mb_is_read(monkeypatch, size, accepted):
    data = b'{"alice": "pw"}'.ljust(size)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    if accepted:
        assert credentials.read_stdin() == data.decode()
    else:
        with pytest.raises(credentials.UsageError, match="larger than 1 MB"):
            credentials.read_stdin()


@pytest.mark.parametrize(
    ("insecure", "url", "plain_allowed"),
    [
        (False, "https://meet.example.com/http-bind", True),
        (False, "wss://meet.example.com/xmpp-websocket", True),
        # --insecure: TLS, but nobody checked whose; a password in PLAIN would be handed over.
        (True, "https://meet.example.com/http-bind", False),
        (True, "wss://meet.example.com/xmpp-websocket", False),
        # No TLS at all, whatever the context says.
        (False, "http://meet.example.com/http-bind", False),
        (False, "ws://meet.example.com/xmpp-websocket", False),
    ],
)
def test_plain_is_allowed_only_over_tls_with_a_verified_certificate(
    monkeypatch, insecure, url, plain_allowed
):
    probe = _probe(monkeypatch, *(["--insecure"] if insecure else []))
    assert probe.dialer.secure(urllib.parse.urlsplit(url)) is plain_allowed


def test_stdin_that_is_not_utf_8_is_a_usage_error_that_shows_none_of_it(monkeypatch):
    data = b'{"alice": "pw\xff' + PASSWORD.encode() + b'"}'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    with pytest.raises(credentials.UsageError, match="^stdin is not UTF-8 text$"):
        credentials.read_stdin()


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://meet.example.com/http-bind", 80),
        ("ws://meet.example.com/xmpp-websocket", 80),
        ("https://meet.example.com/http-bind", 443),
        ("wss://meet.example.com/xmpp-websocket", 443),
        ("https://meet.example.com:8443/http-bind", 8443),
    ],
)
def test_a_url_without_a_port_is_reached_at_its_schemes_port(monkeypatch, url, port):
    # Nothing listens here on 80 or 443 (nor may a test bind them: two runs would collide), so
    # the connection attempt is recorded and refused.
    tried = []

    def refuse(address, timeout):
        tried.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(EndpointError, match="cannot connect"):
        Dialer(None, 1.0).open(urllib.parse.urlsplit(url), Deadline(5))
    assert tried == [("meet.example.com", port)]


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (b"is not HTTP at all\r\n\r\n", "GET /config.js: "),
        (b"", "GET /config.js: "),  # closed without a word
    ],
)
def test_a_get_answered_with_no_http_is_an_endpoint_error(request, answer, says):
    # Whatever http.client makes of it (its own errors, not OSErrors), the check gets an
    # EndpointError to report, not a traceback.
    listener = socket.socket()
    request.addfinalizer(listener.close)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(10)

    def answer_once():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            conn.recv(65536)
            conn.sendall(answer)

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    url = urllib.parse.urlsplit(f"http://127.0.0.1:{listener.getsockname()[1]}/config.js")
    with pytest.raises(EndpointError, match=f"^{says}"):
        net.get(Dialer(None, 5.0), url, Deadline(10))
    thread.join(10)
    assert not thread.is_alive()


# RFC 1035: a name is at most 253 characters written out (255 bytes on the wire), and a label
# at most 63; a final dot does not count.
LONGEST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


@pytest.mark.parametrize(
    ("name", "accepted"),
    [(LONGEST, True), (LONGEST + ".", True), (LONGEST + "d", False), ("a" * 64 + ".org", False)],
)
def test_a_domain_of_up_to_253_characters_is_accepted(name, accepted):
    assert len(LONGEST) == 253
    if accepted:
        assert cli.fqdn(name, "--domain") == LONGEST
    else:
        with pytest.raises(cli.UsageError, match="--domain .* is not a fully qualified domain"):
            cli.fqdn(name, "--domain")


def test_closed_ports_are_1_to_65535():
    assert cli.ports("1, 65535,1") == (1, 65535)
