"""A fresh Compute Engine VM on this machine, for the rehearsal.

`Vm` boots a copy of a cached Debian root (make_vm_root.sh) with systemd-nspawn in a network
namespace of its own, joined to the host by one veth pair on a /30 of 10.213.0.0/16: the VM's
sshd is reachable at (vm.address, 22) and nowhere else, and the VM has no route but that /30.
At boot the guest agent stand-in (google_guest_agent.py) applies the metadata as GCE's agent
does. The VM's apt reaches Debian's archive through the relay (relay.py) on vm.host_address:80.

    with Vm("bookworm", tmp_path / "vm", {"ssh-keys": "deploy:ssh-ed25519 AAAA... deploy"}) as vm:
        vm.run(["systemctl", "is-active", "ssh"])

Needs root, systemd-container, iproute2, debootstrap and util-linux (nsenter, flock).
"""

import atexit
import contextlib
import fcntl
import ipaddress
import json
import os
import pathlib
import random
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from .relay import Relay

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_ROOTS = "/var/cache/jitsi-meet-gce/rehearsal"
# One record per live VM (what to clean if its run is killed before stop()), and the lock held
# while a run sweeps dead runs' leftovers and picks its /30, so two runs never pick the same.
RUN_DIR = pathlib.Path("/run/jitsi-meet-gce-rehearsal")
POOL = ipaddress.IPv4Network("10.213.0.0/16")
# What GCE puts after the instance name in instance/hostname (zone, project): made up here.
DEFAULT_HOST_DOMAIN = "us-central1-a.c.rehearsal.internal"
# Results of a start job that ran the unit's start (systemd's job_result names); the others
# (dependency, skipped, assert, canceled, ...) mean it never ran.
RAN = {"done", "failed", "timeout"}
VM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _ip_json(*args: str) -> list:
    out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout or "[]")


def _taken_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host has an address in or a route to (default route aside)."""
    taken = []
    for link in _ip_json("-4", "addr", "show"):
        for a in link.get("addr_info", []):
            taken.append(ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False))
    for route in _ip_json("-4", "route", "show", "table", "all"):
        if route.get("dst", "default") != "default":
            taken.append(ipaddress.IPv4Network(route["dst"], strict=False))
    return taken


def _started_at(pid: int) -> str | None:
    """The process's start time (in clock ticks since boot): with the pid, it names one process,
    never a later one that reuses the pid."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _process(pid: int) -> list:
    return [pid, _started_at(pid)]


def _alive(process: list | None) -> bool:
    return bool(process) and _started_at(process[0]) == process[1]


def _remove_network(netns: str, veth: str) -> None:
    # Deleting the netns deletes the VM's end of the veth, and with it the host's end.
    subprocess.run(["ip", "netns", "delete", netns], capture_output=True, timeout=30)
    if subprocess.run(["ip", "link", "show", veth], capture_output=True).returncode == 0:
        subprocess.run(["ip", "link", "delete", veth], capture_output=True, timeout=30)


def _sweep_dead_runs() -> None:
    """Removes what runs killed before their stop() (SIGKILL, an unhandled SIGTERM) left."""
    for path in RUN_DIR.glob("*.json"):
        record = json.loads(path.read_text())
        if _alive(record["owner"]):
            continue
        # The VM's PID 1 first: killing it kills every process of the VM.
        for process in (record.get("init"), record.get("nspawn")):
            if _alive(process):
                os.kill(process[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(record.get(p)) for p in ("init", "nspawn")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"a dead run's VM would not die: {record}")
            time.sleep(0.1)
        _remove_network(record["netns"], record["veth"])
        shutil.rmtree(record["root"], ignore_errors=True)
        path.unlink()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Vm:
    def __init__(
        self,
        release: str,
        work_dir: pathlib.Path,
        metadata: dict[str, str] | None = None,
        base_cache: pathlib.Path | None = None,
    ):
        self.release = release
        self.work_dir = pathlib.Path(work_dir)
        self.metadata = dict(metadata or {})
        roots = os.environ.get("REHEARSAL_ROOTS", DEFAULT_ROOTS)
        self.base_cache = pathlib.Path(base_cache or roots)
        tag = secrets.token_hex(4)
        self.name = f"rehearsal-{tag}"  # machine name, netns name
        self.veth = f"rhh{tag}"  # host end (interface names have at most 15 characters)
        self._peer = f"rhv{tag}"  # VM end, renamed ens4 (GCE's NIC name) inside the netns
        self.root = self.work_dir / "root"
        self.log_path = self.work_dir / "nspawn.log"
        self.address = ""
        self.host_address = ""
        self.relay: Relay | None = None
        self.timings: dict[str, float] = {}  # seconds: base, copy, boot (to sshd answering)
        self._nspawn: subprocess.Popen | None = None
        self._init: int | None = None
        self._record = RUN_DIR / f"{self.name}.json"
        self._prepared = False
        self._servers: list[ThreadingHTTPServer] = []

    @property
    def pid(self) -> int | None:
        """The host PID of the running systemd-nspawn, if any."""
        return self._nspawn.pid if self._nspawn is not None else None

    def __enter__(self) -> "Vm":
        if self._nspawn is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        """prepare(), then boot() with the metadata given to the constructor."""
        self.prepare()
        self.boot(self.metadata, timeout)

    def prepare(self) -> None:
        """Builds or reuses the base root, copies it, makes the network and starts the relay:
        address, host_address and serve_directory() work from here on, before the boot."""
        if self._prepared:
            return
        if os.geteuid() != 0:
            raise PermissionError("the rehearsal VM needs root (netns, veth, systemd-nspawn)")
        atexit.register(self.stop)
        self._prepared = True
        try:
            self._copy_root()
            self._make_network()
            self.relay = Relay(self.host_address, self.base_cache / "relay-pool")
        except BaseException:
            self.stop()
            raise

    def boot(self, metadata: dict[str, str] | None = None, timeout: float = 60) -> None:
        """Boots the prepared copy with this instance metadata (default: the constructor's) and
        waits at most `timeout` seconds for sshd to answer on (address, 22)."""
        self.prepare()
        if metadata is not None:
            self.metadata = dict(metadata)
        try:
            self._install_boot_files()
            self._boot(timeout)
        except BaseException:
            self.stop()
            raise

    def _copy_root(self) -> None:
        base = self.base_cache / self.release
        began = time.monotonic()
        builder = HERE / "make_vm_root.sh"
        subprocess.run(["bash", str(builder), str(base), self.release], check=True, timeout=1800)
        self.timings["base"] = time.monotonic() - began
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if self.root.exists():
            shutil.rmtree(self.root)
        began = time.monotonic()
        # The shared lock keeps make_vm_root.sh from replacing the base root during the copy.
        with open(f"{base}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            cp = ["cp", "-a", "--reflink=auto", str(base), str(self.root)]
            subprocess.run(cp, check=True, timeout=600)
        self.timings["copy"] = time.monotonic() - began

    def _make_network(self) -> None:
        RUN_DIR.mkdir(mode=0o700, exist_ok=True)
        with open(RUN_DIR / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _sweep_dead_runs()
            taken = _taken_networks()
            for _ in range(200):
                net = ipaddress.IPv4Network((int(POOL[0]) + 4 * random.randrange(2**14), 30))
                if not any(net.overlaps(other) for other in taken):
                    break
            else:
                raise RuntimeError(f"no free /30 left in {POOL}")
            self._save_record()
            _ip("netns", "add", self.name)
            _ip("link", "add", self.veth, "type", "veth", "peer", "name", self._peer)
            host, vm = (str(a) for a in net.hosts())
            _ip("addr", "add", f"{host}/30", "dev", self.veth)
        self.host_address, self.address = host, vm
        _ip("link", "set", self._peer, "netns", self.name)
        _ip("-n", self.name, "link", "set", self._peer, "name", "ens4")
        _ip("-n", self.name, "addr", "add", f"{vm}/30", "dev", "ens4")
        _ip("-n", self.name, "link", "set", "ens4", "up")
        _ip("-n", self.name, "link", "set", "lo", "up")
        _ip("link", "set", self.veth, "up")

    def _save_record(self) -> None:
        record = {"owner": _process(os.getpid()), "netns": self.name, "veth": self.veth}
        record["root"] = str(self.root)
        if self._nspawn is not None:
            record["nspawn"] = _process(self._nspawn.pid)
            record["init"] = _process(self._init_pid())
        temporary = self._record.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        temporary.replace(self._record)

    def _install_boot_files(self) -> None:
        # The agent stand-in is copied at every boot, so editing it needs no rebuild of the base.
        lib = self.root / "usr/lib/rehearsal"
        lib.mkdir(parents=True, exist_ok=True)
        shutil.copy(HERE / "google_guest_agent.py", lib / "google_guest_agent.py")
        units = self.root / "etc/systemd/system"
        shutil.copy(HERE / "google-guest-agent.service", units / "google-guest-agent.service")
        wants = units / "multi-user.target.wants"
        wants.mkdir(exist_ok=True)
        (wants / "google-guest-agent.service").symlink_to(
            "/etc/systemd/system/google-guest-agent.service"
        )
        # No DNS server can be reached: the one name the VM may resolve is the package relay's.
        with (self.root / "etc/hosts").open("a") as hosts:
            hosts.write(f"{self.host_address} deb.debian.org\n")
        # GCE's metadata server always has instance/hostname: default to this machine's name.
        metadata = {"hostname": f"{self.name}.{DEFAULT_HOST_DOMAIN}", **self.metadata}
        folder = self.work_dir / "metadata"
        folder.mkdir(exist_ok=True)
        (folder / "metadata.json").write_text(json.dumps(metadata))

    def _boot(self, timeout: float) -> None:
        argv = [
            "systemd-nspawn",
            "--boot",
            "--register=no",  # the host runs no systemd to register with
            "--keep-unit",
            f"--directory={self.root}",
            f"--machine={self.name}",
            f"--network-namespace-path=/run/netns/{self.name}",
            f"--bind-ro={self.work_dir / 'metadata'}:/run/rehearsal",
            "--resolv-conf=off",  # keep the image's own (GCE's unreachable metadata resolver)
            "--timezone=off",
            "--link-journal=no",
        ]
        began = time.monotonic()
        with self.log_path.open("wb") as log:
            self._nspawn = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = began + timeout
        while not self._sshd_answers():
            if self._nspawn.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited early:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"sshd did not answer within {timeout} s:\n{self._log_tail()}")
            time.sleep(0.2)
        self.timings["boot"] = time.monotonic() - began
        self._save_record()

    def _sshd_answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((self.address, 22), 2) as s:
            s.settimeout(2)
            return s.recv(4).startswith(b"SSH-")
        return False

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-4000:]
        return ""

    def _init_pid(self) -> int:
        """The host PID of the VM's systemd: the descendant of nspawn that is PID 1 in its ns."""
        if self._init is not None:
            return self._init
        if self._nspawn is None:
            raise RuntimeError("the VM is not running")
        children: dict[int, list[int]] = {}
        for entry in pathlib.Path("/proc").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
        stack = [self._nspawn.pid]
        while stack:
            pid = stack.pop()
            with contextlib.suppress(OSError):
                status = pathlib.Path(f"/proc/{pid}/status").read_text()
                nspid = next(x for x in status.splitlines() if x.startswith("NSpid:")).split()
                if len(nspid) > 2 and nspid[-1] == "1":
                    self._init = pid
                    return pid
            stack += children.get(pid, [])
        raise RuntimeError("the VM's init process was not found")

    def run(
        self, argv: list[str], input: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        """Runs argv as root inside the VM (in its namespaces, not over SSH) and returns its
        exit code and output (bytes); a non-zero exit does not raise. On timeout the command is
        killed and subprocess.TimeoutExpired raised."""
        enter = ["nsenter", f"--target={self._init_pid()}", "--mount", "--uts", "--ipc"]
        enter += ["--net", "--pid", "--cgroup", "--root", "--wd", "--"]
        process = subprocess.Popen(
            enter + list(argv),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": VM_PATH, "HOME": "/root", "LANG": "C.UTF-8"},
            start_new_session=True,  # so a timeout kills the command too, not only nsenter
        )
        try:
            out, err = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
        return subprocess.CompletedProcess(argv, process.returncode, out, err)

    def unit_starts(self, unit: str) -> int:
        """How many times systemd ran a start of the unit since boot: each start or restart
        (automatic ones too), whether it succeeded or failed. Counted from PID 1's own job
        records in the journal (a script cannot write those); a start of an already active
        unit, and one skipped for a failed condition or dependency, are not counted."""
        show = self.run(["systemctl", "show", "--property=Id", "--value", unit])
        unit_id = show.stdout.decode().strip()
        if show.returncode != 0 or not unit_id:
            raise RuntimeError(f"systemctl show {unit}: {show.stderr.decode()}")
        self.run(["journalctl", "--sync"])  # records sent before now are all readable
        query = ["journalctl", "--boot", "--no-pager", "--output=json", "_PID=1"]
        query += [f"UNIT={unit_id}", "JOB_TYPE=start"]
        records = [json.loads(line) for line in self.run(query).stdout.decode().splitlines()]
        return sum(r.get("JOB_RESULT") in RAN for r in records)

    def serve_directory(self, path: pathlib.Path) -> str:
        """Serves path read-only over HTTP to the VM; returns its base URL (stopped by stop())."""
        handler = partial(_QuietFiles, directory=str(path))
        server = ThreadingHTTPServer((self.host_address, 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        return f"http://{self.host_address}:{server.server_address[1]}"

    def stop(self) -> None:
        """Shuts the VM down (SIGTERM to nspawn: a clean poweroff; SIGKILL after 30 s), then
        removes the servers, the netns and veth, and the copy of the root. Safe to repeat."""
        atexit.unregister(self.stop)
        self._prepared = False
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        if self._nspawn is not None:
            self._power_off(self._nspawn)
            self._nspawn = None
            self._init = None
        if self._record.exists():
            _remove_network(self.name, self.veth)
            self._record.unlink()
        if self.root.exists():
            shutil.rmtree(self.root)

    def _power_off(self, nspawn: subprocess.Popen) -> None:
        if nspawn.poll() is not None:
            return
        init = None
        with contextlib.suppress(RuntimeError):
            init = self._init_pid()
        nspawn.send_signal(signal.SIGTERM)
        try:
            nspawn.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Killing the VM's PID 1 kills every process in its PID namespace.
            if init is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(init, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(nspawn.pid, signal.SIGKILL)
            nspawn.wait(timeout=30)
