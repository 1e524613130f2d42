"""The moderator tool on a real Prosody (0.12 and 13), checked from outside: a real XMPP client
logs in, or is refused, after each change."""

import pytest
from moderator_harness import (
    DOMAIN,
    GUEST,
    UPSTREAM_NEWEST,
    UPSTREAM_OLDEST,
    VERSIONS,
    remove_moderator,
    secured_site,
    set_moderator,
    start_server,
    stored_files,
)
from xmpp_login import anonymous_login, password_login

ALICE = f"alice@{DOMAIN}"


@pytest.fixture(params=VERSIONS, ids=lambda v: f"prosody-{v}")
def prosody(request, tmp_path):
    """A running Prosody serving the newest upstream site file as the configurator secures it."""
    server = start_server(request.param, secured_site(tmp_path, UPSTREAM_NEWEST))
    request.addfinalizer(server.stop)
    return server


def assert_done(result, message: str) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{message}\n"


def test_set_creates_an_account_that_logs_in_with_its_password_only(prosody):
    assert_done(set_moderator(prosody, "alice", "first secret"), f"Created {ALICE}")
    assert password_login(prosody.c2s_port, ALICE, "first secret")
    assert not password_login(prosody.c2s_port, ALICE, "wrong secret")


def test_domain_refuses_anonymous_logins_and_guest_host_accepts_them(prosody):
    assert not anonymous_login(prosody.c2s_port, DOMAIN)
    assert anonymous_login(prosody.c2s_port, GUEST)


def test_set_again_replaces_the_password(prosody):
    set_moderator(prosody, "alice", "old secret")
    assert_done(set_moderator(prosody, "alice", "new secret"), f"Changed password of {ALICE}")
    assert not password_login(prosody.c2s_port, ALICE, "old secret")
    assert password_login(prosody.c2s_port, ALICE, "new secret")


def stored_state(server) -> dict:
    """Bytes and mtime of what Prosody stores, but cron.dat: Prosody 13 rewrites that on its own
    schedule, which a busy machine (two test runs at once) can put between two snapshots."""
    data = server.host_dir / "data"
    return {
        p: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in data.rglob("*.dat")
        if p.name != "cron.dat"
    }


def test_set_with_the_same_password_writes_nothing(prosody):
    # A re-run of the deployment must not rewrite accounts (a new salt each time, found by the
    # rehearsal): the stored account is checked first, with Prosody's own SCRAM code.
    set_moderator(prosody, "alice", "same secret")
    before = stored_state(prosody)
    assert_done(
        set_moderator(prosody, "alice", "same secret"), f"Kept {ALICE} (password unchanged)"
    )
    assert stored_state(prosody) == before
    assert password_login(prosody.c2s_port, ALICE, "same secret")
    # A password that only starts like the stored one is a change.
    assert_done(set_moderator(prosody, "alice", "same secret!"), f"Changed password of {ALICE}")


def test_remove_ends_logins_and_a_second_remove_succeeds(prosody):
    set_moderator(prosody, "alice", "a secret")
    assert_done(remove_moderator(prosody, "alice"), f"Removed {ALICE}")
    assert not password_login(prosody.c2s_port, ALICE, "a secret")
    assert_done(remove_moderator(prosody, "alice"), f"{ALICE} was already absent")


def test_other_accounts_are_untouched_by_set_and_remove(prosody):
    bob = f"bob@{DOMAIN}"
    assert prosody.prosodyctl("adduser", bob, stdin="bob secret\nbob secret\n").returncode == 0
    bobs_files = {k: v for k, v in stored_files(prosody).items() if "/bob." in k}
    assert bobs_files, "bob's account file not found where Prosody stores accounts"

    set_moderator(prosody, "alice", "one")
    set_moderator(prosody, "alice", "two")
    remove_moderator(prosody, "alice")

    assert {k: v for k, v in stored_files(prosody).items() if "/bob." in k} == bobs_files
    assert password_login(prosody.c2s_port, bob, "bob secret")


def test_names_with_dots_dashes_and_underscores_work(prosody):
    # Prosody escapes these in file names (%2e, %2d, %5f): the account must still log in.
    assert_done(set_moderator(prosody, "j.doe-2_x", "a secret"), f"Created j.doe-2_x@{DOMAIN}")
    assert password_login(prosody.c2s_port, f"j.doe-2_x@{DOMAIN}", "a secret")


@pytest.mark.parametrize("version", VERSIONS)
def test_works_on_the_oldest_upstream_install_too(version, tmp_path):
    # 2020 installs used "anonymous" (not "jitsi-anonymous") and another file layout.
    server = start_server(version, secured_site(tmp_path, UPSTREAM_OLDEST))
    try:
        assert_done(set_moderator(server, "alice", "a secret"), f"Created {ALICE}")
        assert password_login(server.c2s_port, ALICE, "a secret")
        assert anonymous_login(server.c2s_port, GUEST)
        assert_done(remove_moderator(server, "alice"), f"Removed {ALICE}")
        assert not password_login(server.c2s_port, ALICE, "a secret")
    finally:
        server.stop()


def test_the_tool_leaves_no_byte_code_beside_itself(tmp_path):
    # The deployment ships scripts/ whole, and the program warns about byte code in it. Prosody
    # 13's server runs the tool from its own copy of scripts/, which nothing else imports.
    server = start_server("13", secured_site(tmp_path, UPSTREAM_NEWEST))
    try:
        assert_done(set_moderator(server, "alice", "a secret"), f"Created {ALICE}")
        assert list((server.host_dir / "scripts").rglob("__pycache__")) == []
    finally:
        server.stop()
