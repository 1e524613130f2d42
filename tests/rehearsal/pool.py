"""A pool of videobridges on the rehearsal stage: the signalling node and booted bridges.

`PoolStage` is a `Stage` (the signalling node, deployed by the engine with the program's own
remote steps, `jitsi:videobridges` set) plus `PoolBridge`s: booted Debian machines as a managed
instance group would create them from the program's instance template. The engine knows
machines, not templates or groups, so each bridge runs the template's `startup-script`
(scripts/bridge/boot.py) itself, as root, as Google's guest agent would, against stand-ins of
the metadata server and Secret Manager (tests/bridge_harness.py) served on the host end of the
bridge's own link: the template's metadata, the instance's own name and addresses, and the
password the program's account step gave the node.

The network: each machine keeps its own namespace and /30 to the host; the host forwards
between the node's link and the bridges' links only (per-interface forwarding, nothing
global), and each side gets one route through the host. The node's firewall model then lets a
bridge in on 5222 only because the program's rule names the bridges' tag (source tags are the
tagged machines' addresses); each bridge gets the bridges' own rules.
"""

import contextlib
import ipaddress
import json
import pathlib
import secrets
import shlex
import subprocess
import threading
import time

from bridge_harness import StandIn, metadata_routes, secret_routes
from program_mocks import Run
from rehearsal import firewall
from rehearsal.engine import COMMAND, steps_of
from rehearsal.machine.vm import Vm
from rehearsal.ssh import CommandFailed, SshClient
from rehearsal.stage import Stage

TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
# Where Compute Engine's guest agent would put the scripts (any path does: it runs them).
STARTUP, SHUTDOWN = "/run/rehearsal-startup-script", "/run/rehearsal-shutdown-script"
BOOT_TIMEOUT = 600.0  # seconds: apt on a fresh machine, through the relay


def _replace_everywhere(value, old: str, new: str):
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_everywhere(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _replace_everywhere(v, old, new) for k, v in value.items()}
    return value


def _sysctl(key: str, value: str) -> None:
    done = subprocess.run(["sysctl", "-qw", f"{key}={value}"], capture_output=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"sysctl {key}: {done.stderr.decode().strip()}")


def _route(netns: str, destination: str, via: str) -> None:
    argv = ["ip", "-n", netns, "route", "replace", destination, "via", via]
    done = subprocess.run(argv, capture_output=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.decode().strip()}")


def link(node: Vm, bridge: Vm) -> None:
    """The bridge reaches the node's /30 (the node, and the node's repository on the host end)
    through the host, and the node answers it: per-interface forwarding on the two host ends
    (the host's global ip_forward stays as it is)."""
    for veth in (node.veth, bridge.veth):
        _sysctl(f"net.ipv4.conf.{veth}.forwarding", "1")
    node_net = ipaddress.ip_network(f"{node.address}/30", strict=False)
    _route(bridge.name, str(node_net), bridge.host_address)
    _route(node.name, f"{bridge.address}/32", node.host_address)


class PoolBridge:
    """One bridge of the pool: a booted machine with its own metadata server and Secret Manager
    stand-ins (on the host end of its link), booted and stopped by the template's scripts."""

    def __init__(self, release: str, work_dir: pathlib.Path, name: str, external: str):
        self.name, self.external = name, external
        self.vm = Vm(release, work_dir)
        self.servers: list[StandIn] = []
        self.metadata_url = self.secrets_url = ""

    def start(self) -> None:
        self.vm.prepare()
        # No ssh-keys: nobody logs in to a bridge; the group's template gives none either.
        self.vm.boot({})

    def serve(self, attributes: dict[str, str], password: str, name: str | None = None) -> None:
        """(Re)starts its metadata server and Secret Manager with these answers."""
        self.stop_servers()
        instance = {
            "name": name or self.name,
            "network-interfaces/0/ip": self.vm.address,
            "network-interfaces/0/access-configs/0/external-ip": self.external,
        }
        host = self.vm.host_address
        metadata = StandIn(metadata_routes(attributes, instance), host=host)
        store = StandIn(secret_routes(password, secret=attributes["jitsi-bridge-secret"]), host)
        self.servers = [metadata, store]
        self.metadata_url = f"{metadata.url}/computeMetadata/v1"
        self.secrets_url = f"{store.url}/v1"

    def _script(self, path: str, text: str) -> subprocess.CompletedProcess:
        self.vm.run(["install", "-m", "0700", "/dev/stdin", path], input=text.encode())
        environment = [
            f"JITSI_BRIDGE_METADATA={self.metadata_url}",
            f"JITSI_BRIDGE_SECRETS={self.secrets_url}",
            # One attempt at each read: the stand-ins answer at once.
            "JITSI_BRIDGE_WAIT_SECONDS=0",
        ]
        return self.vm.run(["env", *environment, path], timeout=BOOT_TIMEOUT)

    def boot_script(self, attributes: dict[str, str]) -> subprocess.CompletedProcess:
        """The template's startup-script, run as root as the guest agent runs it."""
        return self._script(STARTUP, attributes["startup-script"])

    def shutdown_script(self, attributes: dict[str, str]) -> subprocess.CompletedProcess:
        return self._script(SHUTDOWN, attributes["shutdown-script"])

    def journal(self, unit: str = "jitsi-videobridge2") -> str:
        self.vm.run(["journalctl", "--sync"])
        out = self.vm.run(["journalctl", "--boot", "--no-pager", "-o", "cat", "-u", unit])
        return out.stdout.decode(errors="replace")

    def unit_state(self, unit: str = "jitsi-videobridge2") -> str:
        """'ActiveState Result', e.g. 'inactive success' for a unit that exited 0."""
        out = self.vm.run(["systemctl", "show", "-p", "ActiveState", "-p", "Result", unit])
        state = dict(line.split("=", 1) for line in out.stdout.decode().split())
        return f"{state.get('ActiveState')} {state.get('Result')}"

    def stop_servers(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []

    def stop(self) -> None:
        self.stop_servers()
        self.vm.stop()


class PoolStage(Stage):
    """The signalling node (a Stage) and `count` bridges, linked through the host."""

    def __init__(self, release: str, work_dir: pathlib.Path, count: int = 2, say=print):
        super().__init__(release, work_dir, say)
        tag = secrets.token_hex(2)
        # Instance names as a managed group makes them: the base name and a random suffix.
        self.bridges = [
            PoolBridge(release, work_dir / f"bridge{i}", f"jitsi-bridges-{tag}{i:x}",
                       f"203.0.113.{21 + i}")
            for i in range(count)
        ]  # fmt: skip
        # A bridge password as long as the program's (the mocks' random password is shorter
        # than the 32 characters boot.py demands).
        self.bridge_password = secrets.token_urlsafe(30)[:40]
        # A program run made in advance, for an `up` in another thread (Pulumi's mocks need
        # the main thread's event loop).
        self._ready: Run | None = None

    def up_in_background(self, config) -> tuple[threading.Thread, dict]:
        """`up` in a thread of its own, the program run here first: (thread, outcome), the
        outcome's "report" or "error" set when the thread ends."""
        self._ready = self.program(config)
        outcome: dict = {}

        def deploy() -> None:
            try:
                outcome["report"] = self.up(config)
            except BaseException as error:  # noqa: BLE001 - the caller reads it
                outcome["error"] = error

        thread = threading.Thread(target=deploy, daemon=True)
        thread.start()
        return thread, outcome

    def _build(self) -> None:
        errors: list[BaseException] = []

        def start(bridge: PoolBridge) -> None:
            try:
                bridge.start()
            except BaseException as error:  # noqa: BLE001 - raised below, in this thread
                errors.append(error)

        # The bridges boot while the node's repository builds and the node boots.
        threads = [threading.Thread(target=start, args=(b,)) for b in self.bridges]
        for thread in threads:
            thread.start()
        try:
            super()._build()
        finally:
            for thread in threads:
                thread.join(timeout=900)
        if errors or any(t.is_alive() for t in threads):
            raise RuntimeError(f"a bridge did not boot: {errors}")
        for bridge in self.bridges:
            link(self.vm, bridge.vm)

    def close(self) -> None:
        for bridge in self.bridges:
            with contextlib.suppress(Exception):
                bridge.stop()
        super().close()

    def pool_config(self, moderators: dict[str, str], bridges: int) -> tuple[dict, list[str]]:
        pool = {"min": bridges, "max": bridges}
        return self.config(moderators, **{"jitsi:videobridges": json.dumps(pool)})

    def program(self, config, checkout=None, host_key=None) -> Run:
        if self._ready is not None:
            run, self._ready = self._ready, None
            return run
        run = super().program(config, checkout, host_key)
        self.last_run = run
        accounts = [r for r in run.of_type(COMMAND) if r.name.endswith("bridges-account")]
        if accounts:
            # The password the account step gives the node: its stdin, one line.
            stdin = accounts[0].inputs["stdin"]
            mocked = (stdin.get("value") if isinstance(stdin, dict) else stdin).strip()
            for resource in run.resources:
                resource.inputs = _replace_everywhere(resource.inputs, mocked, self.bridge_password)
        templates = run.of_type(TEMPLATE)
        if templates:
            tags = templates[0].inputs["tags"]
            self.tagged = {tag: [b.vm.address for b in self.bridges] for tag in tags}
            self.template = templates[0]
        return run

    def attributes(self) -> dict[str, str]:
        """The template's metadata as the cloud holds it once the node's steps have run: the
        node's certificate (the certificate step's real output) and its address (the cloud's
        internal address, here the machine's)."""
        attributes = dict(self.template.inputs["metadata"])
        attributes["jitsi-auth-certificate"] = self.output("bridges-certificate")
        attributes["jitsi-signalling-address"] = self.vm.address
        return attributes

    def bridge_firewall(self) -> None:
        """The program's rules for the bridges' tag, on each bridge."""
        tags = self.template.inputs["tags"]
        rules = firewall.registered(self.last_run, tags, self.tagged)
        rules += firewall.DEFAULT_NETWORK + firewall.HAND_MADE
        for bridge in self.bridges:
            firewall.apply(bridge.vm.name, firewall.ruleset(rules))

    def probe(self, bridges: int, wait: float = 0) -> tuple[int, str]:
        """The program's proof on the node (its own verify step, as deployed) with another
        `--bridges`: (exit status, output)."""
        # From the last run's registrations: during the first deploy the step is still waiting.
        (step,) = [
            s for s in steps_of(self.last_run, self.project) if s.name.endswith("verify-auth")
        ]
        step = self.engine._resolved(step)  # noqa: SLF001 - the engine's own resolution
        assert step.type == COMMAND
        command = step.inputs["create"]
        words = shlex.split(command)
        at = words.index("--bridges")
        words[at + 1 : at + 4] = [str(bridges), "--bridges-wait", f"{wait:g}"]
        with SshClient(step.connection) as client:
            try:
                result = client.run(shlex.join(words), stdin=step.inputs.get("stdin"))
            except CommandFailed as failed:
                return failed.exit_status or 1, failed.output
            return 0, result.stdout

    def jicofo_stats(self) -> dict:
        script = (
            "import urllib.request\n"
            "with urllib.request.urlopen('http://127.0.0.1:8888/stats', timeout=5) as a:\n"
            "    print(a.read().decode())"
        )
        out = self.root("python3", "-c", script)
        return json.loads(out.stdout.decode() or "{}")

    def wait_operational(self, count: int, timeout: float = 60) -> int:
        """Waits (bounded) until jicofo counts `count` operational bridges; returns the last."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.jicofo_stats().get("bridge_selector", {}).get("operational_bridge_count")
            if seen == count or time.monotonic() > deadline:
                return seen
            time.sleep(0.5)
