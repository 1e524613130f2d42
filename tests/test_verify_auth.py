"""scripts/verify_auth against a real Prosody, run as a subprocess as users run it.

Checks 1, 2, 3 and 5 run over BOSH and over WebSocket (straight to Prosody's HTTP port, or BOSH
through the nginx-like front that serves config.js); each failure must show on both.
"""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from focus_component import FocusComponent
from support import SCRIPTS
from verify_auth_harness import (
    BOTH,
    COMPONENT_SECRET,
    DOMAIN,
    FOCUS,
    GUEST,
    MODERATORS,
    Lab,
    closed_port,
    config_js,
    credentials,
    direct,
    lines,
    probe,
    shown_while_running,
    site,
)

TRANSPORTS = ["bosh", "websocket"]


@pytest.fixture
def lab(request) -> Lab:
    return Lab(request)


def on_both(result, status: str, number: int) -> list[str]:
    """One line of `status` for check `number` over each transport (and no more)."""
    found = [lines(result, status, number, over) for over in TRANSPORTS]
    assert all(len(each) == 1 for each in found), result.stdout + result.stderr
    return [each[0] for each in found]


def direct_to(port: int) -> list[str]:
    """Both transports' URLs on one loopback port, whatever (if anything) listens there."""
    return [
        *["--bosh-url", f"http://127.0.0.1:{port}/http-bind", "--transports", BOTH],
        *["--websocket-url", f"ws://127.0.0.1:{port}/xmpp-websocket"],
    ]


@pytest.mark.parametrize("guest_auth", ["anonymous", "jitsi-anonymous"])
def test_secured_server_passes_every_check(lab, guest_auth):
    server = lab.prosody(site(guest_auth=guest_auth))
    focus = lab.focus(server)
    front = lab.front(server, config_js(GUEST))
    # BOSH through the front (so config.js is served), WebSocket straight to Prosody.
    ws = f"ws://127.0.0.1:{server.http_port}/xmpp-websocket"
    result = probe(
        credentials(), "--bosh-url", front.url, "--transports", BOTH, "--websocket-url", ws
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for number, count in [(1, 2), (2, 2), (3, 2 * (len(MODERATORS) + 1)), (4, 1), (5, 2)]:
        assert len(lines(result, "PASS", number)) == count, result.stdout
    assert "FAIL" not in result.stdout and "SKIP" not in result.stdout
    # The focus saw what jicofo sees, over each transport: a guest refused, a moderator accepted.
    assert [(jid.split("@")[1].split("/")[0], answer) for jid, answer in focus.requests] == [
        (GUEST, "not-authorized"),
        (DOMAIN, "result"),
    ] * 2
    # Every BOSH session the probe opened, it also closed.
    log = server.log()
    assert log.count("New BOSH session") == log.count("BOSH client disconnected: session close")


def test_anonymous_main_host_fails_check_1(lab):
    server = lab.prosody(site(main_auth="anonymous"), accounts=False)
    result = probe("", *direct(server))
    assert result.returncode == 1
    assert all("anyone can open rooms" in line for line in on_both(result, "FAIL", 1))


def test_guest_host_that_refuses_anonymous_fails_check_2(lab):
    server = lab.prosody(site(guest_auth="internal_hashed"))
    result = probe(credentials(), *direct(server))
    assert result.returncode == 1
    assert all("guests cannot join" in line for line in on_both(result, "FAIL", 2))
    assert len(lines(result, "PASS", 1)) == 2  # the server itself answers fine


def test_guest_host_the_server_does_not_serve_fails_check_2(lab):
    # BOSH terminates the session (improper-addressing), WebSocket sends a stream error
    # (host-unknown): either way the session ends, and the check says so.
    server = lab.prosody(site())
    result = probe("", *direct(server), "--guest-domain", "guest.other.invalid", guest=False)
    assert result.returncode == 1
    for line, over in zip(on_both(result, "FAIL", 2), TRANSPORTS, strict=True):
        assert f"the server ended the {over} session (" in line
        assert line.endswith("is the host served by this server?")


def test_wrong_moderator_password_fails_check_3(lab):
    server = lab.prosody(site())
    focus = lab.focus(server)
    wrong = "not-" + MODERATORS["alice"]
    result = probe(credentials(alice=wrong), *direct(server))
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL 3 moderator")]
    assert len(failed) == 2 and all("not-authorized" in line for line in failed), result.stdout
    assert wrong not in result.stdout + result.stderr
    # Check 5 cannot show a moderator's room without a moderator who logs in: it says so, and
    # points at check 3, rather than passing on the guest's refusal alone.
    for line in on_both(result, "SKIP", 5):
        assert line.endswith("guest refused; moderator alice cannot log in (check 3)"), line
    assert [answer for _, answer in focus.requests] == ["not-authorized"] * 2


def test_without_front_config_js_skips_and_without_moderators_check_3_skips(lab):
    server = lab.prosody(site(), accounts=False)
    lab.focus(server)
    result = probe("", *direct(server))
    assert result.returncode == 0, result.stdout
    assert "config.js not served (HTTP 404)" in lines(result, "SKIP", 4)[0]
    assert all("no moderator credentials" in line for line in on_both(result, "SKIP", 3))
    # A focus that refuses guests may still refuse everyone: without a moderator, check 5 is
    # not proven either way.
    for line in on_both(result, "SKIP", 5):
        assert "guest refused, but no moderator credentials" in line, line


def test_a_server_offering_only_plain_without_tls_is_not_sent_the_password(lab):
    # Straight to Prosody over plain HTTP, where it offers PLAIN only: the password would travel
    # as is, so the probe sends none, fails check 3 naming what was offered, and check 5 skips.
    server = lab.prosody('disable_sasl_mechanisms = { "SCRAM-SHA-1" }\n' + site())
    lab.focus(server)
    result = probe(credentials(alice=MODERATORS["alice"]), *direct(server))
    assert result.returncode == 1, result.stdout
    # The account's login and the wrong-password try, on each transport: neither is sent (a
    # PLAIN login sent anyway would pass the first, as the server accepts the password).
    failed = lines(result, "FAIL", 3)
    assert len(failed) == 4, result.stdout
    assert all("the server offers PLAIN; the probe needs SCRAM-SHA-1" in x for x in failed)
    assert all("cannot log in (check 3)" in line for line in on_both(result, "SKIP", 5))


def test_a_terminal_on_stdin_means_no_moderators_and_no_waiting(lab):
    # Run by hand without a pipe: the probe must not wait for typing (nor echo a password).
    server = lab.prosody(site(), accounts=False)
    controller, terminal = os.openpty()
    try:
        result = subprocess.run(
            [sys.executable, str(SCRIPTS / "verify_auth"), "--domain", DOMAIN, *direct(server)],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all("no moderator credentials" in line for line in on_both(result, "SKIP", 3))


def test_a_page_that_is_not_jitsis_config_js_skips_check_4(lab):
    # A web server that answers every path with its front page (a common fallback) serves
    # HTML as /config.js: the probe cannot judge it, and says what it got.
    server = lab.prosody(site())
    front = lab.front(server, "<!DOCTYPE html><html><body>Welcome to nginx!</body></html>\n")
    result = probe(credentials(), "--bosh-url", front.url)
    assert result.returncode == 0, result.stdout + result.stderr
    [skipped] = lines(result, "SKIP", 4)
    assert "not a Jitsi Meet config.js: " in skipped, skipped


@pytest.mark.parametrize(
    ("characters", "outcome"),
    [
        (2_000_000, "PASS 4 "),
        (2_000_001, "SKIP 4 "),
    ],
)
def test_a_config_js_of_2_mb_is_read_whole_and_a_larger_one_is_not_judged(lab, characters, outcome):
    # The reader takes up to 2,000,000 characters. A page that long, made of four-byte UTF-8
    # characters, is about 8 MB: it is read to its end, where a later statement overrides the
    # value (a page cut short would lose it, or end inside a comment). One character more is
    # not judged at all. Written out, not imported, so that a changed limit is seen.
    server = lab.prosody(site())
    lab.focus(server)
    head = config_js("guest.other.example.com") + "/* "
    tail = f" */\nconfig.hosts.anonymousdomain = '{GUEST}';\n"
    text = head + "\U0001f4f9" * (characters - len(head) - len(tail)) + tail
    assert len(text) == characters and len(text.encode()) > 7_500_000
    front = lab.front(server, text)
    result = probe(credentials(), "--bosh-url", front.url)
    [judged] = [line for line in result.stdout.splitlines() if line.startswith(f"{outcome[:4]} 4 ")]
    assert judged.startswith(outcome), result.stdout
    if outcome.startswith("SKIP"):
        assert "is larger than" in judged, judged


@pytest.mark.parametrize("anonymousdomain", ["guest.other.example.com", None])
def test_config_js_with_a_wrong_or_no_anonymousdomain_fails_check_4(lab, anonymousdomain):
    server = lab.prosody(site())
    front = lab.front(server, config_js(anonymousdomain))
    result = probe(credentials(), "--bosh-url", front.url)
    assert result.returncode == 1
    assert len(lines(result, "FAIL", 4)) == 1, result.stdout
    assert len(lines(result, "PASS", 1)) == 1  # BOSH through the front works


def test_focus_that_accepts_everyone_fails_check_5(lab):
    server = lab.prosody(site())
    lab.focus(server, accept_everyone=True)
    result = probe(credentials(), *direct(server))
    assert result.returncode == 1
    assert all("a guest was allowed to create a room" in x for x in on_both(result, "FAIL", 5))


def test_focus_that_refuses_moderators_fails_check_5(lab):
    # jicofo whose login-url is not DOMAIN: nobody can open a room.
    server = lab.prosody(site())
    lab.focus(server, login_domain="other.probe.invalid")
    result = probe(credentials(), *direct(server))
    assert result.returncode == 1
    for line in on_both(result, "FAIL", 5):
        assert "moderator alice's request got not-authorized" in line
        assert f"is jicofo's login-url {DOMAIN}?" in line


def test_focus_that_refuses_a_guest_with_another_error_fails_check_5(lab):
    # Only not-authorized is jicofo's authentication at work; `forbidden` is something else.
    server = lab.prosody(site())
    lab.focus(server, refuse_guests_with="forbidden")
    result = probe(credentials(), *direct(server))
    assert result.returncode == 1
    for line in on_both(result, "FAIL", 5):
        assert "a guest's request got forbidden, not not-authorized" in line


@pytest.mark.parametrize("declared", [True, False])
def test_no_focus_component_skips_check_5(lab, declared):
    # Declared but not connected (Prosody bounces the IQ), or not declared at all.
    server = lab.prosody(site(focus=declared))
    result = probe(credentials(), *direct(server))
    assert result.returncode == 0, result.stdout
    assert all("no conference focus answers" in line for line in on_both(result, "SKIP", 5))
    assert not lines(result, "PASS", 5)


def test_a_silent_focus_costs_timeout_not_a_fixed_wait(lab):
    # Check 5 waits --timeout for the focus's answer (plus the poll under way), on each transport.
    server = lab.prosody(site())
    lab.focus(server, silent=True)
    started = time.monotonic()
    result = probe(credentials(), *direct(server), "--timeout", "2")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout
    assert all("(no answer)" in line for line in on_both(result, "SKIP", 5))
    # Measured: about 5 s for both transports (a 12 s floor per ask made it 25 s and more).
    assert elapsed < 10, f"took {elapsed:.1f} s"


def test_focus_wait_fails_check_5_when_no_focus_ever_answers(lab):
    # What `pulumi up` runs: a deployment whose jicofo never came up is not proven, so it fails.
    server = lab.prosody(site())
    command = [sys.executable, str(SCRIPTS / "verify_auth"), "--domain", DOMAIN]
    command += [*direct(server), "--focus-wait", "6"]
    seen: list[tuple[float, str]] = []  # when each line came
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as running:
        running.stdin.write(credentials())
        running.stdin.close()
        started = time.monotonic()
        seen += [(time.monotonic() - started, line.rstrip()) for line in running.stdout]
        assert running.wait(timeout=60) == 1, seen
    assert not [line for _, line in seen if any(pw in line for pw in MODERATORS.values())]
    failed = [(at, line) for at, line in seen if line.startswith("FAIL 5 ")]
    assert [line.endswith("within --focus-wait 6 s: is jicofo running?") for _, line in failed] == [
        True,
        True,
    ], seen
    # One wait for both transports: the second asks once more and fails at once (measured: 0.3
    # s later); a wait of its own would take 6 s again.
    (bosh_at, _), (websocket_at, _) = failed
    assert bosh_at < 15 and websocket_at - bosh_at < 3, seen


def test_focus_wait_waits_for_a_focus_that_starts_late(lab, request):
    # jicofo reconnects a few seconds after secure_domain restarts Prosody and jicofo.
    server = lab.prosody(site())
    focus = FocusComponent(server.component_port, FOCUS, COMPONENT_SECRET, DOMAIN)
    late = threading.Timer(2.0, focus.start)
    late.start()
    request.addfinalizer(lambda: (late.cancel(), late.join(5), focus.stop()))
    result = probe(credentials(), *direct(server), "--focus-wait", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    on_both(result, "PASS", 5)


def test_guest_domain_defaults_to_guest_dot_domain(lab):
    server = lab.prosody(site())
    lab.focus(server)
    result = probe(credentials(), *direct(server), guest=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in on_both(result, "PASS", 2):
        assert line.startswith(f"PASS 2 anonymous login to {GUEST} succeeds")
    on_both(result, "PASS", 5)


def test_closed_port_fails_fast(request):
    port = closed_port(request)
    started = time.monotonic()
    result = probe(credentials(), *direct_to(port))
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    unusable = [line for line in result.stdout.splitlines() if "is unusable" in line]
    assert len(unusable) == 2, result.stdout  # once per transport, then its checks stop
    # Both at check 1: one unusable transport does not keep the next from being tried.
    assert all(x.startswith("FAIL 1 ") for x in unusable), result.stdout
    assert all("cannot connect" in x and "refused" in x.lower() for x in unusable)
    # The summary counts each FAIL line once.
    failed = sum(line.startswith("FAIL ") for line in result.stdout.splitlines())
    assert f", {failed} FAIL," in result.stderr.splitlines()[-1], result.stderr
    assert elapsed < 5, f"took {elapsed:.1f} s"


def test_an_unusable_way_in_is_shown_before_the_next_is_tried(request):
    # The WebSocket port refuses; BOSH's server then says nothing for --timeout 5 s. The first
    # finding must be out meanwhile (a proof cut short still shows it), even where nothing sets
    # PYTHONUNBUFFERED (on the VM, a pipe's output is buffered by default).
    refusing = closed_port(request)
    silent = socket.socket()
    request.addfinalizer(silent.close)
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    options = ["--timeout", "5", "--transports", "websocket,bosh"]
    options += ["--websocket-url", f"ws://127.0.0.1:{refusing}/xmpp-websocket"]
    options += ["--bosh-url", f"http://127.0.0.1:{silent.getsockname()[1]}/http-bind"]
    shown, running = shown_while_running(options, b"is unusable", within=4)
    assert running, "the probe ended before BOSH's timeout"
    assert shown.startswith(b"FAIL 1 ws://") and b"is unusable: " in shown, shown


def test_silent_endpoint_times_out_within_its_limit():
    # Accepts connections but never answers: the probe must give up on its own.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        started = time.monotonic()
        result = probe("", *direct_to(listener.getsockname()[1]), "--timeout", "1")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    unusable = [line for line in result.stdout.splitlines() if "is unusable" in line]
    assert len(unusable) == 2 and all("timed out" in line for line in unusable), result.stdout
    assert elapsed < 12, f"took {elapsed:.1f} s"


def test_prosody_13_secured_server_passes_every_check(lab):
    server = lab.prosody(site(guest_auth="jitsi-anonymous"), version="13")
    lab.focus(server)
    front = lab.front(server, config_js(GUEST))
    ws = f"ws://127.0.0.1:{server.http_port}/xmpp-websocket"
    result = probe(
        credentials(), "--bosh-url", front.url, "--transports", BOTH, "--websocket-url", ws
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout and "SKIP" not in result.stdout
    on_both(result, "PASS", 5)
