"""A pretend bridge VM for running the real scripts in scripts/bridge/.

Google's metadata server, Secret Manager and the bridge's REST API are small HTTP stand-ins on
127.0.0.1 (free ports), started and stopped by the tests; the scripts' base URLs point at them.
Every system path lives under a temporary root (JITSI_BRIDGE_ROOT), and the system commands the
boot script runs are the recording stand-ins of tests/bridge_stubs/, first on PATH (dpkg-query
stays real). Optionally the run is traced (strace -f -e trace=execve -v), which shows the
arguments and the environment of every process the script starts.
"""

import base64
import dataclasses
import http.server
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading

from support import ROOT, SCRIPTS

STUB = ROOT / "tests" / "bridge_stubs" / "stub.py"
COMMANDS = (
    "apt-get",
    "apt-cache",
    "apt-mark",
    "debconf-set-selections",
    "update-ca-certificates",
    "systemctl",
)
SECRET = "projects/jitsi-test-project/secrets/jitsi-bridges-test-xmpp-password"
TOKEN = "ya29.stand-in-access-token"
ARMORED_KEY = (
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGVzdGFuZC1pbg==\n"
    "-----END PGP PUBLIC KEY BLOCK-----\n"
)


@dataclasses.dataclass
class Answer:
    status: int
    body: bytes
    headers: dict = dataclasses.field(default_factory=dict)


class StandIn:
    """An HTTP server on 127.0.0.1 (or `host`: the rehearsal serves a booted bridge from the
    host end of its link) that answers from `routes` ((method, path) -> Answer or a function of
    the request's body giving one) and records every request."""

    def __init__(self, routes: dict, host: str = "127.0.0.1"):
        self.routes = routes
        self.requests: list[tuple[str, str, dict, bytes]] = []
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stand_in.requests.append((self.command, self.path, dict(self.headers), body))
                answer = stand_in.routes.get((self.command, self.path), Answer(404, b"not found"))
                if callable(answer):
                    answer = answer(self.headers, body)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = _answer  # noqa: N815 (http.server's names)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        """Stops answering; nothing listens on the port afterwards. Once is enough."""
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()


def metadata_routes(attributes: dict[str, str], instance: dict[str, str]) -> dict:
    """The metadata server's answers: attributes, the instance's own values, a token."""
    google = {"Metadata-Flavor": "Google"}

    def answer(value: str):
        def respond(headers, _body):
            # The real server refuses a request without the header (SSRF protection).
            if headers.get("Metadata-Flavor") != "Google":
                return Answer(403, b"Missing Metadata-Flavor:Google header", google)
            return Answer(200, value.encode(), google)

        return respond

    base = "/computeMetadata/v1/instance"
    routes = {("GET", f"{base}/attributes/{k}"): answer(v) for k, v in attributes.items()}
    routes.update({("GET", f"{base}/{k}"): answer(v) for k, v in instance.items()})
    token = json.dumps({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"})
    routes[("GET", f"{base}/service-accounts/default/token")] = answer(token)
    return routes


def secret_routes(password: str, status: int = 200, secret: str = SECRET) -> dict:
    """Secret Manager's answer for `secret`: the password to the bearer of TOKEN, 403
    otherwise."""

    def respond(headers, _body):
        if status != 200 or headers.get("Authorization") != f"Bearer {TOKEN}":
            error = {"error": {"code": 403, "status": "PERMISSION_DENIED"}}
            return Answer(status if status != 200 else 403, json.dumps(error).encode())
        data = base64.b64encode(password.encode()).decode()
        body = {"name": f"{secret}/versions/1", "payload": {"data": data}}
        return Answer(200, json.dumps(body).encode())

    return {("GET", f"/v1/{secret}/versions/latest:access"): respond}


def new_root(path: pathlib.Path, boot_id: str) -> pathlib.Path:
    """A fresh VM's paths: a group file, an empty dpkg database, a boot id."""
    (path / "etc").mkdir(parents=True)
    (path / "etc/group").write_text("root:x:0:\nadm:x:4:\n")
    (path / "var/lib/dpkg").mkdir(parents=True)
    (path / "var/lib/dpkg/status").write_text("")
    (path / "proc/sys/kernel/random").mkdir(parents=True)
    (path / "proc/sys/kernel/random/boot_id").write_text(boot_id + "\n")
    return path


@dataclasses.dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    calls: list[dict]
    # strace's record of every execve (arguments and environment), when traced.
    trace: str


def run_script(
    script: str, root: pathlib.Path, env: dict[str, str], work: pathlib.Path, trace=False
) -> Result:
    """Runs scripts/bridge/<script> as Compute Engine would (root, no terminal), in `root`."""
    bin_dir = work / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in COMMANDS:
        if not (bin_dir / name).exists():
            (bin_dir / name).symlink_to(STUB)
    log = work / "calls.jsonl"
    log.write_text("")
    path = f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    environment = {
        "PATH": path,
        "LANG": "C.UTF-8",
        "JITSI_BRIDGE_ROOT": str(root),
        "JITSI_BRIDGE_WAIT_SECONDS": "0",
        "BRIDGE_STUB_LOG": str(log),
        **env,
    }
    argv = [sys.executable, "-B", str(SCRIPTS / "bridge" / script)]
    trace_file = work / "execve.trace"
    if trace:
        strace = ["strace", "-f", "-qq", "-v", "-s", "65536", "-e", "trace=execve"]
        argv = [*strace, "-o", str(trace_file), *argv]
    done = subprocess.run(
        argv, env=environment, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return Result(
        done.returncode,
        done.stdout,
        done.stderr,
        calls,
        trace_file.read_text() if trace else "",
    )


def has_strace() -> bool:
    return shutil.which("strace") is not None and os.geteuid() == 0
