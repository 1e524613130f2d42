"""The proof from outside, rehearsed: the probe reaches a real Prosody through a real nginx with
TLS, by a domain that does not resolve, with --connect 127.0.0.1 and the served certificate in
--ca-env, over BOSH and WebSocket, as `pulumi up` runs it from the deployer's machine.

nginx's default server presents a certificate for another name: a probe that did not send the
domain as TLS server name, or checked the certificate against the address, would fail here.
"""

import socket
import ssl

import nginx_front
import pytest
from nginx_front import NginxFront
from prosody_server import free_port
from verify_auth_harness import (
    CA_VARIABLE,
    DOMAIN,
    GUEST,
    MODERATORS,
    Lab,
    closed_port,
    config_js,
    credentials,
    lines,
    probe,
    site,
    through,
)

VERSIONS = ["0.12", "13"]


@pytest.fixture
def lab(request) -> Lab:
    return Lab(request)


def test_the_domain_does_not_resolve():
    # What makes --connect necessary in these tests; RFC 6761 promises it.
    with pytest.raises(OSError):
        socket.getaddrinfo(DOMAIN, 443)


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"prosody-{v}")
def test_secured_server_passes_every_check_from_outside(request, lab, version):
    server = lab.prosody(site(guest_auth="jitsi-anonymous"), version=version)
    lab.focus(server)
    front = lab.nginx(server, config_js(GUEST))
    closed = [closed_port(request), closed_port(request)]
    result = probe(
        credentials(),
        *through(front),
        *["--closed-ports", ",".join(map(str, closed)), "--expect-address", "127.0.0.1"],
        certificate=front.certificate_pem(),
        system=server,  # Prosody 13: the probe on Debian 13's Python 3.13 (strict X.509 checks)
    )
    # A DNS record still missing is a WARN: it never fails the proof.
    assert result.returncode == 0, result.stdout + result.stderr
    for number, count in [(1, 2), (2, 2), (3, 2 * (len(MODERATORS) + 1)), (4, 1), (5, 2), (6, 1)]:
        assert len(lines(result, "PASS", number)) == count, result.stdout
    assert "FAIL" not in result.stdout and "SKIP" not in result.stdout
    [warning] = lines(result, "WARN", 7)
    assert warning.startswith(f"WARN 7 {DOMAIN} has no A record for 127.0.0.1 yet (it does not")
    assert warning.endswith("): create or fix it")
    # Every request reached the domain's server block, by its name, over both transports.
    log = front.access_log().splitlines()
    assert log and all(entry.startswith(f'{DOMAIN} "') for entry in log), log
    assert any('"GET /xmpp-websocket HTTP/1.1" 101' in entry for entry in log), log
    assert any('"POST /http-bind HTTP/1.1" 200' in entry for entry in log), log


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"prosody-{v}")
def test_server_that_accepts_any_password_fails_check_3(lab, version):
    # It offers PLAIN only, which the probe sends because TLS is verified: a wrong password
    # that gets in must fail, over each transport.
    server = lab.prosody(site(main_auth="accept_any"), version=version, accounts=False)
    front = lab.nginx(server, config_js(GUEST))
    result = probe(credentials(), *through(front), certificate=front.certificate_pem())
    assert result.returncode == 1, result.stdout + result.stderr
    for over in ["bosh", "websocket"]:
        wrong = lines(result, "FAIL", 3, over)
        assert len(wrong) == 1 and "a wrong password for alice is refused" in wrong[0]
        assert "the server accepted a wrong password" in wrong[0]
        logged_in = lines(result, "PASS", 3, over)
        assert len(logged_in) == len(MODERATORS) and all("(PLAIN)" in x for x in logged_in)


def test_certificate_not_trusted_makes_both_endpoints_unusable(lab):
    # Without --ca-env the self-signed certificate is not trusted: nothing is sent to it.
    server = lab.prosody(site())
    front = lab.nginx(server, config_js(GUEST))
    options = [o for o in through(front) if o not in ("--ca-env", CA_VARIABLE)]
    result = probe(credentials(), *options)
    assert result.returncode == 1
    unusable = [line for line in result.stdout.splitlines() if " is unusable: " in line]
    assert [line.split()[2].split(":")[0] for line in unusable] == ["https", "wss"], result.stdout
    assert all("TLS certificate not trusted" in line for line in unusable)
    assert not lines(result, "PASS", 1)


def test_front_without_the_websocket_location_fails_the_websocket_checks(lab):
    server = lab.prosody(site())
    lab.focus(server)
    front = lab.nginx(server, config_js(GUEST), websocket=False)
    result = probe(credentials(), *through(front), certificate=front.certificate_pem())
    assert result.returncode == 1
    assert lines(result, "FAIL", 1) == [
        f"FAIL 1 {front.url('/xmpp-websocket', scheme='wss')} is unusable: it answered HTTP 404"
        " Not Found to the WebSocket upgrade (is this the XMPP WebSocket endpoint? Jitsi serves"
        " it at /xmpp-websocket)"
    ]
    # BOSH still proves everything: one broken transport does not hide the other's results.
    for number in [1, 2, 3, 5]:
        assert lines(result, "PASS", number, "bosh"), result.stdout
    assert not [line for line in result.stdout.splitlines() if " over websocket" in line]


def test_the_front_presents_another_certificate_without_the_server_name(lab):
    # The harness's guard: nginx answers a client that names no server with the decoy.
    server = lab.prosody(site(), accounts=False)
    front = lab.nginx(server, None)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", front.port), timeout=5)
    with raw, context.wrap_socket(raw) as tls:
        presented = tls.getpeercert(binary_form=True)
    assert presented == ssl.PEM_cert_to_DER_cert(front.decoy_certificate.read_text())


def test_a_port_another_run_took_first_is_not_mistaken_for_nginx(request, monkeypatch):
    # Two suites at once: a port picked free may be taken before nginx binds it. nginx then
    # never writes its pid file and gives up; the front starts again on another port.
    squatter = socket.socket()
    request.addfinalizer(squatter.close)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    picks = iter([taken])
    monkeypatch.setattr(nginx_front, "free_port", lambda: next(picks, None) or free_port())
    front = NginxFront(free_port(), DOMAIN, None)
    request.addfinalizer(front.stop)
    front.start()
    assert front.port != taken
    assert f"bind() to 127.0.0.1:{taken} failed (98: Address already in use)" in front.error_log()
    # What answers now is the front, with the domain's certificate.
    context = ssl.create_default_context(cadata=front.certificate_pem())
    raw = socket.create_connection(("127.0.0.1", front.port), timeout=5)
    with raw, context.wrap_socket(raw, server_hostname=DOMAIN) as tls:
        assert tls.getpeercert()["subject"] == ((("commonName", DOMAIN),),)
