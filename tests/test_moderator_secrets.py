"""The moderator password reaches Prosody only through stdin: never a command line, an
environment, the tool's output, a stored file or Prosody's log (0.12 and 13)."""

import contextlib

import pytest
from moderator_harness import (
    DOMAIN,
    UPSTREAM_NEWEST,
    VERSIONS,
    moderator,
    secured_site,
    start_server,
)
from xmpp_login import password_login

FIRST, SECOND = "first-Secret-4f1a", "second-Secret-9c2e"

# Stands first on PATH as `lua5.4`, the interpreter both prosodyctl (`#!/usr/bin/env lua5.4`) and
# The moderator tool's config check run on: every Lua process the tool starts writes its argv and
# environment here, then becomes the real interpreter.
RECORDER = """#!/bin/sh
{{ echo "=== argv"; printf '%s\\n' "$0" "$@"; echo "=== environ"; env; }} >> {log}
exec /usr/bin/lua5.4 "$@"
"""


@pytest.fixture(params=VERSIONS, ids=lambda v: f"prosody-{v}")
def recorded(request, tmp_path):
    """A running Prosody, and a folder holding the recording `lua5.4` (path as seen by tools)."""
    server = start_server(request.param, secured_site(tmp_path, UPSTREAM_NEWEST))
    request.addfinalizer(server.stop)
    folder = server.host_dir / "recorder"
    folder.mkdir()
    log = f"{server.inside(folder)}/calls.log"
    (folder / "lua5.4").write_text(RECORDER.format(log=log))
    (folder / "lua5.4").chmod(0o755)
    return server, server.inside(folder), folder / "calls.log"


def run_with_recorder(server, path_first, *args, password=None):
    result = moderator(server, *args, password=password, path_first=path_first)
    assert result.returncode == 0, result.stderr
    return result


def files_containing(folder, secret: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        # Prosody 13 may remove a temporary file of its own (cron.dat~) between list and read.
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and secret.encode() in path.read_bytes():
                found.append(str(path))
    return found


def test_password_never_reaches_argv_environment_output_files_or_log(recorded):
    server, path_first, calls = recorded
    outputs = [
        run_with_recorder(server, path_first, "set", "alice", "--domain", DOMAIN, password=FIRST),
        run_with_recorder(server, path_first, "set", "alice", "--domain", DOMAIN, password=SECOND),
    ]
    assert password_login(server.c2s_port, f"alice@{DOMAIN}", SECOND)
    outputs.append(run_with_recorder(server, path_first, "remove", "alice", "--domain", DOMAIN))

    recorded_calls = calls.read_text()
    # The recorder saw the config check and every account command (or it proves nothing)...
    for command in ("adduser alice@", "passwd alice@", "deluser alice@"):
        assert command.replace(" ", "\n") in recorded_calls
    assert f"\n-\n/usr/lib/prosody\n{server.config}\n{DOMAIN}\n" in recorded_calls
    # ...and none of them carried a password, in arguments or environment.
    for secret in (FIRST, SECOND):
        assert secret not in recorded_calls
        for result in outputs:
            assert secret not in result.stdout + result.stderr
        # Config, data path (accounts, roles, any shell history), Prosody's log, the recording.
        assert files_containing(server.host_dir, secret) == []


def test_recorder_does_see_a_password_given_on_the_command_line(recorded):
    # The control: the same recorder catches `prosodyctl register`, which takes it in argv.
    server, path_first, calls = recorded
    argv = ["env", f"PATH={path_first}:/usr/sbin:/usr/bin:/sbin:/bin", "prosodyctl"]
    result = server.run([*argv, "--config", server.config, "register", "bob", DOMAIN, FIRST])
    assert result.returncode == 0, result.stdout + result.stderr
    assert FIRST in calls.read_text()
