"""`moderators sync` on a real Prosody (0.12 and 13): the accounts it manages become exactly
the list, checked from outside with a real XMPP client; a second run writes nothing; accounts
made by hand are never touched; bad input changes nothing; passwords reach no argv or environment.
"""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from moderator_harness import (
    DOMAIN,
    UPSTREAM_NEWEST,
    VERSIONS,
    moderator,
    moderator_argv,
    record_path,
    recorded_names,
    remove_listed,
    secured_site,
    snapshot,
    start_server,
    sync_args,
    sync_moderators,
)
from support import require
from test_moderator_repo_layout import repo_layout, run_moderator
from test_moderator_secrets import RECORDER, files_containing
from xmpp_login import password_login

EXIT_PROSODY, EXIT_INPUT, EXIT_CONFIG = 1, 2, 3
THREE = {"alice": "alice-Secret-1", "bob": "bob-Secret-2", "carol": "carol-Secret-3"}


@pytest.fixture(params=VERSIONS, ids=lambda v: f"prosody-{v}")
def prosody(request, tmp_path):
    server = start_server(request.param, secured_site(tmp_path, UPSTREAM_NEWEST))
    request.addfinalizer(server.stop)
    return server


def synced(server, passwords, expected: str, **kwargs) -> None:
    result = sync_moderators(server, passwords, **kwargs)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == (expected, "")


def logs_in(server, user: str, password: str) -> bool:
    return password_login(server.c2s_port, f"{user}@{DOMAIN}", password)


def test_sync_creates_every_listed_account_and_records_it(prosody):
    synced(prosody, THREE, "Added: alice, bob, carol\n")
    for user, password in THREE.items():
        assert logs_in(prosody, user, password)
        assert not logs_in(prosody, user, password + "-wrong")
    assert recorded_names(prosody) == ["alice", "bob", "carol"]
    record = record_path(prosody)
    assert (record.stat().st_mode & 0o777, record.parent.stat().st_mode & 0o777) == (0o600, 0o700)


def test_second_identical_sync_changes_no_byte_nor_mtime(prosody):
    synced(prosody, THREE, "Added: alice, bob, carol\n")
    before = snapshot(prosody)
    synced(prosody, THREE, "Unchanged: alice, bob, carol\n")
    assert snapshot(prosody) == before


def test_one_changed_password_rewrites_that_account_only(prosody):
    synced(prosody, THREE, "Added: alice, bob, carol\n")
    before = snapshot(prosody)
    synced(prosody, {**THREE, "bob": "bob-Secret-new"}, "Changed: bob\nUnchanged: alice, carol\n")
    after = snapshot(prosody)
    changed = [path for path in before if after[path] != before[path]]
    assert [path.rsplit("/", 2)[-2:] for path in changed] == [["accounts", "bob.dat"]]
    assert set(after) == set(before)
    assert not logs_in(prosody, "bob", THREE["bob"])
    assert logs_in(prosody, "bob", "bob-Secret-new")


def test_a_name_dropped_from_the_list_is_removed_and_leaves_the_record(prosody):
    synced(prosody, THREE, "Added: alice, bob, carol\n")
    two = {"alice": THREE["alice"], "carol": THREE["carol"]}
    synced(prosody, two, "Removed: bob\nUnchanged: alice, carol\n")
    assert not logs_in(prosody, "bob", THREE["bob"])
    assert logs_in(prosody, "alice", THREE["alice"])
    assert recorded_names(prosody) == ["alice", "carol"]
    # An empty list: no moderators at all.
    synced(prosody, {}, "Removed: alice, carol\n", names="")
    assert recorded_names(prosody) == []
    assert not logs_in(prosody, "alice", THREE["alice"])


def test_hand_made_accounts_are_never_touched(prosody):
    made = prosody.prosodyctl("adduser", f"dave@{DOMAIN}", stdin="dave-pw\ndave-pw\n")
    assert made.returncode == 0, made.stdout + made.stderr
    daves = {k: v for k, v in snapshot(prosody).items() if k.endswith("/dave.dat")}
    assert daves, "dave's account file not found where Prosody stores accounts"
    synced(prosody, THREE, "Added: alice, bob, carol\n")
    synced(prosody, {}, "Removed: alice, bob, carol\n", names="")
    assert {k: v for k, v in snapshot(prosody).items() if k.endswith("/dave.dat")} == daves
    assert logs_in(prosody, "dave", "dave-pw")
    assert "dave" not in recorded_names(prosody)


def test_listing_an_existing_account_adopts_it_without_rewriting_it(prosody):
    # How the first sync meets accounts the earlier per-account `set` made: they become managed.
    assert moderator(prosody, "set", "dave", "--domain", DOMAIN, password="dave-pw").returncode == 0
    before = snapshot(prosody)
    synced(prosody, {"dave": "dave-pw"}, "Unchanged: dave\n")
    assert recorded_names(prosody) == ["dave"]
    assert {k: v for k, v in snapshot(prosody).items() if k in before} == before
    synced(prosody, {}, "Removed: dave\n", names="")
    assert not logs_in(prosody, "dave", "dave-pw")


def test_remove_of_a_listed_name_keeps_it(prosody):
    synced(prosody, THREE, "Added: alice, bob, carol\n")
    before = snapshot(prosody)
    result = remove_listed(prosody, "alice")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"Kept alice@{DOMAIN}: it is one of the stack's moderators (jitsi:moderators); "
        "remove it there\n"
    )
    assert snapshot(prosody) == before
    assert logs_in(prosody, "alice", THREE["alice"])


def test_remove_of_an_unlisted_name_works(prosody):
    synced(prosody, {"alice": THREE["alice"]}, "Added: alice\n")
    made = prosody.prosodyctl("adduser", f"dave@{DOMAIN}", stdin="dave-pw\ndave-pw\n")
    assert made.returncode == 0, made.stdout + made.stderr
    result = remove_listed(prosody, "dave")
    assert (result.returncode, result.stdout) == (0, f"Removed dave@{DOMAIN}\n"), result.stderr
    assert not logs_in(prosody, "dave", "dave-pw")
    assert recorded_names(prosody) == ["alice"]


def test_sync_works_with_prosodys_own_package_layout(tmp_path):
    # Prosody 13 from packages.prosody.im (test_moderator_repo_layout): the batched check finds
    # Prosody on Lua's module path, so the second run must still see "Unchanged".
    server = start_server("13", secured_site(tmp_path, UPSTREAM_NEWEST))
    try:
        bin_dir, env = repo_layout(server)
        for expected in ("Added: alice, bob\n", "Unchanged: alice, bob\n"):
            args = sync_args(server, "alice,bob")
            stdin = json.dumps({"alice": THREE["alice"], "bob": THREE["bob"]})
            done = run_moderator(server, bin_dir, env, *args, stdin=stdin)
            assert (done.returncode, done.stdout) == (0, expected), done.stderr
        assert logs_in(server, "bob", THREE["bob"])
    finally:
        server.stop()


# --- refusals: one server per version; each case proves it changed nothing ---------------------

SECRET = "refused-Secret-77"
# Every case below would otherwise add carol: "nothing changed" then means something.
PENDING = {"alice": SECRET, "carol": SECRET + "c"}


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"prosody-{v}")
def managed(request, tmp_path_factory):
    site = secured_site(tmp_path_factory.mktemp("site"), UPSTREAM_NEWEST)
    server = start_server(request.param, site)
    request.addfinalizer(server.stop)
    synced(server, {"alice": SECRET}, "Added: alice\n")
    return server


BAD_INPUT = [
    ("alice,carol,erin", json.dumps(PENDING), ["only in --names: erin"]),
    ("alice", json.dumps(PENDING), ["only in stdin: carol"]),
    ("alice,Carol", json.dumps(PENDING), ["invalid name in --names 'Carol'"]),
    ("alice,carol,", json.dumps(PENDING), ["invalid name in --names ''"]),
    ("alice,alice", json.dumps({"alice": SECRET}), ["--names lists a name twice"]),
    ("alice", json.dumps({"alice": SECRET, "Carol": SECRET}), ["invalid name on stdin"]),
    ("alice", f'{{"alice": "{SECRET}", "alice": "{SECRET}x"}}', ["names a moderator twice"]),
    ("alice,carol", json.dumps({**PENDING, "carol": ""}), ["password of carol", "non-empty"]),
    ("alice,carol", json.dumps({**PENDING, "carol": 7}), ["password of carol", "JSON string"]),
    ("alice,carol", json.dumps({**PENDING, "carol": None}), ["password of carol"]),
    ("alice,carol", json.dumps({**PENDING, "carol": f"{SECRET}\nx"}), ["control character"]),
    ("alice,carol", json.dumps({**PENDING, "carol": f"{SECRET}\tx"}), ["control character"]),
    ("alice,carol", json.dumps({**PENDING, "carol": f"{SECRET}\r"}), ["control character"]),
    ("alice,carol", f'{{"alice": "{SECRET}", "carol": "\\ud800"}}', ["invalid Unicode"]),
    ("alice,carol", f"alice: {SECRET}", ["stdin is not JSON"]),
    ("alice,carol", f'{{"alice": "{SECRET}\\q"}}', ["stdin is not JSON"]),
    ("alice,carol", "", ["stdin is not JSON"]),
    ("alice,carol", json.dumps(list(PENDING.items())), ["one JSON object"]),
]


@pytest.mark.parametrize(("names", "stdin", "words"), BAD_INPUT)
def test_bad_input_is_refused_and_changes_nothing(managed, names, stdin, words):
    assert_refused(managed, sync_args(managed, names), stdin, EXIT_INPUT, words)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sync", "alice", "--domain", DOMAIN, "--names", "alice"], ["takes no USER"]),
        (["sync", "--domain", DOMAIN], ["needs --names"]),
        (["set", "alice", "--domain", DOMAIN, "--names", "alice"], ["takes no --names"]),
    ],
    ids=["user", "no-names", "names-for-set"],
)
def test_usage_mistakes_are_refused(managed, args, words):
    assert_refused(managed, args, json.dumps(PENDING), EXIT_INPUT, [*words, "see --help"])


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", ["not JSON"]),
        ('{"managed": "alice"}', ['not {"managed"']),
        ('{"managed": ["alice", "Bob"]}', ['not {"managed"']),
        ('{"managed": ["alice"], "other": 1}', ['not {"managed"']),
        ("\xff", ["not JSON"]),
        (None, ["Is a directory"]),
    ],
    ids=["not-json", "not-a-list", "bad-name", "extra-key", "not-utf8", "directory"],
)
@pytest.mark.parametrize("action", ["sync", "remove"])
def test_bad_record_is_refused_and_changes_nothing(managed, tmp_path, action, content, words):
    bad = managed.host_dir / "bad-record" / f"{tmp_path.name}.json"
    bad.parent.mkdir(exist_ok=True)
    if content is None:
        bad.mkdir()
    else:
        bad.write_bytes(content.encode("latin-1"))
    args = sync_args(managed, "alice,carol", bad)
    if action == "remove":
        args = ["remove", "alice", "--domain", DOMAIN, "--record", args[-1]]
    before = bad.read_bytes() if content is not None else None
    assert_refused(managed, args, json.dumps(PENDING), EXIT_CONFIG, [str(args[-1]), *words])
    assert (bad.read_bytes() if content is not None else None) == before


def test_domain_not_ready_is_refused(managed):
    args = ["sync", "--domain", f"guest.{DOMAIN}", "--names", "alice,carol"]
    args += ["--record", managed.inside(record_path(managed))]
    assert_refused(managed, args, json.dumps(PENDING), EXIT_CONFIG, ["internal_hashed"])


def assert_refused(server, args, stdin, code, words) -> None:
    before = snapshot(server)
    result = moderator(server, *args, stdin=stdin)
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr
    assert SECRET not in result.stderr
    assert snapshot(server) == before
    assert recorded_names(server) == ["alice"]


# --- a stopped Prosody 13 ----------------------------------------------------------------------


def test_prosody13_stopped_fails_clearly_when_a_change_is_pending(tmp_path):
    server = start_server("13", secured_site(tmp_path, UPSTREAM_NEWEST))
    try:
        synced(server, {"alice": SECRET}, "Added: alice\n")
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=10)
        # Nothing to change: the check reads the stored accounts, no server needed.
        synced(server, {"alice": SECRET}, "Unchanged: alice\n")
        started = time.monotonic()
        result = sync_moderators(server, {"alice": SECRET, "bob": SECRET + "b"})
        assert time.monotonic() - started < 10
        assert result.returncode == EXIT_PROSODY, result.stdout
        assert result.stdout == "Unchanged: alice\n"
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert "could not create bob@" in result.stderr
        assert "is it running?" in result.stderr
        assert SECRET not in result.stdout + result.stderr
        # Recorded before creating: the next run (server up) creates bob, or removes him.
        assert recorded_names(server) == ["alice", "bob"]
    finally:
        server.stop()


# --- passwords in no argv or environment -----------------------------------------------------

FIRST = {"alice": "alice-Trace-5d1c", "bob": "bob-Trace-8e2f"}
SECOND = {"alice": "alice-Trace-3b7a", "carol": "carol-Trace-6c9d"}
SECRETS = [*FIRST.values(), *SECOND.values()]


def traced(argv: list[str], stdin: str, log) -> subprocess.CompletedProcess:
    """argv under strace: every execve of the whole process tree, full argv and environment."""
    tracer = ["strace", "-f", "-e", "trace=execve", "-s", "4096", "-v", "-o", str(log)]
    return subprocess.run(
        [*tracer, *argv], input=stdin, capture_output=True, text=True, timeout=120
    )


# Each run of the sequence, what it prints, and the account commands it must run (the trace and
# the recording prove nothing unless they saw those, and the stored-account check).
RUNS = [
    (FIRST, "Added: alice, bob\n", ["adduser alice@", "adduser bob@"]),
    (SECOND, "Added: carol\nChanged: alice\nRemoved: bob\n", ["adduser carol@", "passwd alice@"]),
    (SECOND, "Unchanged: alice, carol\n", []),
]


def assert_no_secret_anywhere(server, outputs: list[str]) -> None:
    """Not in the tool's output, nor any file: config, data path, record, Prosody's log."""
    for secret in SECRETS:
        assert not any(secret in output for output in outputs)
        assert files_containing(server.host_dir, secret) == []


def test_passwords_reach_no_argv_nor_environment_of_any_process(prosody, tmp_path):
    require(shutil.which("strace") is not None, "strace is not installed (apt install strace)")
    outputs = []
    for run, (passwords, expected, commands) in enumerate(RUNS):
        log = tmp_path / f"execve-{run}.log"
        argv = moderator_argv(prosody, *sync_args(prosody, ",".join(sorted(passwords))))
        result = traced(argv, json.dumps(passwords), log)
        assert (result.returncode, result.stdout) == (0, expected), result.stderr
        outputs.append(result.stdout + result.stderr)
        calls = log.read_text()
        assert '"-e", "arg = {' in calls and "util.sasl.scram" in calls
        for command in commands:
            assert '"{}", "{}'.format(*command.split()) in calls
        if run == 1:
            assert f'"deluser", "bob@{DOMAIN}"' in calls
        for secret in SECRETS:
            assert secret not in calls
    assert_no_secret_anywhere(prosody, outputs)
    assert logs_in(prosody, "alice", SECOND["alice"])


# `set` and `remove`, each run traced like sync above: what each prints, and the commands its
# trace must show (the stored-account check, then Prosody's own account commands).
SET_AND_REMOVE = [
    (["set", "alice"], FIRST["alice"], "Created", ["check", "adduser alice@"]),
    # adduser refuses an existing account; passwd follows with the same stdin.
    (["set", "alice"], SECOND["alice"], "Changed password of", ["check", "passwd alice@"]),
    (["set", "alice"], SECOND["alice"], "Kept", ["check"]),
    (["remove", "alice"], None, "Removed", ["deluser alice@"]),
]


def test_set_and_remove_pass_passwords_to_no_argv_nor_environment(prosody, tmp_path):
    require(shutil.which("strace") is not None, "strace is not installed (apt install strace)")
    outputs = []
    for run, (args, password, said, commands) in enumerate(SET_AND_REMOVE):
        log = tmp_path / f"execve-{run}.log"
        argv = moderator_argv(prosody, *args, "--domain", DOMAIN)
        stdin = "" if password is None else f"{password}\n"
        result = traced(argv, stdin, log)
        assert result.returncode == 0 and result.stdout.startswith(said), result.stderr
        outputs.append(result.stdout + result.stderr)
        calls = log.read_text()
        for command in commands:
            if command == "check":
                assert '"-e", "arg = {' in calls and "util.sasl.scram" in calls
            else:
                assert '"{}", "{}'.format(*command.split()) in calls
        for secret in SECRETS:
            assert secret not in calls
    assert_no_secret_anywhere(prosody, outputs)
    assert not logs_in(prosody, "alice", SECOND["alice"])


def test_passwords_reach_no_lua_process_argv_nor_environment(prosody):
    # The same sequence with test_moderator_secrets' recording `lua5.4` first on PATH: the
    # interpreter of prosodyctl and of both checks.
    folder = prosody.host_dir / "recorder"
    folder.mkdir()
    calls = folder / "calls.log"
    (folder / "lua5.4").write_text(RECORDER.format(log=prosody.inside(calls)))
    (folder / "lua5.4").chmod(0o755)
    outputs = []
    for passwords, expected, _ in RUNS:
        result = sync_moderators(prosody, passwords, path_first=prosody.inside(folder))
        assert (result.returncode, result.stdout) == (0, expected), result.stderr
        outputs.append(result.stdout + result.stderr)
    recorded = calls.read_text()
    assert "\n-e\narg = {" in recorded
    for command in [c for run in RUNS for c in run[2]] + [f"deluser bob@{DOMAIN}"]:
        assert command.replace(" ", "\n") in recorded
    for secret in SECRETS:
        assert secret not in recorded
    assert_no_secret_anywhere(prosody, outputs)


def test_the_trace_does_see_a_password_given_on_the_command_line(prosody, tmp_path):
    # The control: the same trace catches `prosodyctl register`, which takes it in argv.
    require(shutil.which("strace") is not None, "strace is not installed (apt install strace)")
    log = tmp_path / "execve.log"
    argv = prosody.command(["prosodyctl", "--config", prosody.config, "register", "bob", DOMAIN])
    result = traced([*argv, FIRST["bob"]], "", log)
    assert result.returncode == 0, result.stdout + result.stderr
    assert FIRST["bob"] in log.read_text()
