"""A pool of videobridges, rehearsed on three booted Debian machines: the signalling node and two
bridges (issue 12, "How it is proven here").

The node is deployed by the rehearsal's engine with the program's own remote steps and
`jitsi:videobridges` set; the bridges run the program's instance template's own startup and
shutdown scripts (scripts/bridge/) against stand-ins of the metadata server and Secret Manager,
and reach the node's Prosody through the host only as the program's firewall rules allow. Then
the faults, each undone before the next: the same nickname on both bridges, a wrong password, a
certificate that is not the node's; last, a bridge's graceful leave.
"""

import os
import pathlib
import re
import subprocess
import threading
import time

import pytest
from rehearsal import firewall
from rehearsal.pool import PoolStage
from support import require

RELEASE = os.environ.get("REHEARSAL_POOL_RELEASE", "trixie")
DOMAIN = "meet.rehearsal.example"
ALICE = "alice-pool-password-1"
BOOT_SECONDS = 600  # a bridge's first boot: apt through the relay, the stand-in bridge package
JOIN_SECONDS = 60  # a bridge restarted by its boot script logs in and joins again
pytestmark = pytest.mark.timeout(1800)


def _prerequisites() -> None:
    require(os.geteuid() == 0, "booting machines needs root")
    for tool in ("systemd-nspawn", "debootstrap", "dpkg-deb", "apt-ftparchive", "gpg", "nft"):
        require(subprocess.run(["which", tool], capture_output=True).returncode == 0, f"no {tool}")


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    _prerequisites()
    work = tmp_path_factory.mktemp(f"rehearsal-pool-{RELEASE}")
    # The engine says each step's name before it runs it: it is held before the node's proof
    # until the test lets it go, so the node is looked at alone, with nothing else running.
    said, at_proof, go = [], threading.Event(), threading.Event()

    def say(line: str) -> None:
        said.append(line)
        if line.endswith("jitsi-verify-auth") and not go.is_set():
            at_proof.set()
            go.wait(timeout=600)

    with PoolStage(RELEASE, work, count=2, say=say) as stage:
        stage.figures, stage.at_proof, stage.go = {}, at_proof, go
        yield stage


def _attributes(pool: PoolStage) -> dict[str, str]:
    return pool.attributes()


def _boot(pool: PoolStage, bridge, attributes=None, **serve) -> str:
    """The bridge's startup script with these answers from its servers; its output."""
    attributes = attributes or _attributes(pool)
    bridge.serve(attributes, serve.pop("password", pool.bridge_password), **serve)
    done = bridge.boot_script(attributes)
    out = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, out
    return out


def _wait_in_journal(bridge, pattern: str, timeout: float = JOIN_SECONDS) -> str:
    deadline = time.monotonic() + timeout
    while True:
        journal = bridge.journal()
        if re.search(pattern, journal):
            return journal
        assert time.monotonic() < deadline, f"no {pattern!r} in the bridge's journal:\n{journal}"
        time.sleep(0.5)


def _restore(pool: PoolStage, bridge) -> None:
    """The bridge booted again as the template boots it; jicofo counts three bridges."""
    _boot(pool, bridge)
    assert pool.wait_operational(3, JOIN_SECONDS) == 3


def test_the_node_deploys_with_the_pool_and_both_bridges_join(pool):
    config = pool.pool_config({"alice": ALICE}, bridges=2)
    started = time.monotonic()
    deployer, outcome = pool.up_in_background(config)
    try:
        _deploy_and_boot(pool, deployer, outcome, started)
    finally:
        pool.go.set()  # never leave the engine held


def _deploy_and_boot(pool, deployer, outcome, started) -> None:
    # The template needs the node's certificate, which the node's steps print: the group
    # creates bridges once the certificate step has run. Here they boot once every step but
    # the proofs has run (so the node is looked at while nothing changes it), and the proof
    # on the node waits for them (--bridges-wait).
    deadline = time.monotonic() + 900
    while not pool.at_proof.wait(timeout=0.5):
        assert deployer.is_alive(), f"the deploy stopped early: {outcome.get('error')}"
        assert time.monotonic() < deadline, "the node's steps did not reach the proof in 900 s"
    assert pool.output("bridges-certificate").startswith("-----BEGIN CERTIFICATE-----")
    pool.figures["node's steps up to its proof"] = time.monotonic() - started

    # The node alone: jicofo counts its own bridge, and the probe's check 8 agrees.
    assert pool.wait_operational(1, JOIN_SECONDS) == 1
    status, out = pool.probe(1)
    assert status == 0, out
    assert re.search(
        r"^PASS 8 jicofo counts at least 1 operational bridges .*: 1 operational", out, re.M
    ), out
    assert re.search(r"^PASS 8 a guest cannot join the bridges' room", out, re.M), out
    pool.go.set()  # the node's proof starts, and waits for the bridges

    # The group's bridges boot from the template; the node's proof is waiting for them.
    attributes = _attributes(pool)
    pool.bridge_firewall()
    outputs: dict[int, str] = {}
    boot_started = time.monotonic()

    def boot(index: int) -> None:
        try:
            outputs[index] = _boot(pool, pool.bridges[index], attributes)
        except BaseException as error:  # noqa: BLE001
            outputs[index] = f"FAILED: {error}"

    booters = [threading.Thread(target=boot, args=(i,)) for i in range(2)]
    for booter in booters:
        booter.start()
    for booter in booters:
        booter.join(timeout=BOOT_SECONDS + 60)
    pool.figures["bridges' first boot (both at once)"] = time.monotonic() - boot_started
    for index, bridge in enumerate(pool.bridges):
        out = outputs.get(index, "still running")
        assert out.rstrip().endswith("started"), out
        assert "install jitsi-videobridge2" in out
        nickname = re.search(r"for (\S+)", out.split("jvb.conf")[-1])[1]
        assert nickname.startswith(bridge.name + "-")
        _wait_in_journal(bridge, rf"joined jvbbrewery@internal\.auth\.{re.escape(DOMAIN)} as ")
        assert "certificate verified" in bridge.journal()
    deployer.join(timeout=1000)
    assert not deployer.is_alive(), "the deploy did not end"
    failed = outcome.get("error")
    assert failed is None, getattr(failed, "output", failed)
    pool.figures["deploy, to the proof passing"] = time.monotonic() - started
    on_vm = pool.output("verify-auth")
    assert not re.search(r"^(FAIL|SKIP)", on_vm, re.M), on_vm
    assert re.search(
        r"^PASS 8 jicofo counts at least 3 operational bridges .*: 3 operational", on_vm, re.M
    ), on_vm
    assert re.search(r"^PASS 8 a guest cannot join the bridges' room", on_vm, re.M), on_vm
    assert pool.jicofo_stats()["bridge_selector"] == {
        "bridge_count": 3,
        "operational_bridge_count": 3,
    }


def _connects(bridge, address: str, port: int) -> bool:
    script = (
        "import socket,sys\n"
        f"try: socket.create_connection(({address!r}, {port}), 3).close()\n"
        "except OSError: sys.exit(1)\n"
    )
    return bridge.vm.run(["python3", "-c", script], timeout=30).returncode == 0


def test_a_bridge_reaches_the_nodes_5222_only_through_the_programs_rule(pool):
    bridge = pool.bridges[0]
    assert _connects(bridge, pool.vm.address, 5222)
    # Prosody's other ports stay closed to the bridges: the rule opens 5222 alone.
    assert pool.root("ss", "-Htln", "sport = :5280").stdout.strip()
    assert not _connects(bridge, pool.vm.address, 5280)
    # Without the program's rule for the bridges' tag, the node's firewall drops them.
    tags = pool.last_run.named("host-vm").inputs["tags"]
    without = firewall.registered(pool.last_run, tags, {})
    rules = without + firewall.DEFAULT_NETWORK + firewall.HAND_MADE
    # (The rule is still registered; with no machine carrying the tag it matches nobody.)
    assert [r[4] for r in without if r[0].endswith("bridges-xmpp")] == [[]]
    firewall.apply(pool.vm.name, firewall.ruleset(rules))
    try:
        assert not _connects(bridge, pool.vm.address, 5222)
    finally:
        rules = firewall.registered(pool.last_run, tags, pool.tagged)
        rules += firewall.DEFAULT_NETWORK + firewall.HAND_MADE
        firewall.apply(pool.vm.name, firewall.ruleset(rules))
    assert _connects(bridge, pool.vm.address, 5222)


def _proof_fails_counting_two(pool) -> None:
    """The probe asking for 3 bridges fails, and says jicofo counts 2."""
    status, out = pool.probe(3)
    assert status != 0
    assert re.search(
        r"^FAIL 8 jicofo counts at least 3 operational bridges .*: 2 operational", out, re.M
    ), out


def test_the_same_nickname_on_both_bridges_makes_one_occupant(pool):
    first, second = pool.bridges
    # What boot.py prevents (each machine has its own boot id, so even one instance name
    # twice gives two nicknames): clones of one image that kept the package's nickname. The
    # second bridge takes the first's, in its jvb.conf, and restarts.
    conf = "/etc/jitsi/videobridge/jvb.conf"
    nick = re.compile(r'"MUC_NICKNAME": "([^"]+)"')
    first_nick = nick.search(first.vm.run(["cat", conf]).stdout.decode())[1]
    second_nick = nick.search(second.vm.run(["cat", conf]).stdout.decode())[1]
    assert first_nick != second_nick
    edit = ["sed", "-i", f"s/{second_nick}/{first_nick}/", conf]
    assert second.vm.run(edit).returncode == 0
    assert second.vm.run(["systemctl", "restart", "jitsi-videobridge2"]).returncode == 0
    _wait_in_journal(second, rf"joined \S+ as {re.escape(first_nick)}")
    assert pool.wait_operational(2, JOIN_SECONDS) == 2
    _proof_fails_counting_two(pool)
    _restore(pool, second)


def test_a_wrong_password_never_joins(pool):
    bridge = pool.bridges[1]
    _boot(pool, bridge, password="W" * 40)
    _wait_in_journal(bridge, r"cannot log in as jvb@auth\.\S+ .*not-authorized")
    assert pool.wait_operational(2, JOIN_SECONDS) == 2
    _proof_fails_counting_two(pool)
    journal = bridge.journal()
    assert "W" * 40 not in journal and pool.bridge_password not in journal
    _restore(pool, bridge)


def test_a_certificate_that_is_not_the_nodes_is_refused(pool, tmp_path):
    bridge = pool.bridges[1]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN=auth.{DOMAIN}",
         "-addext", f"subjectAltName=DNS:auth.{DOMAIN}",
         "-keyout", str(tmp_path / "key"), "-out", str(tmp_path / "crt")],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    attributes = {**_attributes(pool), "jitsi-auth-certificate": (tmp_path / "crt").read_text()}
    _boot(pool, bridge, attributes)
    _wait_in_journal(bridge, r"cannot log in as jvb@auth\.\S+ .*CERTIFICATE_VERIFY_FAILED")
    assert pool.wait_operational(2, JOIN_SECONDS) == 2
    _proof_fails_counting_two(pool)
    _restore(pool, bridge)


def test_a_graceful_shutdown_leaves_the_room_and_the_count_drops(pool):
    bridge = pool.bridges[0]
    started = time.monotonic()
    done = bridge.shutdown_script(_attributes(pool))
    out = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, out
    assert "empty; the bridge leaves by itself" in out, out
    pool.figures["graceful shutdown script"] = time.monotonic() - started
    assert pool.wait_operational(2, JOIN_SECONDS) == 2
    _wait_in_journal(bridge, r"graceful shutdown: left the bridges' room")
    # It exits 0 soon after: stopped, not failed, and not restarted (Restart=on-failure).
    deadline = time.monotonic() + 30
    while bridge.unit_state() != "inactive success":
        assert time.monotonic() < deadline, bridge.unit_state()
        time.sleep(0.5)
    _proof_fails_counting_two(pool)
    status, out = pool.probe(2)
    assert status == 0, out
    figures = "\n".join(f"{k}: {v:.1f} s" for k, v in pool.figures.items())
    pathlib.Path(pool.work_dir / "figures.txt").write_text(figures + "\n")
    print(figures)
