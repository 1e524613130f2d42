"""scripts/secure_domain's restarts on a real server (--root /): which services, in which order,
and the wait for Prosody. systemctl is a recording stand-in; Prosody's port is a real listener."""

import os
import shutil
import socket
import sys
import threading
import time

import pytest
from prosody_server import free_port
from support import SCRIPTS, upstream_dir

sys.path.insert(0, str(SCRIPTS))
from secure_domain import services  # noqa: E402
from secure_domain.__main__ import main as secure_domain_main  # noqa: E402
from secure_domain.files import Refusal  # noqa: E402
from secure_domain.plan import plan  # noqa: E402

DOMAIN, GUEST = "meet.example.com", "guest.meet.example.com"


@pytest.fixture
def systemctl(tmp_path, monkeypatch):
    """A stand-in `systemctl` first on PATH; returns the file its calls are recorded in."""
    calls = tmp_path / "calls"
    stub = tmp_path / "bin" / "systemctl"
    stub.parent.mkdir()
    stub.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        # A failing restart, when the test asks for one, speaks like systemd does.
        f'if [ -e {tmp_path}/fail-"$2" ]; then\n'
        '  echo "Job for $2.service failed because the control process exited." >&2\n'
        '  echo "See \\"systemctl status $2.service\\" for details." >&2\n'
        "  exit 1\n"
        "fi\n"
    )
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stub.parent}{os.pathsep}{os.environ['PATH']}")
    return calls


@pytest.fixture
def prosody_port(monkeypatch):
    """Where the restart waits for Prosody: a free loopback port, nothing listening yet."""
    port = free_port()
    monkeypatch.setattr(services, "PROSODY_C2S", ("127.0.0.1", port))
    return port


def listen_after(port: int, delay: float, request) -> None:
    """Opens the port after `delay` seconds, as a restarting Prosody does; closed after the test."""
    listener = socket.socket()
    request.addfinalizer(listener.close)

    def open_port():
        listener.bind(("127.0.0.1", port))
        listener.listen()

    timer = threading.Timer(delay, open_port)
    timer.start()
    request.addfinalizer(timer.join)


def test_prosody_restarts_first_then_jicofo_once_prosody_answers(systemctl, prosody_port, request):
    listen_after(prosody_port, 0.5, request)
    said = []
    started = time.monotonic()
    services.restart({"jicofo", "prosody"}, said.append)
    assert systemctl.read_text().splitlines() == ["restart prosody", "restart jicofo"]
    assert said == ["restarted prosody", "restarted jicofo"]
    assert time.monotonic() - started >= 0.5  # it waited for Prosody's port


def test_only_the_services_whose_files_changed_restart(systemctl, prosody_port):
    services.restart({"jicofo"}, lambda line: None)
    assert systemctl.read_text().splitlines() == ["restart jicofo"]
    services.restart(set(), lambda line: None)
    assert systemctl.read_text().splitlines() == ["restart jicofo"]


def test_a_prosody_that_never_answers_ends_in_a_clear_error_in_bounded_time(
    systemctl, prosody_port, monkeypatch
):
    monkeypatch.setattr(services, "WAIT_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(Refusal, match=r"prosody did not answer on port \d+ within 1 s"):
        services.restart({"prosody", "jicofo"}, lambda line: None)
    assert time.monotonic() - started < 5
    # jicofo would only fail to log in to a Prosody that is not there.
    assert systemctl.read_text().splitlines() == ["restart prosody"]


def test_a_failed_restart_names_the_service_and_stops(systemctl, prosody_port, tmp_path):
    (tmp_path / "fail-prosody").touch()
    # systemd's last line says where to look.
    with pytest.raises(
        Refusal, match=r'systemctl restart prosody failed: See "systemctl status prosody'
    ):
        services.restart({"prosody", "jicofo"}, lambda line: None)
    assert systemctl.read_text().splitlines() == ["restart prosody"]


def restarts_needed(root) -> set[str]:
    return {c.service for c in plan(root, DOMAIN, GUEST) if c.new != c.old and c.service}


@pytest.mark.parametrize("version", ["2020-05_stable-4627", "2026-07_master-abf901a"])
def test_what_restarts_follows_what_changed(version, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(upstream_dir(version), root, symlinks=True)
    # A fresh install: Prosody's site file and jicofo's settings (file or legacy properties).
    assert restarts_needed(root) == {"prosody", "jicofo"}
    configjs = root / f"etc/jitsi/meet/{DOMAIN}-config.js"
    original = configjs.read_text()
    args = ["--domain", DOMAIN, "--root", str(root)]
    assert secure_domain_main(args) == 0
    assert restarts_needed(root) == set()
    # Only config.js out of date: nginx serves it as a static file, nothing restarts.
    configjs.write_text(original)
    changes = [c for c in plan(root, DOMAIN, GUEST) if c.new != c.old]
    assert [c.path.name for c in changes] == [configjs.name]
    assert restarts_needed(root) == set()
