"""A real Prosody for tests: started on free loopback ports as the `prosody` user, stopped after.

Two flavours: the host's Prosody (Debian 12: 0.12) and Prosody 13 inside the Debian 13 root that
tests/make_prosody13_root.sh builds (PROSODY13_ROOT). With a root, every command (prosody,
prosodyctl, the project's scripts) runs chrooted into it, so the scripts meet the Prosody and the
Python of a Debian 13 server. Paths handed to those commands are paths inside the root.
"""

import contextlib
import fcntl
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from support import SCRIPTS, require

PLUGINS = pathlib.Path(__file__).resolve().parent / "prosody_plugins"
START_TIMEOUT = 15.0
# How long a server waits for the Prosody 13 root's lock: a run started at the same time may be
# building the root (about a minute on a fresh machine).
ROOT_LOCK_TIMEOUT = 600.0
# Ports are picked free, then bound by Prosody a moment later; another test run may take one in
# between. Prosody then logs the failure and keeps running: the start is tried again on new ports.
START_ATTEMPTS = 3


def end_process_group(process: subprocess.Popen | None) -> None:
    """Stops a server started in a process group of its own: TERM, then KILL after 5 s."""
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prosody13_root() -> pathlib.Path:
    """The Debian 13 root with Prosody 13; skips (fails in CI) when it was not built."""
    root = pathlib.Path(os.environ.get("PROSODY13_ROOT", "/var/cache/jitsi-meet-gce/trixie"))
    require(
        (root / ".ready").exists(), f"no Prosody 13 root at {root} (bash tests/run.sh builds it)"
    )
    return root


def _share_root(root: pathlib.Path) -> int:
    """A shared lock on ROOT.lock, held while a server uses the root: make_prosody13_root.sh
    replaces a root only under the exclusive one. Returns the lock's descriptor."""
    fd = os.open(f"{root}.lock", os.O_RDONLY | os.O_CREAT, 0o644)
    deadline = time.monotonic() + ROOT_LOCK_TIMEOUT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise TimeoutError(f"{root} stayed locked for {ROOT_LOCK_TIMEOUT:.0f} s") from None
            time.sleep(0.2)


def _listening_sockets(port: int) -> set[str]:
    """The socket inodes listening on 127.0.0.1:port, from the kernel's own table."""
    found = set()
    for line in pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # 0A: LISTEN
            found.add(fields[9])
    return found


def _sockets_of(pid: int) -> set[str]:
    sockets = set()
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                sockets.add(target[len("socket:[") : -1])
    return sockets


def _prosody_ids(root: pathlib.Path | None) -> tuple[int, int]:
    if root is None:
        entry = pwd.getpwnam("prosody")
        return entry.pw_uid, entry.pw_gid
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "prosody":
            return int(fields[2]), int(fields[3])
    raise RuntimeError(f"no prosody user in {root}/etc/passwd")


class ProsodyServer:
    """One Prosody instance with its own config, data and ports.

    `site_config` is the text of a site file (VirtualHosts, Components), included after the
    harness's global settings exactly as Jitsi's site file is included by /etc/prosody.
    """

    def __init__(self, site_config: str, root: pathlib.Path | None = None):
        require(root is not None or shutil.which("prosody") is not None, "prosody is not installed")
        require(os.geteuid() == 0, "running Prosody as its own user needs root")
        self.root = root
        # Held until stop(): no rebuild may replace the root under a running server.
        self._root_lock = _share_root(root) if root is not None else None
        self.uid, self.gid = _prosody_ids(root)
        tmp_parent = root / "tmp" if root else None
        # Not pytest's tmp_path: that is private to root, and Prosody runs as its own user.
        self.host_dir = pathlib.Path(tempfile.mkdtemp(prefix="prosody-test-", dir=tmp_parent))
        self.host_dir.chmod(0o755)
        self.dir = self.inside(self.host_dir)
        self._pick_ports()
        self.config = f"{self.dir}/prosody.cfg.lua"
        self.scripts = self._install_scripts()
        self._write_config(site_config)
        # An external component (a focus stand-in) connects as soon as the server is up: its
        # port must be listening too, which a busy machine may see later than c2s.
        self._components = "component_secret" in site_config
        self.process: subprocess.Popen | None = None

    def inside(self, host_path: pathlib.Path) -> str:
        """A host path as the chrooted commands see it."""
        if self.root is None:
            return str(host_path)
        return "/" + str(host_path.relative_to(self.root))

    def _install_scripts(self) -> str:
        if self.root is None:
            return str(SCRIPTS)
        copy = self.host_dir / "scripts"
        shutil.copytree(SCRIPTS, copy, ignore=shutil.ignore_patterns("__pycache__"))
        return self.inside(copy)

    def _pick_ports(self) -> None:
        self.c2s_port, self.component_port, self.http_port = free_port(), free_port(), free_port()

    def _write_config(self, site_config: str) -> None:
        data = self.host_dir / "data"
        shutil.copytree(PLUGINS, data / "plugins")
        (self.host_dir / "certs").mkdir()
        (self.host_dir / "site.cfg.lua").write_text(site_config)
        self._write_main_config()
        # Prosody writes its pid, log and data here, as its own user.
        for path in [self.host_dir, *self.host_dir.rglob("*")]:
            os.chown(path, self.uid, self.gid)

    def _write_main_config(self) -> None:
        (self.host_dir / "prosody.cfg.lua").write_text(
            f"""-- Written by the test harness: loopback ports, private data, then the site file.
pidfile = "{self.dir}/prosody.pid"
data_path = "{self.dir}/data"
certificates = "{self.dir}/certs"
-- Searched whatever plugin_paths the site file sets: the stand-in Jitsi plugins live here.
installer_plugin_path = "{self.dir}/data/plugins"
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{self.dir}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.c2s_port} }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ {self.component_port} }}
component_interfaces = {{ "127.0.0.1" }}
http_ports = {{ {self.http_port} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
c2s_require_encryption = false
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "admin_shell" }}
Include "{self.dir}/site.cfg.lua"
"""
        )

    def command(self, argv: list[str]) -> list[str]:
        """argv as run as root on this server's system (chrooted for Prosody 13)."""
        return argv if self.root is None else ["chroot", str(self.root), *argv]

    def run(
        self, argv: list[str], stdin: str = "", timeout: float = 30
    ) -> subprocess.CompletedProcess:
        """Runs a command as root beside this server, with text on stdin, bounded in time."""
        return subprocess.run(
            self.command(argv), input=stdin, capture_output=True, text=True, timeout=timeout
        )

    def prosodyctl(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return self.run(["prosodyctl", "--config", self.config, *args], stdin=stdin)

    def start(self) -> "ProsodyServer":
        for _ in range(START_ATTEMPTS):
            self._launch()
            if self._owns_its_ports():
                return self
            # What answered is another process (another test run's server): new ports.
            self._end_process()
            self._pick_ports()
            self._write_main_config()
        self.stop()
        raise RuntimeError(f"prosody found its ports taken {START_ATTEMPTS} times: {self.log()}")

    def _launch(self) -> None:
        if self.root is None:
            drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
            argv = [*drop, "prosody", "--config", self.config, "-F"]
        else:
            argv = ["chroot", f"--userspec={self.uid}:{self.gid}", str(self.root)]
            argv += ["prosody", "--config", self.config, "-F"]
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # so stop() can end the whole process group
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prosody exited with {self.process.returncode}: {self.log()}")
            ports = (self.c2s_port, self.http_port)
            ports += (self.component_port,) if self._components else ()
            if all(self._listening(port) for port in ports) and self._shell():
                return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"prosody did not listen within {START_TIMEOUT}s: {self.log()}")

    def _owns_its_ports(self) -> bool:
        """Whether every listener on this server's ports is this Prosody (setpriv, chroot and
        env exec it: the process started is Prosody itself)."""
        ours = _sockets_of(self.process.pid)
        ports = (self.c2s_port, self.component_port, self.http_port)
        return all(_listening_sockets(port) <= ours for port in ports)

    def _shell(self) -> bool:
        """Prosody 13's prosodyctl changes accounts through the admin socket, which a busy machine
        may see answer after the ports: ready only when it accepts a connection."""
        if self.root is None:
            return True
        try:
            with socket.socket(socket.AF_UNIX) as shell:
                shell.settimeout(0.5)
                shell.connect(str(self.host_dir / "data" / "prosody.sock"))
            return True
        except OSError:
            return False

    @staticmethod
    def _listening(port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def log(self) -> str:
        path = self.host_dir / "prosody.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    def _end_process(self) -> None:
        end_process_group(self.process)

    def stop(self) -> None:
        self._end_process()
        shutil.rmtree(self.host_dir, ignore_errors=True)
        if self._root_lock is not None:
            os.close(self._root_lock)
            self._root_lock = None
