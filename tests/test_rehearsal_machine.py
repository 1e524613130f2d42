"""The rehearsal's machine (tests/rehearsal/machine): a fresh Compute Engine VM booted on this
one with systemd-nspawn, that only the deploy user from its metadata can log in to, whose apt
reaches Debian's archive through the relay and nothing else, and that leaves nothing behind."""

import errno
import ipaddress
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from rehearsal.machine.vm import Vm
from support import require

RELEASES = ["bookworm", "trixie"]
FQDN = "jitsi-rehearsal.europe-west1-b.c.jitsi-rehearsal.internal"
USER = "deploy"
# Run inside the VM: connect to argv[1]:argv[2], print the errno when that fails.
CONNECT = """import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)
except OSError as e:
    print(e.errno)
"""
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"


def prerequisites() -> None:
    require(os.geteuid() == 0, "the rehearsal machine needs root (netns, veth, systemd-nspawn)")
    for tool in ("systemd-nspawn", "debootstrap", "ip", "nsenter", "ssh", "ssh-keygen"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")


@pytest.fixture
def key(tmp_path):
    path = tmp_path / "deploy_key"
    argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", USER, "-f", str(path)]
    subprocess.run(argv, check=True, timeout=30)
    return path


def make_vm(release, tmp_path, key, name="vm") -> Vm:
    prerequisites()
    public = key.with_suffix(".pub").read_text().strip()
    metadata = {"ssh-keys": f"{USER}:{public}", "hostname": FQDN, "enable-oslogin": "FALSE"}
    return Vm(release, tmp_path / name, metadata)


def ssh(vm, key, user, command):
    options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR"]
    options += ["-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes"]
    options += ["-o", "ConnectTimeout=10", "-i", str(key)]
    argv = ["ssh", *options, f"{user}@{vm.address}", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def root(vm, *argv, timeout=60):
    result = vm.run(list(argv), timeout=timeout)
    assert result.returncode == 0, (argv, result.stdout, result.stderr)
    return result.stdout.decode()


def host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, timeout=30)
    return [a["local"] for link in json.loads(out.stdout) for a in link["addr_info"]]


@pytest.mark.parametrize("release", RELEASES)
def test_only_the_metadata_user_logs_in_and_sudo_works(release, tmp_path, key):
    with make_vm(release, tmp_path, key) as vm:
        with socket.create_connection((vm.address, 22), timeout=5) as s:
            assert s.recv(4) == b"SSH-"
        # The VM's sshd is not served on any host address (a host sshd may be: other keys).
        host_keys = root(vm, "sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub").splitlines()
        vm_keys = {line.split()[1] for line in host_keys}
        assert len(vm_keys) == 3  # ecdsa, ed25519, rsa: made at first boot, as on GCE
        for address in host_addresses():
            scan = subprocess.run(
                ["ssh-keyscan", "-T", "3", address], capture_output=True, text=True, timeout=30
            )
            served = {line.split()[2] for line in scan.stdout.splitlines() if len(line.split()) > 2}
            assert not served & vm_keys, f"the VM's sshd answers on host address {address}"

        login = ssh(vm, key, USER, "id -un; hostname; sudo -n true && echo sudo-ok")
        assert login.returncode == 0, login.stderr
        assert login.stdout.split() == [USER, FQDN.split(".")[0], "sudo-ok"]
        for other in ("root", "admin", "intruder"):
            assert ssh(vm, key, other, "true").returncode == 255, f"{other} could log in"

        # What GCE's guest agent leaves: sudoers file, group, key file modes and owners.
        assert root(vm, "stat", "-c", "%a %U", "/etc/sudoers.d/google_sudoers") == "440 root\n"
        sudoers = root(vm, "cat", "/etc/sudoers.d/google_sudoers")
        assert sudoers == "%google-sudoers ALL=(ALL:ALL) NOPASSWD:ALL\n"
        assert "google-sudoers" in root(vm, "id", "-nG", USER).split()
        keys = f"/home/{USER}/.ssh/authorized_keys"
        assert root(vm, "stat", "-c", "%a %U", f"/home/{USER}/.ssh", keys).split() == [
            "700", USER, "600", USER,
        ]  # fmt: skip
        assert root(vm, "getent", "passwd", USER).strip().endswith(f":/home/{USER}:/bin/bash")


@pytest.mark.parametrize("release", RELEASES)
def test_unit_starts_counts_what_systemd_ran(release, tmp_path, key):
    with make_vm(release, tmp_path, key) as vm:
        assert vm.unit_starts("ssh") == 1
        root(vm, "systemctl", "restart", "ssh")
        assert vm.unit_starts("ssh.service") == 2
        assert vm.unit_starts("sshd") == 2  # the alias counts the same unit
        root(vm, "systemctl", "start", "ssh")  # already running: nothing ran
        assert vm.unit_starts("ssh") == 2
        # A record a script writes, however it looks, is not systemd's.
        forged = (
            "MESSAGE=Started ssh.service\nMESSAGE_ID=39f53479d3a045ac8e11786248231fbf\n"
            "UNIT=ssh.service\nJOB_TYPE=start\nJOB_RESULT=done\n"
        )
        code = (
            "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM);"
            "s.sendto(sys.stdin.buffer.read(), '/run/systemd/journal/socket')"
        )
        assert vm.run(["python3", "-c", code], input=forged.encode()).returncode == 0
        assert vm.unit_starts("ssh") == 2
        # A start that fails still ran (a restart that left the service down counts).
        unit = "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"
        vm.run(["tee", "/etc/systemd/system/probe.service"], input=unit.encode())
        root(vm, "systemctl", "daemon-reload")
        assert vm.unit_starts("probe") == 0
        root(vm, "systemctl", "start", "probe")
        vm.run(["sed", "-i", "s|/bin/true|/bin/false|", "/etc/systemd/system/probe.service"])
        root(vm, "systemctl", "daemon-reload")
        assert vm.run(["systemctl", "restart", "probe"]).returncode != 0
        assert vm.unit_starts("probe") == 2


@pytest.mark.parametrize("release", RELEASES)
def test_apt_reaches_debian_through_the_relay_and_nothing_else(release, tmp_path, key):
    with make_vm(release, tmp_path, key) as vm:
        # No route but the veth's /30: anything else fails at once, the host's other addresses
        # included.
        routes = root(vm, "cat", "/proc/net/route").splitlines()[1:]
        assert [r.split()[0] for r in routes] == ["ens4"]
        outside = [("203.0.113.80", 80), ("1.1.1.1", 53)]
        outside += [(a, 22) for a in host_addresses() if a not in (vm.host_address, "127.0.0.1")]
        for address, port in outside:
            started = time.monotonic()
            out = root(vm, "python3", "-c", CONNECT, address, str(port))
            assert out.strip() == str(errno.ENETUNREACH), (address, out)
            assert time.monotonic() - started < 5

        apt = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q"]
        # apt-get update exits 0 even when every source failed: its warnings tell.
        update = vm.run([*apt, "update"], timeout=300)
        assert update.returncode == 0 and b"W:" not in update.stderr, update.stderr
        root(vm, *apt, "install", "-y", "--no-install-recommends", "hello", timeout=300)
        assert root(vm, "hello").strip() == "Hello, world!"
        assert vm.relay.requests and {r[1] for r in vm.relay.requests} == {"deb.debian.org"}

        # Debian's archive only, whatever the VM asks for.
        release_file = f"http://deb.debian.org/debian/dists/{release}/Release"
        assert f"Codename: {release}" in root(vm, "python3", "-c", FETCH, release_file)
        for host, path in [("example.com", "/debian/"), ("deb.debian.org", "/etc/passwd")]:
            connection = socket.create_connection((vm.host_address, 80), timeout=10)
            with connection:
                connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                assert connection.recv(64).startswith(b"HTTP/1.1 403"), (host, path)

        # The rehearsal's own folders, served to the VM only.
        (tmp_path / "served").mkdir()
        (tmp_path / "served" / "hello.txt").write_text("from the host\n")
        base = vm.serve_directory(tmp_path / "served")
        assert ipaddress.ip_address(base.split("//")[1].split(":")[0]) == ipaddress.ip_address(
            vm.host_address
        )
        assert "from the host" in root(vm, "python3", "-c", FETCH, f"{base}/hello.txt")


def test_two_vms_at_once_and_stop_leaves_nothing(tmp_path, key):
    vms = [make_vm("bookworm", tmp_path, key, name) for name in ("one", "two")]
    errors = []

    def start(vm):
        try:
            vm.start()
        except Exception as error:  # reported below, from the test's own thread
            errors.append(error)

    threads = [threading.Thread(target=start, args=(vm,)) for vm in vms]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert not errors, errors
        one, two = vms
        assert one.name != two.name and one.veth != two.veth and one.address != two.address
        nets = [ipaddress.ip_network(f"{vm.address}/30", strict=False) for vm in vms]
        assert not nets[0].overlaps(nets[1])
        for vm in vms:
            assert len(vm.veth) <= 15
            assert ssh(vm, key, USER, "true").returncode == 0
        pids = [vm.pid for vm in vms]
        relays = [vm.relay for vm in vms]
    finally:
        for vm in vms:
            vm.stop()
            vm.stop()  # a second stop does nothing
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    for vm, pid, relay in zip(vms, pids, relays, strict=True):
        assert not os.path.exists(f"/proc/{pid}"), "systemd-nspawn is still running"
        assert vm.name not in namespaces and vm.veth not in links
        assert vm.host_address not in host_addresses()
        assert relay.server.socket.fileno() == -1, "the relay still listens"
        assert not vm.root.exists()


# A run killed before stop(): it boots a VM, reports it, and dies by SIGKILL.
KILLED_RUN = """import json, os, pathlib, signal, sys
from rehearsal.machine.vm import Vm
vm = Vm("bookworm", pathlib.Path(sys.argv[1]), {})
vm.start()
print(json.dumps({"name": vm.name, "veth": vm.veth, "pid": vm.pid, "root": str(vm.root)}))
sys.stdout.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_what_a_killed_run_left_is_swept_by_the_next(tmp_path, key):
    prerequisites()
    tests = pathlib.Path(__file__).resolve().parent
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path / "killed")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(tests)},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = json.loads(killed.stdout)
    assert os.path.exists(f"/proc/{left['pid']}"), "the killed run's VM should still be up"
    with make_vm("bookworm", tmp_path, key) as vm:
        assert vm.name != left["name"]
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not os.path.exists(f"/proc/{left['pid']}")
    assert left["name"] not in namespaces and left["veth"] not in links
    assert not os.path.exists(left["root"])
