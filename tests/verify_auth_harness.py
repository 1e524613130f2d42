"""What the probe's tests share: the test domain and accounts, the site file, the servers a test
starts (each stopped when the test ends), and running the probe as users run it.

The domain is under `.invalid`, which never resolves (RFC 6761): a probe that reaches the server
through nginx by name does so through --connect, not through DNS.
"""

import json
import os
import select
import socket
import subprocess
import sys
import time

from focus_component import FocusComponent
from jitsi_front import JitsiFront
from nginx_front import NginxFront
from prosody_server import ProsodyServer, prosody13_root
from support import SCRIPTS, upstream_dir

DOMAIN = "meet.probe.invalid"
GUEST = f"guest.{DOMAIN}"
FOCUS = f"focus.{DOMAIN}"
COMPONENT_SECRET = "focus-component-secret"
MODERATORS = {"alice": "Alice-pw-7f3kq9", "bob": "Bob-pw-2m8zx4"}
# The environment variable the probe reads the served certificate from (--ca-env), as the
# proof from outside does.
CA_VARIABLE = "VERIFY_AUTH_TEST_CERTIFICATE"
BOTH = "bosh,websocket"


def site(main_auth: str = "internal_hashed", guest_auth: str = "anonymous", focus=True) -> str:
    # http_default_host: HTTP requests straight to Prosody carry Host 127.0.0.1, not the domain.
    # consider_*_secure: nginx terminates TLS, as in Jitsi's own site file (PLAIN is then offered).
    text = f"""http_default_host = "{DOMAIN}"
consider_bosh_secure = true
consider_websocket_secure = true
VirtualHost "{DOMAIN}"
    authentication = "{main_auth}"
    modules_enabled = {{ "bosh"; "websocket" }}
VirtualHost "{GUEST}"
    authentication = "{guest_auth}"
"""
    if focus:
        text += f'Component "{FOCUS}"\n    component_secret = "{COMPONENT_SECRET}"\n'
    return text


def config_js(anonymousdomain: str | None) -> str:
    text = (
        upstream_dir("2026-07_master-abf901a") / "etc/jitsi/meet/meet.example.com-config.js"
    ).read_text()
    if anonymousdomain is None:
        return text
    return text.replace(
        "// anonymousdomain: 'guest.example.com',", f"anonymousdomain: '{anonymousdomain}',"
    )


def closed_port(request) -> int:
    """A port that refuses connections for the whole test: bound here and never listening, so no
    other process (another test run) can start listening on it meanwhile."""
    sock = socket.socket()
    request.addfinalizer(sock.close)
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


def credentials(**accounts: str) -> str:
    return json.dumps(accounts or MODERATORS)


class Lab:
    """Starts the servers of one test; `request.addfinalizer` stops each, in reverse order."""

    def __init__(self, request):
        self._request = request

    def prosody(self, text: str, version: str = "0.12", accounts=True) -> ProsodyServer:
        server = ProsodyServer(text, root=prosody13_root() if version == "13" else None)
        self._request.addfinalizer(server.stop)
        server.start()
        for user, password in MODERATORS.items() if accounts else []:
            made = server.prosodyctl("adduser", f"{user}@{DOMAIN}", stdin=f"{password}\n" * 2)
            assert made.returncode == 0, made.stdout + made.stderr
        return server

    def focus(self, server: ProsodyServer, login_domain=DOMAIN, **behaviour) -> FocusComponent:
        focus = FocusComponent(server.component_port, FOCUS, COMPONENT_SECRET, login_domain)
        for name, value in behaviour.items():
            assert hasattr(focus, name), name
            setattr(focus, name, value)
        self._request.addfinalizer(focus.stop)
        return focus.start()

    def front(self, server: ProsodyServer, config: str | None) -> JitsiFront:
        front = JitsiFront(server.http_port, DOMAIN, config)
        self._request.addfinalizer(front.stop)
        return front.start()

    def nginx(self, server: ProsodyServer, config: str | None, websocket=True) -> NginxFront:
        front = NginxFront(server.http_port, DOMAIN, config, websocket=websocket)
        self._request.addfinalizer(front.stop)
        return front.start()


def direct(server: ProsodyServer, transports: str = BOTH) -> list[str]:
    """Options that take the probe straight to Prosody's HTTP port (no TLS, no front)."""
    base = f"127.0.0.1:{server.http_port}"
    options = ["--bosh-url", f"http://{base}/http-bind", "--transports", transports]
    if "websocket" in transports:
        options += ["--websocket-url", f"ws://{base}/xmpp-websocket"]
    return options


def through(front: NginxFront, transports: str = BOTH) -> list[str]:
    """Options that take the probe through nginx by the domain's name, which only --connect
    makes reachable, trusting the certificate the front serves as the proof from outside does."""
    options = ["--bosh-url", front.url("/http-bind"), "--transports", transports]
    if "websocket" in transports:
        options += ["--websocket-url", front.url("/xmpp-websocket", scheme="wss")]
    return [*options, "--connect", "127.0.0.1", "--ca-env", CA_VARIABLE]


def probe(
    stdin: str,
    *options: str,
    guest=True,
    certificate: str | None = None,
    system: ProsodyServer | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Runs the probe as a user does, with `certificate` (PEM) in CA_VARIABLE when given; with
    `system`, on that server's system (for Prosody 13: Debian 13 and its Python 3.13)."""
    command = [sys.executable, str(SCRIPTS / "verify_auth")]
    if system is not None and system.root is not None:
        command = system.command(["python3", "-B", f"{system.scripts}/verify_auth"])
    args = ["--domain", DOMAIN, *options]
    if guest:
        args += ["--guest-domain", GUEST]
    env = dict(os.environ)
    env.pop(CA_VARIABLE, None)
    if certificate is not None:
        env[CA_VARIABLE] = certificate
    result = subprocess.run(
        [*command, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    for password in [*MODERATORS.values(), COMPONENT_SECRET]:
        assert password not in result.stdout + result.stderr
    return result


def shown_while_running(options: list[str], until: bytes, within: float) -> tuple[bytes, bool]:
    """What the probe printed until `until` appeared (or `within` seconds passed), and whether it
    was still running then; it is killed after. Run as on the VM, where nothing sets
    PYTHONUNBUFFERED: a pipe's output is then buffered unless the probe flushes it."""
    command = [sys.executable, str(SCRIPTS / "verify_auth"), "--domain", DOMAIN, *options]
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env)
    shown = b""
    try:
        give_up = time.monotonic() + within
        while until not in shown and time.monotonic() < give_up:
            if select.select([process.stdout], [], [], 0.2)[0]:
                shown += os.read(process.stdout.fileno(), 65536)
        return shown, process.poll() is None
    finally:
        process.kill()
        process.communicate(timeout=10)


def lines(result: subprocess.CompletedProcess, status: str, number: int, over: str = "") -> list:
    """The result lines of one kind and check number (and transport, with `over`)."""
    found = [line for line in result.stdout.splitlines() if line.startswith(f"{status} {number} ")]
    return [line for line in found if f" over {over}" in line] if over else found
