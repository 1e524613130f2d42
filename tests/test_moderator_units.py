"""The account tool's rules one by one, in-process: names, passwords, the record, the order of
Prosody's commands, what each outcome prints, and how prosodyctl is found and read.

The other moderator tests run the whole tool against a real Prosody; these pin the rules that
those show only as a final outcome (which command goes first when both would succeed, the
exact boundaries of a valid name, the wording of each error). Prosody itself stands in here as
a recording fake (for the command order) or as a fake prosodyctl on disk (for how the tool
reads and runs it). Run in-process in about a second: tests/mutation.sh puts them first.
"""

import io
import json
import os
import stat
import sys

import pytest
from support import SCRIPTS

sys.path.insert(0, str(SCRIPTS))
from moderators import __main__ as tool  # noqa: E402
from moderators import prosody, sync  # noqa: E402
from moderators.prosody import Prosodyctl, ProsodyError  # noqa: E402
from moderators.sync import Incomplete, Record, Refusal  # noqa: E402

DOMAIN = "meet.example.com"


class FakeProsody:
    """Prosodyctl's interface, recording each account command; `fails` lists the commands that
    fail, with what Prosody would say."""

    def __init__(self, verdicts=None, fails=None, host=("host", "internal_hashed")):
        self.verdicts = verdicts or {}
        self.fails = fails or {}
        self.host = list(host)
        self.calls: list[tuple[str, str, str]] = []
        self.config = "/etc/prosody/prosody.cfg.lua"

    def host_verdict(self, host):
        return self.host

    def stored_verdicts(self, host, passwords):
        return {user: self.verdicts.get(user, "absent") for user in passwords}

    def holds_password(self, user, host, password):
        return self.verdicts.get(user) == "match"

    def account_command(self, command, jid, stdin=""):
        self.calls.append((command, jid, stdin))
        said = self.fails.get((command, jid.split("@")[0]))
        return said is None, said or ""


# --- names, domains, passwords -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a", True), ("0", True), ("a" * 64, True), ("a" * 65, False), ("j.doe_x-1", True),
        ("", False), (".a", False), ("-a", False), ("_a", False), ("A", False), ("a b", False),
        ("a@b", False),
    ],
)  # fmt: skip
def test_user_rule(name, valid):
    assert bool(sync.USER_RULE.fullmatch(name)) is valid


@pytest.mark.parametrize(
    ("domain", "valid"),
    [
        ("meet.example.com", True), ("a.bc", True), ("x-y.example.com", True),
        (f"{'a' * 63}.com", True), (f"{'a' * 64}.com", False), ("a.b", False),
        ("example", False), ("-a.com", False), ("a-.com", False), ("Meet.example.com", False),
        (".".join(["a" * 63] * 3) + "." + "b" * 61, True),
        (".".join(["a" * 63] * 3) + "." + "b" * 62, False),
    ],
)  # fmt: skip
def test_domain_rule(domain, valid):
    assert bool(tool.DOMAIN_RULE.fullmatch(domain)) is valid


def test_check_names_refuses_with_exit_2():
    tool.check_names(None, DOMAIN)
    tool.check_names("alice", DOMAIN)
    with pytest.raises(Refusal) as bad_user:
        tool.check_names("Alice", DOMAIN)
    assert bad_user.value.args == (
        "invalid USER 'Alice': use 1-64 characters of a-z 0-9 . _ - starting with a letter or "
        "digit (for example alice or j.doe)",
        2,
    )
    with pytest.raises(Refusal) as bad_domain:
        tool.check_names("alice", "meet")
    assert bad_domain.value.args == (
        "invalid --domain 'meet': give the lowercase Jitsi domain, e.g. meet.example.com",
        2,
    )


@pytest.mark.parametrize(
    ("given", "password"),
    [(b"pw\n", "pw"), (b"pw\r\n", "pw"), (b"pw", "pw"), (b"p w\t\n", "p w\t"), (b"\xc3\xa9", "é")],
)
def test_read_password_takes_one_line(given, password):
    assert tool.read_password(io.BytesIO(given)) == password


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (b"", "empty password: write the password as one line on stdin"),
        (b"\n", "empty password: write the password as one line on stdin"),
        (b"\r\n", "empty password: write the password as one line on stdin"),
        (b"a\nb", "the password on stdin has more than one line: give exactly one"),
        (b"a\nb\n", "the password on stdin has more than one line: give exactly one"),
        (b"a\rb", "the password on stdin has more than one line: give exactly one"),
        (b"a\n\n", "the password on stdin has more than one line: give exactly one"),
        (b"\xff", "the password on stdin is not UTF-8 text"),
    ],
)
def test_read_password_refusals(given, message):
    with pytest.raises(Refusal) as refused:
        tool.read_password(io.BytesIO(given))
    assert refused.value.args == (message, 2)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["sync", "--domain", DOMAIN], "sync takes no USER and needs --names"),
        (["sync", "a", "--domain", DOMAIN, "--names", "a"], "sync takes no USER"),
        (["set", "--domain", DOMAIN], "set needs USER and takes no --names"),
        (["remove", "a", "--domain", DOMAIN, "--names", "a"], "remove needs USER"),
        (["add", "a", "--domain", DOMAIN], "invalid choice"),
    ],
)
def test_usage_mistakes_exit_2_in_one_line(argv, error, capsys):
    with pytest.raises(SystemExit) as exited:
        tool.parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("moderators: ") and err.endswith(" (see --help)\n")
    assert error in err and err.count("\n") == 1


def test_help_starts_with_what_the_tool_does(capsys):
    with pytest.raises(SystemExit):
        tool.parse_args(["--help"])
    assert "Create, re-password or remove Jitsi moderators" in capsys.readouterr().out


def test_options_and_their_defaults():
    args = tool.parse_args(["set", "--domain", DOMAIN, "--", "alice"])
    assert (args.user, args.record, args.timeout, args.prosody_config) == (
        "alice", "/var/lib/jitsi-meet-gce/moderators.json", 30.0, None,
    )  # fmt: skip
    args = tool.parse_args(["sync", "--names", "", "--domain", DOMAIN, "--timeout", "2.5"])
    assert (args.names, args.user, args.timeout) == ("", None, 2.5)


# --- what set and remove do and print ------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "fails", "said", "commands"),
    [
        ("match", {}, "Kept alice@meet.example.com (password unchanged)", []),
        ("absent", {}, "Created alice@meet.example.com", ["adduser"]),
        (
            "differs",
            {("adduser", "alice"): "user exists"},
            "Changed password of alice@meet.example.com",
            ["adduser", "passwd"],
        ),
    ],
)
def test_set_password_outcomes(verdict, fails, said, commands):
    fake = FakeProsody({"alice": verdict}, fails)
    assert tool.set_password(fake, f"alice@{DOMAIN}", "pw") == said
    assert [c for c, _, _ in fake.calls] == commands
    # The password goes on stdin, typed twice as prosodyctl asks for it.
    assert all(stdin == "pw\npw\n" for _, _, stdin in fake.calls)


def test_remove_outcomes():
    assert tool.remove(FakeProsody(), f"a@{DOMAIN}") == f"Removed a@{DOMAIN}"
    gone = FakeProsody(fails={("deluser", "a"): "User a@meet.example.com does not exist"})
    assert tool.remove(gone, f"a@{DOMAIN}") == f"a@{DOMAIN} was already absent"
    gone13 = FakeProsody(fails={("deluser", "a"): "No such user"})
    assert tool.remove(gone13, f"a@{DOMAIN}") == f"a@{DOMAIN} was already absent"
    broken = FakeProsody(fails={("deluser", "a"): "Unable to connect\nis it running?"})
    with pytest.raises(ProsodyError) as failed:
        tool.remove(broken, f"a@{DOMAIN}")
    assert str(failed.value) == f"could not remove a@{DOMAIN}: Unable to connect is it running?"


def test_store_password_tries_the_likelier_command_first():
    new = FakeProsody()
    assert sync.store_password(new, f"a@{DOMAIN}", "pw") is True
    assert [c for c, _, _ in new.calls] == ["adduser"]
    known = FakeProsody()
    assert sync.store_password(known, f"a@{DOMAIN}", "pw", exists=True) is False
    assert [c for c, _, _ in known.calls] == ["passwd"]
    vanished = FakeProsody(fails={("passwd", "a"): "no such user"})
    assert sync.store_password(vanished, f"a@{DOMAIN}", "pw", exists=True) is True
    assert [c for c, _, _ in vanished.calls] == ["passwd", "adduser"]


def test_store_password_failure_names_both_reasons_once_without_the_password():
    said = "Enter new password: \x1b[31merror\x1b[0m for pw-Secret-1"
    fake = FakeProsody(fails={("adduser", "a"): said, ("passwd", "a"): "other reason"})
    with pytest.raises(ProsodyError) as failed:
        sync.store_password(fake, f"a@{DOMAIN}", "pw-Secret-1")
    assert str(failed.value) == (
        f"could not create a@{DOMAIN} nor change its password: error for ***; other reason"
    )
    same = FakeProsody(fails={("adduser", "a"): "down", ("passwd", "a"): "down"})
    with pytest.raises(ProsodyError, match=r"its password: down$"):
        sync.store_password(same, f"a@{DOMAIN}", "pw")


@pytest.mark.parametrize(
    ("domain", "verdict", "message"),
    [
        (f"auth.{DOMAIN}", ["host", "internal_hashed"], "Jitsi's internal host"),
        (DOMAIN, ["unloadable", "parser", "bad line 3"], "cannot load CFG: bad line 3"),
        (DOMAIN, ["absent"], f"{DOMAIN} is not configured in CFG: check --domain"),
        (DOMAIN, ["component", "muc"], f"{DOMAIN} is a Component in CFG, not a VirtualHost"),
        (DOMAIN, ["disabled"], f"{DOMAIN} is disabled (enabled = false) in CFG"),
        (DOMAIN, ["host", "anonymous"], f'{DOMAIN} uses authentication = "anonymous", not'),
        # Only the verdict's first field says what it is; the last one is the provider's name.
        (DOMAIN, ["host", "absent"], f'{DOMAIN} uses authentication = "absent", not'),
        (DOMAIN, ["host", "disabled"], f'{DOMAIN} uses authentication = "disabled", not'),
    ],
)
def test_check_host_refuses_what_is_not_ready(domain, verdict, message):
    fake = FakeProsody(host=verdict)
    fake.config = "CFG"
    with pytest.raises(Refusal) as refused:
        tool.check_host(fake, domain)
    assert refused.value.args[1] == 3
    assert message in refused.value.args[0]
    if domain.startswith("auth."):
        assert refused.value.args[0].endswith(f"(--domain {DOMAIN})")


def test_check_host_accepts_internal_hashed():
    tool.check_host(FakeProsody(host=["host", "internal_hashed"]), DOMAIN)


# --- sync's input ------------------------------------------------------------------------------


def credentials(names: str, given) -> dict:
    text = given if isinstance(given, (str, bytes)) else json.dumps(given)
    data = text if isinstance(text, bytes) else text.encode()
    return sync.read_credentials(io.BytesIO(data), names)


def test_read_credentials_accepts_matching_names():
    assert credentials("b,a", {"a": "1", "b": "2"}) == {"a": "1", "b": "2"}
    assert credentials("", {}) == {}


@pytest.mark.parametrize(
    ("names", "given", "message"),
    [
        ("a,A", {}, "invalid name in --names 'A'"),
        ("a,a", {"a": "1"}, "--names lists a name twice"),
        ("a", b"\xff", "stdin is not UTF-8 text"),
        ("a", '{"a": "1",\n "b"}', "stdin is not JSON (line 2 column 5): give one object"),
        ("a", '["a"]', "stdin must be one JSON object of name: password"),
        ("a", {"a": "1", "B": "2"}, "invalid name on stdin 'B'"),
        ("a,c", {"a": "1", "b": "2"}, "(only in --names: c; only in stdin: b)"),
        ("a,c,d", {"a": "1"}, "--names and stdin differ (only in --names: c, d)"),
        ("a", {"a": "1", "b": "2"}, "--names and stdin differ (only in stdin: b)"),
        ("a,b", {"a": "1", "b": ""}, "the password of b must be a non-empty JSON string"),
        ("a,b", {"b": 1, "a": ""}, "the password of a must be a non-empty JSON string"),
        ("a", {"a": "x\x7f"}, "the password of a has a control character"),
        ("a", {"a": "x\x9f"}, "the password of a has a control character"),
        ("a", {"a": "\x00"}, "the password of a has a control character"),
        ("a", '{"a": "\\udc00"}', "or invalid Unicode"),
        ("a", '{"a": "1", "a": "2"}', "stdin names a moderator twice"),
    ],
)  # fmt: skip
def test_read_credentials_refusals(names, given, message):
    with pytest.raises(Refusal) as refused:
        credentials(names, given)
    assert refused.value.args[1] == 2
    assert message in refused.value.args[0]


def test_printable_unicode_passwords_pass():
    assert credentials("a", {"a": "é ñ \xa0~"}) == {"a": "é ñ \xa0~"}


# --- the record ------------------------------------------------------------------------------


def test_record_round_trip_mode_and_format(tmp_path):
    record = Record(str(tmp_path / "state" / "moderators.json"))
    assert record.managed() == set()
    record.save({"bob", "alice"})
    path = tmp_path / "state" / "moderators.json"
    assert path.read_text() == '{"managed": ["alice", "bob"]}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert record.managed() == {"alice", "bob"}
    assert sorted(os.listdir(path.parent)) == ["moderators.json"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"managed": ["a"], "x": 1}', 'not {"managed": [moderator names]}'),
        ('{"other": ["a"]}', 'not {"managed": [moderator names]}'),
        ('["a"]', 'not {"managed": [moderator names]}'),
        ('{"managed": ["a", 1]}', 'not {"managed": [moderator names]}'),
        ('{"managed": "a"}', 'not {"managed": [moderator names]}'),
        ("{", "not JSON"),
    ],
)
def test_record_refusals(tmp_path, content, why):
    path = tmp_path / "moderators.json"
    path.write_text(content)
    with pytest.raises(Refusal) as refused:
        Record(str(path)).managed()
    assert refused.value.args == (
        f"cannot use the moderator record {path}: {why}; repair it, or delete it "
        "(its accounts then count as made by hand)",
        3,
    )


def test_a_failed_record_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    record = Record(str(tmp_path / "moderators.json"))
    record.save({"a"})

    def refuse(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sync.os, "replace", refuse)
    with pytest.raises(OSError):
        record.save({"a", "b"})
    assert os.listdir(tmp_path) == ["moderators.json"]
    assert record.managed() == {"a"}


# --- sync, step by step ------------------------------------------------------------------------


def run_sync(fake, wanted, record, managed, capsys):
    try:
        sync.sync(fake, DOMAIN, wanted, record, managed)
    finally:
        printed = capsys.readouterr().out
    return printed


def test_sync_adds_changes_removes_and_reports_sorted(tmp_path, capsys):
    record = Record(str(tmp_path / "r.json"))
    record.save({"old2", "old1", "keep"})
    fake = FakeProsody({"keep": "match", "chg": "differs"})
    wanted = {"new2": "p1", "keep": "p2", "chg": "p3", "new1": "p4"}
    printed = run_sync(fake, wanted, record, record.managed(), capsys)
    assert printed == ("Added: new1, new2\nChanged: chg\nRemoved: old1, old2\nUnchanged: keep\n")
    assert fake.calls == [
        ("passwd", f"chg@{DOMAIN}", "p3\np3\n"),
        ("adduser", f"new1@{DOMAIN}", "p4\np4\n"),
        ("adduser", f"new2@{DOMAIN}", "p1\np1\n"),
        ("deluser", f"old1@{DOMAIN}", ""),
        ("deluser", f"old2@{DOMAIN}", ""),
    ]
    assert record.managed() == {"new1", "new2", "keep", "chg"}


def test_sync_with_nothing_to_do_prints_nothing_and_writes_nothing(tmp_path, capsys):
    record = Record(str(tmp_path / "r.json"))
    assert run_sync(FakeProsody(), {}, record, set(), capsys) == ""
    assert not (tmp_path / "r.json").exists()
    record.save({"a"})
    before = (tmp_path / "r.json").stat().st_mtime_ns
    assert run_sync(FakeProsody({"a": "match"}), {"a": "p"}, record, {"a"}, capsys) == (
        "Unchanged: a\n"
    )
    assert (tmp_path / "r.json").stat().st_mtime_ns == before


def test_sync_records_new_names_before_it_creates_them(tmp_path, capsys):
    record = Record(str(tmp_path / "r.json"))
    record.save({"a"})
    fake = FakeProsody(fails={("adduser", "b"): "down", ("passwd", "b"): "down"})
    with pytest.raises(ProsodyError):
        run_sync(fake, {"b": "p"}, record, {"a"}, capsys)
    # Both: b may exist now, and a is still to be removed by the next run.
    assert record.managed() == {"a", "b"}


def test_sync_prints_what_it_did_before_a_failure(tmp_path, capsys):
    record = Record(str(tmp_path / "r.json"))
    record.save({"z"})
    fake = FakeProsody(fails={("deluser", "z"): "Unable to connect"})
    with pytest.raises(ProsodyError):
        sync.sync(fake, DOMAIN, {"a": "p"}, record, {"z"})
    assert capsys.readouterr().out == "Added: a\n"
    assert record.managed() == {"a", "z"}


def test_sync_cannot_write_the_record(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    record = Record(str(blocker / "r.json"))
    with pytest.raises(Refusal) as refused:
        run_sync(FakeProsody(), {"a": "p"}, record, set(), capsys)
    assert refused.value.args == (
        f"cannot write the moderator record {blocker}/r.json: File exists",
        3,
    )


def test_sync_reports_a_record_it_could_not_update_after_removing(tmp_path, capsys, monkeypatch):
    record = Record(str(tmp_path / "r.json"))
    record.save({"a", "z"})

    def full(names):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(record, "save", full)
    with pytest.raises(Incomplete) as failed:
        run_sync(FakeProsody({"a": "match"}), {"a": "p"}, record, {"a", "z"}, capsys)
    assert str(failed.value) == (
        f"accounts synced, but the record was not updated ({tmp_path}/r.json: "
        "No space left on device)"
    )


# --- prosodyctl as found on disk ---------------------------------------------------------------

LUA_STUB = """#!/bin/sh
# Stands in for Lua: records its arguments and stdin, then prints what the test asked for.
printf '%s\\n' "$@" > "{dir}/argv"
/bin/cat > "{dir}/stdin"
/bin/cat "{dir}/answer" 2>/dev/null
exit "$(/bin/cat "{dir}/status" 2>/dev/null || echo 0)"
"""


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """A PATH holding a prosodyctl that names `fake-lua` (a recording stand-in) on its #! line."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "fake-lua").write_text(LUA_STUB.format(dir=tmp_path))
    (folder / "fake-lua").chmod(0o755)
    (folder / "prosodyctl").write_text(
        "#!/usr/bin/env -S fake-lua -W\nCFG_SOURCEDIR='/src';\nCFG_CONFIGDIR=\"/cfg\";\n"
        "CFG_DATADIR = '/data'\n"
    )
    (folder / "prosodyctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"/nonexistent:{folder}")
    return tmp_path


def test_prosodyctl_settings_are_read_from_its_file(fake_bin):
    ctl = Prosodyctl(None, 5)
    assert ctl.path == str(fake_bin / "bin" / "prosodyctl")
    assert (ctl.source_dir, ctl.config, ctl.data_dir) == ("/src", "/cfg/prosody.cfg.lua", "/data")
    assert (ctl.interpreter, ctl.explicit_config, ctl.timeout) == (["fake-lua"], False, 5)
    ctl = Prosodyctl("/my.cfg.lua", 5)
    assert (ctl.config, ctl.explicit_config) == ("/my.cfg.lua", True)


def test_prosodyctl_defaults_when_it_names_no_folders(fake_bin):
    (fake_bin / "bin" / "prosodyctl").write_text("#!/usr/bin/lua5.4\n-- nothing here\n")
    ctl = Prosodyctl(None, 5)
    assert (ctl.source_dir, ctl.config, ctl.data_dir) == (
        "", "/etc/prosody/prosody.cfg.lua", "/var/lib/prosody",
    )  # fmt: skip
    assert ctl.interpreter == ["/usr/bin/lua5.4"]


def test_prosodyctl_must_be_an_executable_file_on_path(fake_bin):
    (fake_bin / "bin" / "prosodyctl").chmod(0o644)
    (fake_bin / "bin2" / "prosodyctl").mkdir(parents=True)
    os.environ["PATH"] += f":{fake_bin}/bin2"
    with pytest.raises(ProsodyError, match="prosodyctl not found on PATH; install Prosody"):
        Prosodyctl(None, 5)


@pytest.mark.parametrize("first_line", ["#!/usr/bin/env\n", "# no interpreter\n"])
def test_prosodyctl_without_an_interpreter_is_refused(fake_bin, first_line):
    (fake_bin / "bin" / "prosodyctl").write_text(first_line)
    with pytest.raises(ProsodyError, match="has no #! line naming its Lua interpreter"):
        Prosodyctl(None, 5)


def test_host_verdict_runs_the_check_with_the_config(fake_bin):
    (fake_bin / "answer").write_text("host\tinternal_hashed\n")
    assert Prosodyctl("/c.lua", 5).host_verdict(DOMAIN) == ["host", "internal_hashed"]
    assert (fake_bin / "argv").read_text() == f"-\n/src\n/c.lua\n{DOMAIN}\n"
    assert (fake_bin / "stdin").read_text() == prosody._HOST_CHECK_LUA


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        ("", "0", "could not read /c.lua with Prosody's config loader: exit 0"),
        ("line1\nline2\n", "3", "could not read /c.lua with Prosody's config loader: line1 line2"),
        ("noloader\tmodule not found\n", "0", "fake-lua cannot load Prosody's config loader "),
    ],
)
def test_host_verdict_failures(fake_bin, answer, status, message):
    (fake_bin / "answer").write_text(answer)
    (fake_bin / "status").write_text(status)
    with pytest.raises(ProsodyError) as failed:
        Prosodyctl("/c.lua", 5).host_verdict(DOMAIN)
    assert str(failed.value).startswith(message)
    if answer.startswith("noloader"):
        assert str(failed.value).endswith(
            "(core.configmanager; prosodyctl's source dir: /src): module not found"
        )


def test_the_error_names_the_interpreter_not_its_option(fake_bin):
    lua = fake_bin / "bin" / "fake-lua"
    (fake_bin / "bin" / "prosodyctl").write_text(f"#!{lua} -W\n")
    (fake_bin / "answer").write_text("noloader\tmodule not found\n")
    with pytest.raises(ProsodyError) as failed:
        Prosodyctl("/c.lua", 5).host_verdict(DOMAIN)
    assert str(failed.value).startswith(f"{lua} cannot load Prosody's config loader")


def test_stored_verdicts_go_in_on_stdin_and_default_to_unknown(fake_bin):
    (fake_bin / "answer").write_text("a\tmatch\nb\tdiffers\nnoise\n")
    ctl = Prosodyctl("/c.lua", 5)
    got = ctl.stored_verdicts(DOMAIN, {"a": "p\\1", "b": "p2", "c": "p3"})
    assert got == {"a": "match", "b": "differs", "c": "unknown"}
    assert (fake_bin / "stdin").read_text() == "a\tp\\1\nb\tp2\nc\tp3\n"
    argv = (fake_bin / "argv").read_text().split("\n")
    assert argv[:2] == ["-e", f'arg = {{"/src", "/c.lua", "/data", "{DOMAIN}"}}']
    assert argv[2] == "-e"
    (fake_bin / "answer").write_text("*\tunknown\n")
    assert ctl.stored_verdicts(DOMAIN, {"a": "p"}) == {"a": "unknown"}
    assert ctl.holds_password("a", DOMAIN, "p") is False
    (fake_bin / "answer").write_text("a\tmatch\n")
    assert ctl.holds_password("a", DOMAIN, "p") is True
    (fake_bin / "argv").unlink()
    assert ctl.stored_verdicts(DOMAIN, {}) == {}
    assert not (fake_bin / "argv").exists()  # no process for nobody


def test_account_commands_pass_the_config_only_when_given(fake_bin):
    bin_dir = fake_bin / "bin"
    (bin_dir / "prosodyctl").write_text(
        f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {fake_bin}/ctl-argv\necho said; echo err >&2; exit 1\n"
    )
    assert Prosodyctl("/c.lua", 5).account_command("deluser", "a@d") == (False, "said\nerr\n")
    assert (fake_bin / "ctl-argv").read_text() == "--config\n/c.lua\ndeluser\na@d\n"
    Prosodyctl(None, 5).account_command("deluser", "a@d")
    assert (fake_bin / "ctl-argv").read_text() == "deluser\na@d\n"


def test_a_command_that_hangs_or_cannot_start_is_an_error(fake_bin):
    (fake_bin / "bin" / "fake-lua").write_text("#!/bin/sh\nexec /bin/sleep 5\n")
    with pytest.raises(ProsodyError) as hung:
        Prosodyctl("/c.lua", 0.5).host_verdict(DOMAIN)
    assert str(hung.value) == (
        "reading the Prosody config did not finish within 0.5 s; is Prosody running and "
        "answering? (systemctl status prosody)"
    )
    (fake_bin / "bin" / "fake-lua").unlink()
    with pytest.raises(ProsodyError) as missing:
        Prosodyctl("/c.lua", 5).stored_verdicts(DOMAIN, {"a": "p"})
    assert str(missing.value) == (
        "checking the stored passwords could not start: No such file or directory (fake-lua)"
    )


def test_lua_string_escapes():
    assert prosody._lua_string('a\\b"c\nd') == '"a\\\\b\\"c\\nd"'


def test_summary_keeps_the_last_meaningful_lines():
    said = "\x1b[1mEnter new password: \x1b[0m\nRetype new password:\n\n  one\ntwo  \nthree\nfour\n"
    assert prosody.summary(said) == "two three four"
    assert prosody.summary(said, count=1) == "four"
    assert prosody.summary("Enter new password: Retype new password: ok") == "ok"
