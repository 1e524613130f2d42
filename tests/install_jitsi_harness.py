"""A pretend VM for running the real scripts/install_jitsi/install.sh.

The script's system paths point into a temporary root (INSTALL_JITSI_ROOT) and the system
commands it calls are replaced, first on PATH, by the recording stand-ins in
tests/install_stubs/. dpkg-query, openssl, python3 and timeout stay real.
"""

import hashlib
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from support import ROOT, SCRIPTS

STUBS = ROOT / "tests" / "install_stubs"
STUB_COMMANDS = (
    "apt-cache",
    "apt-get",
    "apt-key",
    "apt-mark",
    "cloud-init",
    "curl",
    "debconf-set-selections",
    "gpg",
    "hostnamectl",
)
STUB_VERSION = "2.0.10314-1"
NEWER = "2.0.10590-1"
# Releases of the pretend repository: jitsi-meet's version -> the versions it pins its parts at,
# each part numbered on its own as upstream's are (these numbers are made up).
RELEASES = {
    STUB_VERSION: {
        "jitsi-videobridge2": "2.3-219-gb5fbe618-1",
        "jicofo": "1.0-1135-1",
        "jitsi-meet-web": "1.0.8542-1",
        "jitsi-meet-web-config": "1.0.8542-1",
        "jitsi-meet-prosody": "1.0.8542-1",
        "jitsi-meet-turnserver": "1.0.8542-1",
    },
    NEWER: {
        "jitsi-videobridge2": "2.3-240-g3f4c1e7d-1",
        "jicofo": "1.0-1140-1",
        "jitsi-meet-web": "1.0.8792-1",
        "jitsi-meet-web-config": "1.0.8792-1",
        "jitsi-meet-prosody": "1.0.8792-1",
        "jitsi-meet-turnserver": "1.0.8792-1",
    },
}
SYSTEMS = {
    "bookworm": ("debian", "12"),
    "trixie": ("debian", "13"),
    "jammy": ("ubuntu", "22.04"),
    "noble": ("ubuntu", "24.04"),
}
UNSUPPORTED_SYSTEMS = {"focal": ("ubuntu", "20.04"), "bullseye": ("debian", "11")}
LOCKS = ("var/lib/dpkg/lock-frontend", "var/lib/dpkg/lock", "var/lib/apt/lists/lock")


@dataclass(frozen=True)
class Call:
    at: float
    command: str
    args: str
    frontend: str


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    calls: list[Call]


class Machine:
    """A temporary root that looks like a fresh VM of one Debian/Ubuntu release."""

    def __init__(
        self,
        base: Path,
        codename: str = "bookworm",
        cloud_init: bool = True,
        offered: tuple[str, ...] = (STUB_VERSION,),
    ):
        self.root = base / "root"
        self.bin = base / "bin"
        self.state = base / "state"
        self.log = base / "calls.log"
        for folder in (self.bin, self.state):
            folder.mkdir(parents=True)
        distro, version = {**SYSTEMS, **UNSUPPORTED_SYSTEMS}[codename]
        self.write(
            "etc/os-release",
            f'PRETTY_NAME="{distro} {version}"\nID={distro}\n'
            f'VERSION_ID="{version}"\nVERSION_CODENAME={codename}\n',
        )
        self.write("etc/hostname", "jitsi-vm\n")
        self.write("etc/hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
        self.write("var/lib/dpkg/status", "")
        for lock in LOCKS:
            self.write(lock, "")
        for command in STUB_COMMANDS:
            if command != "cloud-init" or cloud_init:
                (self.bin / command).symlink_to(STUBS / command)
        self.log.touch()
        self.offer(*offered)

    def offer(self, *versions: str) -> None:
        """What the pretend repository holds from now on: these releases, newest first (only
        those in RELEASES can be installed)."""
        show = self.state / "show"
        shutil.rmtree(show, ignore_errors=True)
        show.mkdir()
        madison = ""
        for version in versions:
            madison += f" jitsi-meet | {version} | https://download.jitsi.org stable/ Packages\n"
            if version in RELEASES:
                (show / f"jitsi-meet={version}").write_text(control_record(version))
        (self.state / "madison").write_text(madison)

    def write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def read(self, relative: str) -> str:
        return (self.root / relative).read_text()

    def calls(self) -> list[Call]:
        lines = self.log.read_text().splitlines()
        return [Call(float(at), cmd, args, env) for at, cmd, args, env in map(split4, lines)]

    def snapshot(self) -> dict[str, str]:
        """Every file under the root with a hash of its content, to prove nothing changed."""
        return {
            str(path.relative_to(self.root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(self.root.rglob("*"))
            if path.is_file()
        }

    def run(self, *args: str, timeout: float = 60, **env: str) -> Result:
        before = len(self.calls())
        environment = {
            "PATH": f"{self.bin}:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "STUB_LOG": str(self.log),
            "STUB_ROOT": str(self.root),
            "STUB_STATE": str(self.state),
            "STUB_VERSION": STUB_VERSION,
            "INSTALL_JITSI_ROOT": str(self.root),
            "INSTALL_JITSI_CLOUD_INIT_TIMEOUT": "10",
            "INSTALL_JITSI_LOCK_TIMEOUT": "10",
            "INSTALL_JITSI_POLL_SECONDS": "0.05",
            "INSTALL_JITSI_LE_TIMEOUT": "10",
            **env,
        }
        started = time.monotonic()
        done = subprocess.run(
            ["bash", str(SCRIPTS / "install_jitsi" / "install.sh"), *args],
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(
            done.returncode,
            done.stdout,
            done.stderr,
            time.monotonic() - started,
            self.calls()[before:],
        )


def control_record(version: str) -> str:
    """apt-cache show jitsi-meet=VERSION, laid out as upstream's (jitsi-meet-debian-meta's
    control-tmpl): the bridge in Pre-Depends, the rest in a folded Depends, the TURN server
    recommended."""
    parts = RELEASES[version]
    depends = ",\n ".join(
        f"{p} (= {parts[p]})"
        for p in ("jicofo", "jitsi-meet-web", "jitsi-meet-web-config", "jitsi-meet-prosody")
    )
    return (
        f"Package: jitsi-meet\nVersion: {version}\nArchitecture: all\n"
        f"Pre-Depends: jitsi-videobridge2 (= {parts['jitsi-videobridge2']})\n"
        f"Depends: {depends}\n"
        f"Recommends: jitsi-meet-turnserver (= {parts['jitsi-meet-turnserver']}) | apache2\n"
        "Description: WebRTC JavaScript video conferences\n\n"
    )


def split4(line: str) -> tuple[str, str, str, str]:
    at, command, args, env = line.split("\t")
    return at, command, args, env


class LockHolder:
    """Another process holding a dpkg lock the way dpkg does (an fcntl write lock).

    With hold_seconds it unlocks by itself and prints the moment it did; without, it holds
    until stop().
    """

    def __init__(self, path: Path, hold_seconds: float | None = None):
        program = textwrap.dedent(
            f"""
            import fcntl, os, sys, time
            fd = os.open({str(path)!r}, os.O_RDWR)
            fcntl.lockf(fd, fcntl.LOCK_EX)
            print("held", flush=True)
            time.sleep({hold_seconds if hold_seconds is not None else 300})
            fcntl.lockf(fd, fcntl.LOCK_UN)
            print(time.time(), flush=True)
            """
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", program], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "held"

    @property
    def pid(self) -> int:
        return self.process.pid

    def released_at(self) -> float:
        out, _ = self.process.communicate(timeout=30)
        return float(out.strip())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def make_ca_signed_cert(folder: Path, domain: str) -> Path:
    """A certificate for domain issued by a throwaway CA: what Let's Encrypt would leave."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=30)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-subj", "/CN=Test CA R11", "-keyout", "ca.key", "-out", "ca.crt")
    openssl("req", "-new", *ec, "-subj", f"/CN={domain}", "-keyout", "site.key", "-out", "site.csr")
    openssl(
        "x509", "-req", "-in", "site.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "site.crt",
    )  # fmt: skip
    return folder / "site.crt"


def have_cloud_init_on_system() -> bool:
    """A real cloud-init behind the stand-ins would spoil the 'no cloud-init' case."""
    return shutil.which("cloud-init", path="/usr/sbin:/usr/bin:/sbin:/bin") is not None
