"""Two runs of the suite at once share nothing writable: the test Prosody's guards against the
other run (a port it took first, a rebuild of the Prosody 13 root) work.

(Concurrent runs themselves are proved by starting `bash tests/run.sh` twice at once; see
tests/README.md, "Runs at the same time".)
"""

import fcntl
import os
import socket
import subprocess
import sys
import textwrap

import prosody_server
import pytest
from prosody_server import ProsodyServer
from support import require

# bosh: Prosody's http port opens only for a module that serves on it.
SITE = 'VirtualHost "example.test"\n authentication = "anonymous"\n modules_enabled = { "bosh" }\n'


def test_a_port_another_run_took_first_is_not_mistaken_for_prosody(monkeypatch):
    require(os.geteuid() == 0, "running Prosody as its own user needs root")
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    real_free_port = prosody_server.free_port
    picks = iter([taken])
    # The first pick is the squatter's port, as if another run had bound it in between.
    monkeypatch.setattr(prosody_server, "free_port", lambda: next(picks, None) or real_free_port())
    server = ProsodyServer(SITE)
    try:
        assert server.c2s_port == taken
        server.start()
        assert server.c2s_port != taken
        assert prosody_server._listening_sockets(server.c2s_port) <= prosody_server._sockets_of(
            server.process.pid
        )
        with socket.create_connection(("127.0.0.1", server.c2s_port), timeout=5) as client:
            client.sendall(b"<?xml version='1.0'?><stream:stream to='example.test' "
                           b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                           b"version='1.0'>")  # fmt: skip
            assert b"stream:features" in client.recv(4096)
    finally:
        server.stop()
        squatter.close()


def test_a_root_being_rebuilt_is_waited_for_and_the_wait_is_bounded(tmp_path, monkeypatch):
    root = tmp_path / "root"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import fcntl, sys, time
                lock = open({f"{root}.lock"!r}, "a")
                fcntl.flock(lock, fcntl.LOCK_EX)  # what make_prosody13_root.sh holds to build
                print("held", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        monkeypatch.setattr(prosody_server, "ROOT_LOCK_TIMEOUT", 0.5)
        with pytest.raises(TimeoutError, match="stayed locked for 0 s"):
            prosody_server._share_root(root)
    finally:
        holder.communicate("", timeout=10)
    fd = prosody_server._share_root(root)
    try:
        # A builder now has to wait for this server.
        with open(f"{root}.lock") as builder, pytest.raises(BlockingIOError):
            fcntl.flock(builder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
