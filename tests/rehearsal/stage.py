"""The rehearsal stage: a booted Debian machine, Jitsi's stand-in repository, and the program.

`Stage` owns one run: it builds the signed stand-in repository, boots a fresh machine that looks
like a new Compute Engine VM, and runs the real program under mocks with that machine's address
and a real deploy key as the cloud's answers. `Stage.up(config)` then does what `pulumi up` does
over SSH (see engine.py) and measures it; the user's later config changes are further `up`s.
"""

import dataclasses
import json
import pathlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

import pytest
from program_mocks import CloudAnswers, Run, run_program
from rehearsal import firewall
from rehearsal.engine import Engine, Record
from rehearsal.jitsi_repo.build import Repository, build_repository
from rehearsal.machine.vm import Vm
from support import ROOT

# What systemd restarts are counted for: every service a deployment may restart.
SERVICES = ("prosody", "jicofo", "jitsi-videobridge2", "nginx")
# What the deployment's steps write: configuration and accounts (not the session data, such as
# PEP, that every login, the proof's included, leaves in Prosody's data folder).
WATCHED = ("/etc/prosody", "/etc/jitsi", "/etc/nginx", "/var/lib/prosody/*/accounts")
INSTANCE = "gcp:compute/instance:Instance"
# The program's own top-level modules (an older checkout brings its own).
PROGRAM_MODULES = {"config", "config_rules", "components"}
DOMAIN = "meet.rehearsal.example"


@dataclasses.dataclass
class UpReport:
    records: list[Record]
    seconds: float
    # unit -> starts and restarts systemd made during this `up`
    restarts: dict[str, int]

    @property
    def ssh_sessions(self) -> int:
        return sum(r.ssh_sessions for r in self.records)

    def ran(self) -> list[str]:
        """The steps that ran something, on the machine or on this host, as '<action> <name>'."""
        return [f"{r.action} {r.step}" for r in self.records if r.ssh_sessions or r.local]

    def lines(self, title: str) -> list[str]:
        out = [f"{title}: {self.seconds:.1f} s, {self.ssh_sessions} SSH sessions"]
        out += [
            f"  {r.seconds:7.1f} s  {r.ssh_sessions} ssh  {r.action:<22} {r.step}"
            for r in self.records
        ]
        out.append("  restarts: " + ", ".join(f"{u} {n}" for u, n in self.restarts.items()))
        return out


def _program_modules() -> list[str]:
    """The program's modules this process has imported (config, components.*, ...)."""
    return [m for m in sys.modules if m.split(".")[0] in PROGRAM_MODULES]


def _deploy_key(folder: pathlib.Path) -> tuple[str, str]:
    """A real ED25519 pair in OpenSSH format, as pulumi_tls.PrivateKey makes it."""
    key = folder / "deploy-key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(key)],
        check=True,
        timeout=30,
    )
    return key.with_suffix(".pub").read_text(), key.read_text()


class Stage:
    def __init__(self, release: str, work_dir: pathlib.Path, say: Callable[[str], None] = print):
        self.release, self.work_dir, self.say = release, work_dir, say
        self.project = work_dir / "project"
        self.vm: Vm | None = None
        self.engine = Engine(say)
        self.repository_url = ""
        self.key_url = ""
        self.host_keys: dict[str, list[str]] = {}
        self.booted_at = 0.0
        # What the last `up` was given: the user's next change starts from it.
        self.moderators: dict[str, str] = {}
        self.domain = DOMAIN
        # Network tag -> addresses of the other machines that carry it (a pool's bridges).
        self.tagged: dict[str, list[str]] = {}

    # -- the stage ------------------------------------------------------------------------
    def __enter__(self) -> "Stage":
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        if self.vm is not None:
            self.vm.stop()
            self.vm = None

    def _build(self) -> None:
        # The program reads scripts/ from its working folder: a copy, so that a replayed
        # "new commit" can change a script without touching the repository.
        shutil.copytree(
            ROOT / "scripts", self.project / "scripts", ignore=shutil.ignore_patterns("__pycache__")
        )
        repository = self.repository(self.work_dir / "jitsi-repo")
        self.public_key, self.private_key = _deploy_key(self.work_dir)
        self.vm = Vm(self.release, self.work_dir / "vm")
        self.vm.prepare()
        base = self.vm.serve_directory(repository.root)
        self.repository_url = f"{base} {repository.suite}"
        self.key_url = f"{base}/{repository.key_file.relative_to(repository.root)}"
        # Boot with the metadata the program itself gives the instance (its ssh-keys line).
        run = self.program(self.config({"alice": "placeholder-password-1"}))
        (instance,) = [r for r in run.resources if r.type == INSTANCE]
        metadata = dict(instance.inputs["metadata"])
        started = time.monotonic()
        self.vm.boot(metadata)
        self.booted_at = started
        # What the guest agent publishes as guest attributes: the machine's own host keys.
        self.host_keys = {
            kind: self.file(f"/etc/ssh/ssh_host_{kind}_key.pub").split()[:2]
            for kind in ("ed25519", "ecdsa", "rsa")
        }

    def repository(self, dest: pathlib.Path) -> Repository:
        """Jitsi's stand-in repository for this machine: one release (a stage that rehearses
        moving between releases offers more)."""
        return build_repository(dest)

    # -- the user's side ------------------------------------------------------------------
    def config(
        self,
        moderators: Mapping[str, str],
        generated: tuple[str, ...] = (),
        domain: str = DOMAIN,
        **more: str,
    ) -> tuple[dict, list[str]]:
        """Stack config as `pulumi config set` would store it, with secret moderators."""
        config = {
            "gcp:project": "jitsi-rehearsal",
            "jitsi:domain": domain,
            "jitsi:moderators": json.dumps(dict(moderators)),
            "jitsi:generatedModerators": json.dumps(list(generated)),
            "jitsi:jitsiAptSource": self.repository_url,
            "jitsi:jitsiAptKey": self.key_url,
            # Debian's own Prosody: Prosody's repository is not reachable from here.
            "jitsi:prosodyAptSource": "system",
            "jitsi:sshSourceRanges": json.dumps([f"{self.vm.host_address}/32"]),
        }
        config.update(more)
        return config, ["jitsi:moderators"]

    def current_config(self, domain: str | None = None, **passwords: str):
        """The last `up`'s config, with a new domain or passwords when given."""
        return self.config({**self.moderators, **passwords}, domain=domain or self.domain)

    def program(
        self,
        config: tuple[dict, list[str]],
        checkout: pathlib.Path | None = None,
        host_key: str | None = None,
    ) -> Run:
        """The program under mocks, the cloud answering with this machine's address and key.

        `checkout`: another version of the whole project (see `checkout`), run instead of this
        one, with its own modules and scripts."""
        keys = [" ".join(k) for k in self.host_keys.values()]
        answers = CloudAnswers(
            address=self.vm.address,
            public_key=self.public_key,
            private_key=self.private_key,
            # Before the boot (when only the metadata is wanted) no key is known yet.
            **({"host_key": keys[0], "other_host_keys": tuple(keys[1:])} if keys else {}),
        )
        if host_key is not None:
            # What a man in the middle, or a VM that is not ours, would show.
            answers = dataclasses.replace(answers, host_key=host_key, other_host_keys=())
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(checkout or self.project)
            if checkout is None:
                return run_program(config[0], config[1], patch, answers=answers)
            # Its own config.py and components/, not the ones this process imported.
            for name in _program_modules():
                patch.delitem(sys.modules, name)
            patch.syspath_prepend(str(checkout))
            try:
                return run_program(
                    config[0], config[1], patch, answers=answers, main=checkout / "__main__.py"
                )
            finally:
                for name in _program_modules():
                    del sys.modules[name]

    def checkout(self, commit: str) -> pathlib.Path:
        """The project as it was at `commit` (git archive), for replaying an older deployment."""
        folder = self.work_dir / f"checkout-{commit[:12]}"
        folder.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit], capture_output=True, timeout=60, check=True
        )
        subprocess.run(
            ["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True, timeout=60
        )
        return folder

    def up(
        self,
        config: tuple[dict, list[str]],
        checkout: pathlib.Path | None = None,
        host_key: str | None = None,
    ) -> UpReport:
        """`pulumi up` with this config: the program, then its remote steps for real.

        `host_key`: the key the guest attributes publish instead of the machine's own."""
        run = self.program(config, checkout, host_key)
        # The cloud puts the firewall rules in place before anything reaches the VM.
        tags = run.named("host-vm").inputs["tags"]
        rules = firewall.registered(run, tags, self.tagged)
        rules += firewall.DEFAULT_NETWORK + firewall.HAND_MADE
        firewall.apply(self.vm.name, firewall.ruleset(rules))
        report = self._measured(lambda: self.engine.up(run, checkout or self.project))
        # The user keeps a config that deployed; one that failed is what they change back.
        self.moderators = json.loads(config[0]["jitsi:moderators"])
        self.domain = config[0]["jitsi:domain"]
        return report

    def rerun_every_step(self) -> UpReport:
        """Every step of the last `up` run again as if new, on the installed machine."""
        return self._measured(self.engine.rerun_all)

    def _measured(self, work: Callable[[], list[Record]]) -> UpReport:
        """What `work` ran, how long it took, and the restarts systemd made meanwhile."""
        before = self.starts()
        started = time.monotonic()
        records = work()
        seconds = time.monotonic() - started
        after = self.starts()
        return UpReport(records, seconds, {u: after[u] - before[u] for u in SERVICES})

    def output(self, suffix: str) -> str:
        """The stdout a step left in the state (what `pulumi stack` would show)."""
        return next(out for urn, (_, out) in self.engine.state.items() if urn.endswith(suffix))

    # -- faults ---------------------------------------------------------------------------
    def hold_dpkg_lock(self, seconds: float) -> "LockHolder":
        """A process on the machine holding dpkg's locks, as apt's timers do after boot."""
        return LockHolder(self, seconds)

    def break_unit(self, unit: str) -> None:
        """The unit cannot start any more (as a broken package or config would leave it)."""
        self.root("mkdir", "-p", f"/etc/systemd/system/{unit}.service.d")
        self.root(
            "bash", "-c",
            f"printf '[Service]\\nExecStartPre=/bin/false\\n' "
            f"> /etc/systemd/system/{unit}.service.d/rehearsal-broken.conf",
        )  # fmt: skip
        self.root("systemctl", "daemon-reload")

    def repair_unit(self, unit: str) -> None:
        self.root("rm", "-f", f"/etc/systemd/system/{unit}.service.d/rehearsal-broken.conf")
        self.root("systemctl", "daemon-reload")
        self.root("systemctl", "reset-failed", f"{unit}.service")

    def prosody_version(self) -> str:
        out = self.root("dpkg-query", "-W", "-f=${Version}", "prosody").stdout.decode()
        return out.strip()

    # -- what the tests look at -----------------------------------------------------------
    def starts(self) -> dict[str, int]:
        return {unit: self.vm.unit_starts(f"{unit}.service") for unit in SERVICES}

    def root(self, *argv: str, input: str | None = None, timeout: float = 60):
        """A command as root on the machine (not over SSH: for looking, not for deploying)."""
        return self.vm.run(list(argv), input=input.encode() if input else None, timeout=timeout)

    def file_digests(self, *folders: str) -> dict[str, str]:
        """sha256 and mtime of every file under `folders` on the machine."""
        script = (
            "find " + " ".join(folders) + " -xdev -type f -printf '%p %T@ ' -exec sha256sum {} \\; "
            "2>/dev/null | awk '{print $1, $2, $3}'"
        )
        listing = self.root("bash", "-c", script).stdout.decode()
        return {line.split()[0]: " ".join(line.split()[1:]) for line in listing.splitlines()}

    def file(self, path: str) -> str:
        return self.root("cat", path).stdout.decode()


class LockHolder:
    """dpkg's and apt's locks held on the machine for a while (POSIX locks, as dpkg takes them)."""

    UNIT = "rehearsal-hold-dpkg-lock"

    def __init__(self, stage: Stage, seconds: float):
        self.stage = stage
        hold = (
            "import fcntl, time\n"
            "paths = ('/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock')\n"
            "files = [open(p, 'a') for p in paths]\n"
            "for f in files: fcntl.lockf(f, fcntl.LOCK_EX)\n"
            f"time.sleep({seconds})\n"
        )
        done = stage.root("systemd-run", f"--unit={self.UNIT}", "python3", "-c", hold)
        assert done.returncode == 0, done.stderr
        self.started = time.monotonic()

    def wait(self, timeout: float) -> int:
        """0 once the holder has ended (it is a transient unit: gone when done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.stage.root("systemctl", "is-active", f"{self.UNIT}.service")
            if state.stdout.decode().strip() in ("inactive", "unknown", "failed"):
                return 0
            time.sleep(0.5)
        return 1
