"""The whole deployment, rehearsed: the program's own steps over SSH on a booted Debian machine.

One machine per Debian release, booted once for the module; the scenarios run in order on it,
as a user's stack lives: first deploy (with the dpkg lock held at first), a proof from outside,
re-runs, moderator changes, a new commit of a script, a domain change, and faults.
"""

import json
import os
import pathlib
import re
import subprocess
import time

import pytest
from rehearsal.engine import CommandFailed
from rehearsal.outside import Client, prove
from rehearsal.report import FINISHED, Report
from rehearsal.stage import WATCHED, Stage
from support import require

RELEASES = ("bookworm", "trixie")
DOMAIN = "meet.rehearsal.example"
ALICE, BOB = "alice-first-password-1", "bob-first-password-22"
# A new password or a new list: the account step and the two proofs, on the VM and from here.
MODERATORS_CHANGED = [
    "update jitsi-moderators",
    "update jitsi-verify-auth",
    "update jitsi-prove-outside",
]
pytestmark = pytest.mark.timeout(1500)


def _prerequisites() -> None:
    require(os.geteuid() == 0, "booting a machine needs root")
    for tool in (
        "systemd-nspawn",
        "debootstrap",
        "dpkg-deb",
        "apt-ftparchive",
        "gpg",
        "ssh-keygen",
    ):
        require(subprocess.run(["which", tool], capture_output=True).returncode == 0, f"no {tool}")


@pytest.fixture(scope="module", params=RELEASES)
def stage(request, tmp_path_factory):
    _prerequisites()
    work = tmp_path_factory.mktemp(f"rehearsal-{request.param}")
    report = Report(request.param)
    with Stage(request.param, work, say=lambda line: None) as stage:
        stage.report = report
        yield stage
    FINISHED.append(report)
    report.save(pathlib.Path(os.environ.get("REHEARSAL_REPORT_DIR", work)))


def _verified(stage: Stage) -> str:
    """The program's own proofs, on the machine and from this host (the deployer's machine),
    checked to have passed every check: the last steps' outputs."""
    on_vm = stage.output("verify-auth")
    assert not re.search(r"^(FAIL|SKIP)", on_vm, re.M), on_vm
    outside = stage.output("prove-outside")
    assert not re.search(r"^(FAIL|SKIP)", outside, re.M), outside
    for transport in ("bosh", "websocket"):
        assert re.search(rf"^PASS 5 .* over {transport}:", outside, re.M), outside
    # The internal ports, closed by the firewall, not only unused: prosody listens on 5222.
    assert re.search(r"^PASS 6 ports 5222,5269,5280,5347,8080,8888,9090 closed", outside, re.M)
    assert "5222" in stage.root("ss", "-Htln", "sport = :5222").stdout.decode()
    # The rehearsal's domain has no DNS record: a warning, not a failure.
    assert re.search(rf"^WARN 7 {re.escape(DOMAIN)} has no A record", outside, re.M), outside
    return on_vm + outside


def _outside(stage: Stage) -> Client:
    cert = stage.file(f"/etc/jitsi/meet/{DOMAIN}.crt")
    return Client(stage.vm.address, DOMAIN, cert)


def test_first_deploy_waits_for_the_dpkg_lock_then_secures_everything(stage):
    # A fresh VM's apt timers hold the lock: hold it for a while, as unattended-upgrades does.
    holder = stage.hold_dpkg_lock(seconds=20)
    report = stage.up(stage.config({"alice": ALICE, "bob": BOB}))
    stage.report.add("first deploy", report, boot_to_verified=time.monotonic() - stage.booted_at)
    assert holder.wait(timeout=5) == 0
    install = stage.output("setup-install")
    assert "Wait for /var/lib/dpkg/lock-frontend (held by process" in install
    assert "Jitsi Meet is installed for https://" in install
    lines = _verified(stage)
    assert "PASS 5" in lines
    # One SSH session per remote step, whatever the number of moderators; the proof from
    # outside runs on this host.
    assert report.ssh_sessions == 6
    assert report.ran()[-1] == "create jitsi-prove-outside"
    assert "Added: alice, bob" in stage.output("moderators")
    # The first deploy restarts prosody and jicofo once each for the securing, no more.
    assert report.restarts["jicofo"] >= 1 and report.restarts["prosody"] >= 1


def test_outside_login_over_https_through_nginx(stage):
    checks = prove(_outside(stage), DOMAIN, {"alice": ALICE, "bob": BOB})
    assert [what for held, what in checks if not held] == []
    assert len(checks) == 7


def test_a_second_up_with_the_same_config_runs_nothing(stage):
    before = stage.file_digests(*WATCHED)
    report = stage.up(stage.config({"alice": ALICE, "bob": BOB}))
    stage.report.add("second up, same config", report)
    assert report.ran() == [] and report.ssh_sessions == 0
    assert stage.file_digests(*WATCHED) == before


def test_every_step_run_again_changes_no_file_and_restarts_nothing(stage):
    before = stage.file_digests(*WATCHED)
    report = stage.rerun_every_step()
    stage.report.add("every step again", report)
    assert report.restarts == {unit: 0 for unit in report.restarts}, report.restarts
    assert stage.file_digests(*WATCHED) == before
    _verified(stage)


def test_a_changed_password_reruns_only_that_account_and_the_proof(stage):
    new = "alice-second-password-3"
    report = stage.up(stage.config({"alice": new, "bob": BOB}))
    stage.report.add("alice's password changed", report)
    assert report.ran() == MODERATORS_CHANGED
    assert "Changed: alice" in stage.output("moderators")
    assert report.restarts == {unit: 0 for unit in report.restarts}
    client = _outside(stage)
    assert client.can_log_in(DOMAIN, "alice", new)
    assert not client.can_log_in(DOMAIN, "alice", ALICE)
    _verified(stage)


def test_an_added_and_a_removed_moderator(stage):
    new, carol = "alice-second-password-3", "carol-first-password-4"
    added = stage.up(stage.config({"alice": new, "bob": BOB, "carol": carol}))
    stage.report.add("carol added", added)
    assert added.ran() == MODERATORS_CHANGED
    assert "Added: carol" in stage.output("moderators")
    removed = stage.up(stage.config({"alice": new, "carol": carol}))
    stage.report.add("bob removed", removed)
    assert removed.ran() == MODERATORS_CHANGED
    assert "Removed: bob" in stage.output("moderators")
    client = _outside(stage)
    assert client.can_log_in(DOMAIN, "carol", carol)
    assert not client.can_log_in(DOMAIN, "bob", BOB)
    _verified(stage)


def test_a_new_commit_of_a_script_reships_it_and_reruns_what_uses_it(stage):
    probe = stage.project / "scripts" / "verify_auth" / "checks.py"
    probe.write_text(probe.read_text() + "# a new commit\n")
    report = stage.up(stage.current_config())
    stage.report.add("verify_auth changed", report)
    assert report.ran() == [
        "update jitsi-setup-upload",
        "replace: create new jitsi-verify-auth",
        "replace: create new jitsi-prove-outside",
    ]
    remote = stage.file("/home/jitsi-deploy/jitsi-deploy/verify_auth/checks.py")
    assert remote == probe.read_text()
    # The code the Python tools share: every step that runs one of them, not the installer.
    shared = stage.project / "scripts" / "shared" / "configjs.py"
    shared.write_text(shared.read_text() + "# a new commit\n")
    report = stage.up(stage.current_config())
    assert report.ran() == [
        "update jitsi-setup-upload",
        "replace: create new jitsi-setup-secure",
        "replace: create new jitsi-moderators",
        "replace: create new jitsi-verify-auth",
        "replace: create new jitsi-prove-certificate",
        "replace: create new jitsi-prove-outside",
    ]
    # No byte code lands on the VM: the steps run `python3 -B`.
    found = stage.root("find", "/home/jitsi-deploy/jitsi-deploy", "-name", "__pycache__")
    assert found.stdout == b""
    _verified(stage)


def test_a_domain_change_fails_before_it_changes_anything(stage):
    before = stage.file_digests(*WATCHED)
    with pytest.raises(CommandFailed) as failed:
        stage.up(stage.current_config(domain="other.rehearsal.example"))
    assert "a domain change needs a new VM" in str(failed.value)
    assert stage.file_digests(*WATCHED) == before
    # Back to the deployed domain: nothing was half-applied, so nothing is left to redo.
    report = stage.up(stage.current_config())
    assert report.ran() == []
    _verified(stage)


def test_a_moderator_step_with_prosody_stopped_fails_clearly_and_leaves_no_half_account(stage):
    accounts = "/var/lib/prosody"
    stage.root("systemctl", "stop", "prosody")
    try:
        before = stage.file_digests(accounts)
        with pytest.raises(CommandFailed) as failed:
            stage.up(stage.current_config(alice="alice-third-password-5"))
        message = str(failed.value)
        assert "alice-third-password-5" not in message
        if stage.prosody_version().startswith("0.12"):
            # Prosody 0.12 writes accounts without the server; the proof then fails, clearly.
            assert "verify_auth:" in message and "is unusable" in message
        else:
            # Prosody 13 needs the running server: the account step refuses, writes nothing.
            assert "moderators:" in message and "is it running?" in message
            assert stage.file_digests(accounts) == before
    finally:
        stage.root("systemctl", "start", "prosody")
    report = stage.up(stage.current_config(alice="alice-third-password-5"))
    assert "update jitsi-verify-auth" in report.ran()
    assert _outside(stage).can_log_in(DOMAIN, "alice", "alice-third-password-5")


def test_jicofo_that_does_not_come_back_fails_the_deployment(stage):
    # An upgrade (or a hand) put back the unsecured jicofo.conf, and jicofo cannot start.
    stage.root("cp", "-p", "/etc/jitsi/jicofo/jicofo.conf.bak", "/etc/jitsi/jicofo/jicofo.conf")
    stage.break_unit("jicofo")
    secure = stage.project / "scripts" / "secure_domain" / "plan.py"
    secure.write_text(secure.read_text() + "# a new commit\n")
    try:
        with pytest.raises(CommandFailed) as failed:
            stage.up(stage.current_config())
        assert "jicofo" in str(failed.value)
    finally:
        stage.repair_unit("jicofo")
    report = stage.up(stage.current_config())
    stage.report.add("after jicofo was repaired", report)
    _verified(stage)


def test_an_internal_port_opened_in_the_firewall_fails_the_proof_from_outside(stage):
    # Prosody's client port opened to this host, through the program's own config: the
    # firewall lets it through, and the proof from outside fails the `up`, naming the port.
    opening = {"name": "xmpp", "protocol": "tcp", "ports": ["5222"]}
    opening["sourceRanges"] = [f"{stage.vm.host_address}/32"]
    config = stage.config(stage.moderators, **{"jitsi:extraIngress": json.dumps([opening])})
    with pytest.raises(CommandFailed) as failed:
        stage.up(config)
    assert "accepts a connection on port 5222: firewall it" in str(failed.value)
    # Closed again: the proof that passed last still holds, and nothing is left to run.
    report = stage.up(stage.current_config())
    assert report.ran() == []
    _verified(stage)


def test_nothing_leaks_the_passwords_into_the_machines_logs(stage):
    logs = stage.root("bash", "-c", "journalctl --no-pager -o cat; cat /var/log/install_jitsi.log")
    text = logs.stdout.decode(errors="replace")
    for password in (ALICE, BOB, "alice-second-password-3", "carol-first-password-4"):
        assert password not in text


def test_a_host_key_that_is_not_the_machines_makes_the_first_step_fail(stage, tmp_path):
    # The published key is another machine's: every dial must be refused at the handshake,
    # before any command runs or any password is sent.
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "k"], check=True
    )
    other = " ".join((tmp_path / "k.pub").read_text().split()[:2])
    probe = stage.project / "scripts" / "verify_auth" / "checks.py"
    probe.write_text(probe.read_text() + "# one more commit, so that steps must run\n")
    before = stage.file_digests(*WATCHED)
    stage.engine.pause_scale = 0.01
    try:
        with pytest.raises(CommandFailed) as failed:
            stage.up(stage.current_config(), host_key=other)
    finally:
        stage.engine.pause_scale = 1.0
    # Refused at the first handshake; OpenSSH 9.8+ (Debian 13) then penalises the repeated
    # failed handshakes, so later dials may end at the banner instead.
    assert "host key mismatch" in failed.value.first_error
    assert "after 60 failed attempts" in str(failed.value)
    assert stage.file_digests(*WATCHED) == before
    # With the machine's own key published, the same change goes through.
    stage.up(stage.current_config())
    _verified(stage)
