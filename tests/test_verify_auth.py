"""scripts/verify_auth against a real Prosody over BOSH, run as a subprocess as users run it."""

import json
import socket
import subprocess
import sys
import threading
import time

import pytest
from focus_component import FocusComponent
from jitsi_front import JitsiFront
from prosody_server import ProsodyServer, free_port, prosody13_root
from support import SCRIPTS, upstream_dir

DOMAIN, GUEST = "meet.example.com", "guest.meet.example.com"
FOCUS = f"focus.{DOMAIN}"
COMPONENT_SECRET = "focus-component-secret"
MODERATORS = {"alice": "Alice-pw-7f3kq9", "bob": "Bob-pw-2m8zx4"}


def site(main_auth: str = "internal_hashed", guest_auth: str = "anonymous", focus=True) -> str:
    # http_default_host: BOSH requests straight to Prosody carry Host 127.0.0.1, not the domain.
    text = f"""http_default_host = "{DOMAIN}"
VirtualHost "{DOMAIN}"
    authentication = "{main_auth}"
    modules_enabled = {{ "bosh" }}
VirtualHost "{GUEST}"
    authentication = "{guest_auth}"
"""
    if focus:
        text += f'Component "{FOCUS}"\n    component_secret = "{COMPONENT_SECRET}"\n'
    return text


@pytest.fixture
def start_server(request):
    """start_server(site_text, root=None) -> a running Prosody with the test's moderators."""

    def start(text: str, root=None, accounts=True) -> ProsodyServer:
        server = ProsodyServer(text, root=root)
        request.addfinalizer(server.stop)
        server.start()
        for user, password in MODERATORS.items() if accounts else []:
            made = server.prosodyctl("adduser", f"{user}@{DOMAIN}", stdin=f"{password}\n" * 2)
            assert made.returncode == 0, made.stdout + made.stderr
        return server

    return start


@pytest.fixture
def start_focus(request):
    def start(server: ProsodyServer, accept_everyone=False, silent=False) -> FocusComponent:
        focus = FocusComponent(server.component_port, FOCUS, COMPONENT_SECRET, DOMAIN)
        focus.accept_everyone, focus.silent = accept_everyone, silent
        request.addfinalizer(focus.stop)
        return focus.start()

    return start


@pytest.fixture
def start_front(request):
    def start(server: ProsodyServer, config_js: str | None) -> JitsiFront:
        front = JitsiFront(server.http_port, DOMAIN, config_js)
        request.addfinalizer(front.stop)
        return front.start()

    return start


def bosh_url(server: ProsodyServer) -> str:
    return f"http://127.0.0.1:{server.http_port}/http-bind"


def probe(url: str, stdin: str, *extra: str, guest=True) -> subprocess.CompletedProcess:
    args = ["--domain", DOMAIN, "--bosh-url", url, *extra]
    if guest:
        args += ["--guest-domain", GUEST]
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "verify_auth"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    for password in [*MODERATORS.values(), COMPONENT_SECRET]:
        assert password not in result.stdout + result.stderr
    return result


def lines(result: subprocess.CompletedProcess, status: str, number: int) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(f"{status} {number} ")]


def credentials(**accounts: str) -> str:
    return json.dumps(accounts or MODERATORS)


def config_js(anonymousdomain: str | None) -> str:
    text = (
        upstream_dir("2026-07_master-abf901a") / "etc/jitsi/meet/meet.example.com-config.js"
    ).read_text()
    if anonymousdomain is None:
        return text
    return text.replace(
        "// anonymousdomain: 'guest.example.com',", f"anonymousdomain: '{anonymousdomain}',"
    )


@pytest.mark.parametrize("guest_auth", ["anonymous", "jitsi-anonymous"])
def test_secured_server_passes_every_check(start_server, start_focus, start_front, guest_auth):
    server = start_server(site(guest_auth=guest_auth))
    focus = start_focus(server)
    front = start_front(server, config_js(GUEST))
    result = probe(front.url, credentials())
    assert result.returncode == 0, result.stdout + result.stderr
    for number, count in [(1, 1), (2, 1), (3, len(MODERATORS) + 1), (4, 1), (5, 1)]:
        assert len(lines(result, "PASS", number)) == count, result.stdout
    assert "FAIL" not in result.stdout and "SKIP" not in result.stdout
    # The focus saw what jicofo sees: a guest refused, then a moderator accepted.
    assert [(jid.split("@")[1].split("/")[0], answer) for jid, answer in focus.requests] == [
        (GUEST, "not-authorized"),
        (DOMAIN, "result"),
    ]
    # Every BOSH session the probe opened, it also closed.
    log = server.log()
    assert log.count("New BOSH session") == log.count("BOSH client disconnected: session close")


def test_anonymous_main_host_fails_check_1(start_server):
    server = start_server(site(main_auth="anonymous"), accounts=False)
    result = probe(bosh_url(server), "")
    assert result.returncode == 1
    assert len(lines(result, "FAIL", 1)) == 1, result.stdout
    assert "anyone can open rooms" in result.stdout


def test_wrong_moderator_password_fails_check_3(start_server):
    server = start_server(site())
    result = probe(bosh_url(server), credentials(alice="not-" + MODERATORS["alice"]))
    assert result.returncode == 1
    assert lines(result, "FAIL", 3) and "not-authorized" in lines(result, "FAIL", 3)[0]
    assert "not-" + MODERATORS["alice"] not in result.stdout + result.stderr


def test_without_front_config_js_skips_and_without_moderators_check_3_skips(start_server):
    server = start_server(site(), accounts=False)
    result = probe(bosh_url(server), "")
    assert result.returncode == 0, result.stdout
    assert "config.js not served (HTTP 404)" in lines(result, "SKIP", 4)[0]
    assert "no moderator credentials" in lines(result, "SKIP", 3)[0]


@pytest.mark.parametrize("anonymousdomain", ["guest.other.example.com", None])
def test_config_js_with_a_wrong_or_no_anonymousdomain_fails_check_4(
    start_server, start_front, anonymousdomain
):
    server = start_server(site())
    front = start_front(server, config_js(anonymousdomain))
    result = probe(front.url, credentials())
    assert result.returncode == 1
    assert len(lines(result, "FAIL", 4)) == 1, result.stdout
    assert len(lines(result, "PASS", 1)) == 1  # BOSH through the front works


def test_focus_that_accepts_everyone_fails_check_5(start_server, start_focus):
    server = start_server(site())
    start_focus(server, accept_everyone=True)
    result = probe(bosh_url(server), credentials())
    assert result.returncode == 1
    assert "a guest was allowed to create a room" in lines(result, "FAIL", 5)[0]


@pytest.mark.parametrize("declared", [True, False])
def test_no_focus_component_skips_check_5(start_server, declared):
    # Declared but not connected (Prosody bounces the IQ), or not declared at all.
    server = start_server(site(focus=declared))
    result = probe(bosh_url(server), credentials())
    assert result.returncode == 0, result.stdout
    assert "no conference focus answers" in lines(result, "SKIP", 5)[0]
    assert not lines(result, "PASS", 5)


def test_focus_that_never_answers_skips_check_5_in_bounded_time(start_server, start_focus):
    server = start_server(site())
    start_focus(server, silent=True)
    started = time.monotonic()
    result = probe(bosh_url(server), credentials(), "--timeout", "2")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout
    assert "(no answer)" in lines(result, "SKIP", 5)[0]
    assert elapsed < 30, f"took {elapsed:.1f} s"


def test_focus_wait_fails_check_5_when_no_focus_ever_answers(start_server):
    # What `pulumi up` runs: a deployment whose jicofo never came up is not proven, so it fails.
    server = start_server(site())
    started = time.monotonic()
    result = probe(bosh_url(server), credentials(), "--focus-wait", "4")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout
    assert "within --focus-wait 4 s" in lines(result, "FAIL", 5)[0]
    assert elapsed < 30, f"took {elapsed:.1f} s"


def test_focus_wait_waits_for_a_focus_that_starts_late(start_server, request):
    # jicofo reconnects a few seconds after secure_domain restarts Prosody and jicofo.
    server = start_server(site())
    focus = FocusComponent(server.component_port, FOCUS, COMPONENT_SECRET, DOMAIN)
    late = threading.Timer(2.0, focus.start)
    late.start()
    request.addfinalizer(lambda: (late.cancel(), late.join(5), focus.stop()))
    result = probe(bosh_url(server), credentials(), "--focus-wait", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(lines(result, "PASS", 5)) == 1


def test_guest_domain_defaults_to_guest_dot_domain(start_server, start_focus):
    server = start_server(site())
    start_focus(server)
    result = probe(bosh_url(server), credentials(), guest=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result, "PASS", 2)[0].startswith(f"PASS 2 anonymous login to {GUEST} succeeds")
    assert len(lines(result, "PASS", 5)) == 1


def test_closed_port_fails_fast():
    port = free_port()  # nothing listens there
    started = time.monotonic()
    result = probe(f"http://127.0.0.1:{port}/http-bind", credentials())
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "cannot connect" in result.stdout and "refused" in result.stdout.lower()
    assert elapsed < 5, f"took {elapsed:.1f} s"


def test_silent_endpoint_times_out_within_its_limit():
    # Accepts connections but never answers: the probe must give up on its own.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/http-bind"
        started = time.monotonic()
        result = probe(url, "", "--timeout", "1")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "timed out" in result.stdout
    assert elapsed < 12, f"took {elapsed:.1f} s"


def test_prosody_13_secured_server_passes_every_check(start_server, start_focus, start_front):
    server = start_server(site(guest_auth="jitsi-anonymous"), root=prosody13_root())
    start_focus(server)
    front = start_front(server, config_js(GUEST))
    result = probe(front.url, credentials())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout and "SKIP" not in result.stdout
    assert len(lines(result, "PASS", 5)) == 1
