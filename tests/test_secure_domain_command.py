"""The configurator's command line and plan, in-process: which arguments it takes, what each run
prints, when it writes, what it checks with Prosody's own loader, and how it finds that loader.

The whole-tool tests (test_secure_domain_edges.py, _upstream.py) run it as a subprocess on
real files; these pin each message and branch in well under a second, for tests/mutation.sh.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
from secure_domain_readers import copy_upstream
from support import SCRIPTS, require, upstream_dir

sys.path.insert(0, str(SCRIPTS))
from secure_domain import __main__ as command  # noqa: E402
from secure_domain import jicofo, loader, plan, services  # noqa: E402
from secure_domain.files import Refusal  # noqa: E402
from shared import configjs  # noqa: E402

DOMAIN, GUEST = "meet.example.com", "guest.meet.example.com"
NEWEST = "2026-07_master-abf901a"


@pytest.fixture
def root(tmp_path):
    return copy_upstream(upstream_dir(NEWEST), tmp_path / "root")


# --- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        ([], "the following arguments are required: --domain"),
        (["--domain", "Meet.example.com"], "--domain 'Meet.example.com' is not a lowercase DNS"),
        (["--domain", "meet"], "--domain 'meet' is not a lowercase DNS name"),
        (["--domain", f"{'a' * 64}.com"], "is not a lowercase DNS name"),
        (["--domain", DOMAIN, "--guest-domain", "g_x.com"], "--guest-domain 'g_x.com' is not"),
        (["--domain", DOMAIN, "--guest-domain", DOMAIN], "--guest-domain must differ"),
        (["--domain", DOMAIN, "--root", "/nonexistent"], "--root /nonexistent is not a directory"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, error, capsys):
    with pytest.raises(SystemExit) as exited:
        command._parse(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert error in err and err.endswith("\n")
    if argv:  # the tool's own checks: one line
        assert err.startswith("error: ") and err.count("\n") == 1


def test_help_starts_with_what_the_tool_does(capsys):
    with pytest.raises(SystemExit):
        command._parse(["--help"])
    assert (
        "Secure a Jitsi Meet install: only accounts on DOMAIN open rooms" in capsys.readouterr().out
    )


def test_argument_defaults():
    args = command._parse(["--domain", DOMAIN])
    assert (args.guest_domain, args.root, args.dry_run) == (GUEST, pathlib.Path("/"), False)
    args = command._parse(["--domain", "a.bc", "--guest-domain", "x.a.bc", "--dry-run"])
    assert (args.domain, args.guest_domain, args.dry_run) == ("a.bc", "x.a.bc", True)
    assert command._parse(["--domain", f"{'a' * 63}.com"]).domain == f"{'a' * 63}.com"


# --- a run: what it prints and writes ----------------------------------------------------------


def test_a_run_prints_each_change_then_nothing_to_do(root, capsys):
    assert command.main(["--domain", DOMAIN, "--root", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [
        f"changed /etc/prosody/conf.avail/{DOMAIN}.cfg.lua",
        f"changed /etc/jitsi/meet/{DOMAIN}-config.js",
        "changed /etc/jitsi/jicofo/jicofo.conf",
    ]
    # The newest upstream install uses Jitsi's anonymous provider: the guest host does too.
    assert out[0] == (
        f"changed /etc/prosody/conf.avail/{DOMAIN}.cfg.lua: {DOMAIN} on internal_hashed, "
        f'anonymous guest host {GUEST} ("jitsi-anonymous") (previous version in '
        f"{DOMAIN}.cfg.lua.bak)"
    )
    assert command.main(["--domain", DOMAIN, "--root", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"nothing needed changing: {DOMAIN} is already a secure domain"
    assert out[0] == (
        f"unchanged /etc/prosody/conf.avail/{DOMAIN}.cfg.lua: {DOMAIN} on internal_hashed, "
        f"anonymous guest host {GUEST} already set"
    )


def test_a_dry_run_prints_diffs_and_writes_nothing(root, capsys):
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert command.main(["--domain", DOMAIN, "--root", str(root), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"/etc/jitsi/meet/{DOMAIN}-config.js\n+++ b/" in out
    assert re.search(rf"^\+ +anonymousdomain: '{GUEST}',$", out, re.M)
    assert f"would change /etc/jitsi/meet/{DOMAIN}-config.js: hosts.anonymousdomain" in out
    assert out.endswith("dry run: nothing written\n")
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_a_file_changed_during_the_run_is_refused(root, capsys, monkeypatch):
    real_plan = command.plan

    def plan_then_edit(*args):
        changes = real_plan(*args)
        changes[1].path.write_text(changes[1].old + "\n// edited meanwhile\n")
        return changes

    monkeypatch.setattr(command, "plan", plan_then_edit)
    assert command.main(["--domain", DOMAIN, "--root", str(root)]) == 1
    assert capsys.readouterr().err == (
        f"secure_domain: refused: /etc/jitsi/meet/{DOMAIN}-config.js changed while this tool "
        "ran; run it again\n"
    )


def test_services_restart_only_for_the_real_root(root, monkeypatch, capsys):
    restarted = []
    monkeypatch.setattr(services, "restart", lambda names, say: restarted.append(names))
    assert command.main(["--domain", DOMAIN, "--root", str(root)]) == 0
    assert restarted == []
    # As on the server: the root is /, and what changed decides what restarts.
    monkeypatch.setattr(pathlib.Path, "resolve", lambda self: pathlib.Path("/"))
    shutil.copy(root / "etc/jitsi/jicofo/jicofo.conf.bak", root / "etc/jitsi/jicofo/jicofo.conf")
    assert command.main(["--domain", DOMAIN, "--root", str(root)]) == 0
    assert restarted == [{"jicofo"}]


# --- the plan: files found, results checked ----------------------------------------------------


def test_missing_files_are_named(tmp_path):
    with pytest.raises(Refusal) as refused:
        plan.plan(tmp_path, DOMAIN, GUEST)
    assert str(refused.value) == (
        f"files missing under {tmp_path}: /etc/prosody/conf.avail/{DOMAIN}.cfg.lua, "
        f"/etc/jitsi/meet/{DOMAIN}-config.js, /etc/jitsi/jicofo/jicofo.conf (or "
        f"sip-communicator.properties); is Jitsi Meet installed for {DOMAIN}?"
    )


def test_a_conf_d_file_that_is_no_link_is_edited_where_it_is(root):
    linked = root / f"etc/prosody/conf.d/{DOMAIN}.cfg.lua"
    linked.unlink()
    shutil.copy(root / f"etc/prosody/conf.avail/{DOMAIN}.cfg.lua", linked)
    (root / f"etc/prosody/conf.avail/{DOMAIN}.cfg.lua").unlink()
    changes = plan.plan(root, DOMAIN, GUEST)
    assert changes[0].path == linked
    assert changes[0].shown == f"/etc/prosody/conf.d/{DOMAIN}.cfg.lua"


def test_a_config_js_that_is_not_jitsis_is_refused(root):
    (root / f"etc/jitsi/meet/{DOMAIN}-config.js").write_text("var other = { hosts: {} };\n")
    with pytest.raises(Refusal) as refused:
        plan.plan(root, DOMAIN, GUEST)
    assert str(refused.value) == (
        "config.js: no `hosts: { ... }` inside `var config = { ... }`; is this a Jitsi config.js?"
    )


def test_a_config_js_the_edit_would_push_over_the_size_limit_is_refused_in_one_line(root):
    # Just under the reader's limit: one more line takes it over, which the read-back refuses.
    path = root / f"etc/jitsi/meet/{DOMAIN}-config.js"
    text = path.read_text()
    path.write_text(text + "//" + "x" * (configjs.MAX_CONFIG_BYTES - len(text) - 3) + "\n")
    with pytest.raises(Refusal) as refused:
        plan.plan(root, DOMAIN, GUEST)
    assert str(refused.value) == ("config.js once edited: it is larger than 2 MB; nothing written")


def test_an_edited_jicofo_conf_is_read_back_with_the_hocon_tool(root):
    # Our scanner passes `a = = 1`; jicofo's own parser would not start with it.
    require(shutil.which("hocon") is not None, "the hocon tool is not installed (ruby-hocon)")
    (root / "etc/jitsi/jicofo/jicofo.conf").write_text("jicofo {\n}\na = = 1\n")
    with pytest.raises(Refusal) as refused:
        plan.plan(root, DOMAIN, GUEST)
    # The first line of Ruby's trace is the one that names the problem.
    assert str(refused.value).startswith("jicofo.conf would not parse with the hocon tool: ")
    assert "String: 8: Expecting a value but got wrong token: '='" in str(refused.value)


def test_shown_paths(tmp_path):
    assert plan._shown(tmp_path, tmp_path / "etc/x") == "/etc/x"
    assert plan._shown(tmp_path, pathlib.Path("/elsewhere/y")) == "/elsewhere/y"


def test_only_the_legacy_properties_of_a_2020_install(tmp_path):
    root = copy_upstream(upstream_dir("2020-05_stable-4627"), tmp_path / "root")
    kinds = [(c.path.name, c.service) for c in plan.plan(root, DOMAIN, GUEST)]
    assert kinds == [
        (f"{DOMAIN}.cfg.lua", "prosody"),
        (f"{DOMAIN}-config.js", None),
        ("sip-communicator.properties", "jicofo"),
    ]


@pytest.mark.parametrize(
    ("main", "defined", "guest", "c2s", "ok"),
    [
        ("internal_hashed", "true", "anonymous", "false", True),
        ("internal_hashed", "true", "jitsi-anonymous", "false", True),
        ("anonymous", "true", "anonymous", "false", False),
        ("internal_hashed", "false", "anonymous", "false", False),
        ("internal_hashed", "true", "internal_hashed", "false", False),
        ("internal_hashed", "true", "anonymous", "true", False),
    ],
)
def test_prosodys_loader_must_read_what_was_intended(monkeypatch, main, defined, guest, c2s, ok):
    got = {
        (DOMAIN, "authentication"): main,
        (GUEST, "defined"): defined,
        (GUEST, "authentication"): guest,
        (GUEST, "c2s_require_encryption"): c2s,
    }
    monkeypatch.setattr(loader, "available", lambda: True)
    asked = []
    monkeypatch.setattr(loader, "read_values", lambda *a: asked.append(a) or got)
    text = f'VirtualHost "{DOMAIN}"\n  authentication = "internal_hashed"\n'
    path = pathlib.Path("/etc/site.cfg.lua")
    if ok:
        plan._check_prosody(path, text, DOMAIN, GUEST)
    else:
        with pytest.raises(Refusal, match="Prosody's loader reads site.cfg.lua otherwise"):
            plan._check_prosody(path, text, DOMAIN, GUEST)
    assert asked == [
        (
            "/etc/site.cfg.lua",
            text,
            [
                (DOMAIN, "authentication"),
                (GUEST, "authentication"),
                (GUEST, "c2s_require_encryption"),
            ],
        )
    ]


def test_the_check_skips_the_loader_where_there_is_none_or_it_cannot_run(monkeypatch):
    text = f'VirtualHost "{DOMAIN}"\n  authentication = "internal_hashed"\n'
    monkeypatch.setattr(loader, "available", lambda: True)
    monkeypatch.setattr(loader, "read_values", lambda *a: None)
    plan._check_prosody(pathlib.Path("x"), text, DOMAIN, GUEST)
    monkeypatch.setattr(loader, "available", lambda: False)
    monkeypatch.setattr(loader, "read_values", lambda *a: pytest.fail("loader run"))
    plan._check_prosody(pathlib.Path("x"), text, DOMAIN, GUEST)
    # A main host in two sections, each secured: Prosody uses the last line, as does the check.
    twice = text + f'VirtualHost "{DOMAIN}"\n  authentication = "internal_hashed"\n'
    plan._check_prosody(pathlib.Path("x"), twice, DOMAIN, GUEST)
    with pytest.raises(Refusal, match=f"internal error: {DOMAIN} would not be internal_hashed"):
        plan._check_prosody(pathlib.Path("x"), text + '  authentication = "x"\n', DOMAIN, GUEST)


# --- Prosody's own loader ----------------------------------------------------------------------


def require_loader():
    require(loader.available(), "Prosody's config loader is not installed (Debian's prosody)")


def test_the_loader_reads_hosts_keys_and_undefined_hosts():
    require_loader()
    # A value may hold a tab (the separator of the loader's output): it stays whole.
    text = 'authentication = "x"\nVirtualHost "a.b"\n  authentication = "y\\tz"\n'
    got = loader.read_values("/etc/p.cfg.lua", text, [("a.b", "authentication"), ("c.d", "k")])
    assert got == {
        ("a.b", "defined"): "true",
        ("a.b", "authentication"): "y\tz",
        ("c.d", "defined"): "false",
        ("c.d", "k"): "nil",
    }


def test_the_loader_refuses_what_prosody_would_not_load():
    require_loader()
    with pytest.raises(Refusal) as refused:
        loader.read_values("/etc/p.cfg.lua", 'VirtualHost "a.b"\n x = = 1\n', [])
    # Prosody's own message, without the tab that ends the word `error`.
    assert re.fullmatch(
        r"the result would not load in Prosody: [^\t]*/etc/p.cfg.lua:2: unexpected symbol.*",
        str(refused.value),
    )


@pytest.mark.parametrize(
    ("script", "detail"),
    [
        ("exit 0", "no output"),  # ran, said nothing: not a pass
        ("echo ok; echo 'lua: broken' >&2; exit 1", "lua: broken"),
        # Lua's own report: the error, then a stack traceback the user has no use for.
        ("exec lua5.4 -e 'error(\"boom\")'", "lua5.4: (command line):1: boom"),
    ],
)
def test_a_loader_that_fails_to_run_is_a_refusal(tmp_path, monkeypatch, script, detail):
    fake = tmp_path / "lua"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(loader, "_lua_binary", lambda: str(fake))
    with pytest.raises(Refusal) as refused:
        loader.read_values("/etc/p.cfg.lua", "", [])
    assert str(refused.value) == f"Prosody's config loader failed to run: {detail}"


def test_lua_strings_carry_any_text():
    assert loader._lua_string('a"\\é') == '"\\97\\34\\92\\195\\169"'


def test_the_lua_named_by_prosody_comes_first(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("lua5.3", "lua", "luajit"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    prosody_bin = tmp_path / "prosody"
    monkeypatch.setattr(loader, "PROSODY_BIN", prosody_bin)
    prosody_bin.write_text("#!/usr/bin/env lua\n-- the rest of prosody\n")
    assert loader._lua_binary() == "lua"
    prosody_bin.write_text("#!/usr/bin/env -S lua\n")
    assert loader._lua_binary() == "lua"
    prosody_bin.write_text(f"#!{bin_dir}/lua\n")
    assert loader._lua_binary() == f"{bin_dir}/lua"
    (bin_dir / "perl").write_text("#!/bin/sh\n")
    (bin_dir / "perl").chmod(0o755)
    prosody_bin.write_text("#!/usr/bin/env perl\n")  # not a Lua: the first Lua there is
    assert loader._lua_binary() == "lua5.3"
    prosody_bin.write_text("")
    assert loader._lua_binary() == "lua5.3"
    prosody_bin.unlink()
    assert loader._lua_binary() == "lua5.3"
    (bin_dir / "lua5.3").unlink()
    (bin_dir / "lua").unlink()
    assert loader._lua_binary() is None


def test_the_loader_is_available_in_either_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "_lua_binary", lambda: "lua5.4")
    monkeypatch.setattr(loader, "PROSODY_LIB", tmp_path / "lib")
    monkeypatch.setattr(loader, "SHARED_LUA", tmp_path / "share")
    assert not loader.available()
    (tmp_path / "share/5.4/prosody/core").mkdir(parents=True)
    (tmp_path / "share/5.4/prosody/core/configmanager.lua").write_text("")
    assert loader.available()
    monkeypatch.setattr(loader, "SHARED_LUA", tmp_path / "none")
    (tmp_path / "lib/core").mkdir(parents=True)
    (tmp_path / "lib/core/configmanager.lua").write_text("")
    assert loader.available()
    monkeypatch.setattr(loader, "_lua_binary", lambda: None)
    assert not loader.available()


@pytest.mark.parametrize(
    ("printed", "message"),
    [
        ("not json", "jicofo.conf: the hocon tool printed something that is not JSON"),
        ("[]", "jicofo.conf sets jicofo.authentication in a form this tool cannot edit"),
        (
            '{"enabled": true, "type": "XMPP", "login-url": "other.example.com"}',
            "jicofo.conf sets jicofo.authentication in a form this tool cannot edit",
        ),
    ],
)
def test_what_the_hocon_tool_reads_must_be_what_was_written(
    tmp_path, monkeypatch, printed, message
):
    fake = tmp_path / "hocon"
    fake.write_text(f"#!/bin/sh\ncat > /dev/null\necho '{printed}'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Refusal, match=message):
        jicofo.check_with_hocon_tool("jicofo { }", DOMAIN)
    fake.write_text(
        "#!/bin/sh\ncat > /dev/null\n"
        f'echo \'{{"enabled": true, "type": "XMPP", "login-url": "{DOMAIN}"}}\'\n'
    )
    jicofo.check_with_hocon_tool("jicofo { }", DOMAIN)


# --- restarts ----------------------------------------------------------------------------------


def test_the_restart_waits_on_prosodys_own_c2s_port():
    # Jitsi's Prosody serves clients on 5222 (the tests point the wait at ports of their own).
    assert services.PROSODY_C2S == ("127.0.0.1", 5222)


def test_running_it_from_a_checkout_writes_no_byte_code(root, tmp_path):
    # The deployment ships scripts/ whole; Python would cache every module it imports there.
    copy = tmp_path / "scripts"
    shutil.copytree(SCRIPTS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}  # no PYTHONDONTWRITEBYTECODE
    done = subprocess.run(
        [sys.executable, str(copy / "secure_domain"), "--domain", DOMAIN, "--root", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert list(copy.rglob("__pycache__")) == []


def test_without_systemctl_the_restart_is_left_to_the_admin(monkeypatch):
    monkeypatch.setattr(services.shutil, "which", lambda name: None)
    with pytest.raises(Refusal) as refused:
        services.restart({"jicofo"}, print)
    assert str(refused.value) == "files changed but systemctl is missing: restart jicofo by hand"
    services.restart(set(), print)  # nothing changed: nothing to say
