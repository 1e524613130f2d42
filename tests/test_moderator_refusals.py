"""The moderator tool refuses bad input and unready servers with one clear line, a non-zero exit and
nothing changed; a stopped or hung Prosody gives an error, not a hang."""

import os
import signal
import time

import pytest
from moderator_harness import (
    DOMAIN,
    GUEST,
    UPSTREAM_NEWEST,
    VERSIONS,
    moderator,
    secured_site,
    set_moderator,
    start_server,
    stored_files,
)
from xmpp_login import password_login

SECRET = "refusal-test-secret"
EXIT_PROSODY, EXIT_INPUT, EXIT_CONFIG = 1, 2, 3


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"prosody-{v}")
def prosody(request, tmp_path_factory):
    """One server per version for all refusals: each test proves it changed nothing."""
    site = secured_site(tmp_path_factory.mktemp("site"), UPSTREAM_NEWEST)
    server = start_server(request.param, site)
    request.addfinalizer(server.stop)
    # An existing moderator, so that "nothing changed" also covers changing an account.
    assert set_moderator(server, "alice", SECRET).returncode == 0
    return server


def assert_refused(prosody, args, stdin, code, *words):
    before = stored_files(prosody)
    result = moderator(prosody, *args, stdin=stdin)
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]
    assert SECRET not in result.stderr
    assert stored_files(prosody) == before


@pytest.mark.parametrize(
    "user", ["Alice", ".alice", "-alice", "a" * 65, "al ice", f"alice@{DOMAIN}", "", "ålice"]
)
@pytest.mark.parametrize("action", ["set", "remove"])
def test_invalid_user_is_refused(prosody, action, user):
    # After "--", so that the tool's own rule (not the option parser) judges names like -alice.
    args = [action, "--domain", DOMAIN, "--", user]
    assert_refused(prosody, args, f"{SECRET}\n", EXIT_INPUT, "invalid USER")


@pytest.mark.parametrize(
    "args",
    [["set", "alice"], ["add", "alice", "--domain", DOMAIN], ["set", "--domain", DOMAIN]],
    ids=["no-domain", "unknown-action", "no-user"],
)
def test_usage_mistakes_are_refused_in_one_line(prosody, args):
    assert_refused(prosody, args, f"{SECRET}\n", EXIT_INPUT, "see --help")


@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        ("", ["empty password"]),
        ("\n", ["empty password"]),
        (f"{SECRET}\nsecond line\n", ["more than one line"]),
        (f"{SECRET}\n\n", ["more than one line"]),
    ],
    ids=["nothing", "empty-line", "two-lines", "trailing-blank-line"],
)
def test_bad_password_input_is_refused(prosody, stdin, words):
    assert_refused(prosody, ["set", "alice", "--domain", DOMAIN], stdin, EXIT_INPUT, *words)
    assert password_login(prosody.c2s_port, f"alice@{DOMAIN}", SECRET)


@pytest.mark.parametrize(
    ("domain", "code", "words"),
    [
        ("other.example.com", EXIT_CONFIG, ["other.example.com", "not configured"]),
        (GUEST, EXIT_CONFIG, ['"jitsi-anonymous"', "internal_hashed", "scripts/secure_domain"]),
        (f"conference.{DOMAIN}", EXIT_CONFIG, ["Component"]),
        (f"auth.{DOMAIN}", EXIT_CONFIG, [f"--domain {DOMAIN}"]),
        ("Meet.Example.com", EXIT_INPUT, ["invalid --domain"]),
    ],
    ids=["not-configured", "anonymous-host", "component", "internal-auth-host", "not-lowercase"],
)
@pytest.mark.parametrize("action", ["set", "remove"])
def test_unsuitable_domain_is_refused(prosody, action, domain, code, words):
    args = [action, "alice", "--domain", domain]
    assert_refused(prosody, args, f"{SECRET}\n", code, *words)


def test_unreadable_config_is_refused(prosody):
    args = ["set", "alice", "--domain", DOMAIN, "--prosody-config", "/nonexistent.cfg.lua"]
    assert_refused(prosody, args, f"{SECRET}\n", EXIT_CONFIG, "/nonexistent.cfg.lua")


def stop_prosody(server) -> None:
    os.killpg(server.process.pid, signal.SIGTERM)
    server.process.wait(timeout=10)


@pytest.fixture
def prosody13(tmp_path):
    server = start_server("13", secured_site(tmp_path, UPSTREAM_NEWEST))
    yield server
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGCONT)
    server.stop()


@pytest.mark.parametrize("action", ["set", "remove"])
def test_prosody13_stopped_gives_a_clear_error(prosody13, action):
    stop_prosody(prosody13)
    started = time.monotonic()
    result = moderator(prosody13, action, "alice", "--domain", DOMAIN, stdin=f"{SECRET}\n")
    assert time.monotonic() - started < 10
    assert result.returncode == EXIT_PROSODY, result.stdout
    assert result.stdout == ""
    assert "is it running?" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert SECRET not in result.stderr


def test_prosody13_not_answering_times_out(prosody13):
    os.killpg(prosody13.process.pid, signal.SIGSTOP)
    args = ["set", "alice", "--domain", DOMAIN, "--timeout", "2"]
    started = time.monotonic()
    result = moderator(prosody13, *args, stdin=f"{SECRET}\n")
    assert time.monotonic() - started < 10
    assert result.returncode == EXIT_PROSODY
    assert "did not finish within 2 s" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_prosody012_accounts_can_be_set_while_stopped(tmp_path):
    # Prosody 0.12's account commands work on the stored data directly, like Jitsi's postinst.
    server = start_server("0.12", secured_site(tmp_path, UPSTREAM_NEWEST))
    try:
        stop_prosody(server)
        assert set_moderator(server, "alice", SECRET).returncode == 0
        server.start()
        assert password_login(server.c2s_port, f"alice@{DOMAIN}", SECRET)
    finally:
        server.stop()
