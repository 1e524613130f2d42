"""The resource graph: components, the order of the remote steps, firewall, VM, DNS."""

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from program_mocks import PROJECT_IP, fake_checkout, install_prints, run_program, stack_config
from support import ROOT

from components.remote_host import folder_digest
from components.site import network_tag

COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
LOCAL = "command:local:Command"


@pytest.fixture
def run(tmp_path, monkeypatch):
    fake_checkout(tmp_path, monkeypatch)

    def go(**overrides):
        cfg, keys = stack_config(**overrides)
        return run_program(cfg, keys, monkeypatch)

    return go


def _depends_on(run, resource, target) -> bool:
    """Whether `resource` waits for `target`, directly or through other resources."""
    by_urn = run.by_urn()
    seen, todo = set(), list(resource.dependencies)
    while todo:
        urn = todo.pop()
        if urn == target.urn:
            return True
        if urn not in seen and urn in by_urn:
            seen.add(urn)
            todo.extend(by_urn[urn].dependencies)
    return False


def test_every_resource_belongs_to_a_component(run):
    result = run()
    components = {r.urn for r in result.resources if not r.custom}
    site = result.named("jitsi")
    assert site.type == "jitsi:site:Site" and site.parent.endswith(
        "pulumi:pulumi:Stack::jitsi-test"
    )
    for resource in result.resources:
        if resource is not site:
            assert resource.parent in components, resource.name


def test_remote_steps_run_in_order_each_after_the_one_before(run):
    result = run(
        jitsi__moderators='{"carol": "carol-secret-password", "alice": "alice-secret-password"}',
        jitsi__generatedModerators='["bob"]',
    )
    steps = [
        result.named("setup-upload"),
        result.named("setup-install"),
        result.named("setup-secure"),
        result.named("moderators"),
        result.named("verify-auth"),
        result.named("prove-certificate"),
        result.named("prove-outside"),
    ]
    # Each step waits directly for the one before: a chain, one SSH session at a time, and the
    # proof from outside last, on the deployer's machine.
    for before, after in itertools.pairwise(steps):
        assert before.urn in after.dependencies, f"{after.name} does not wait for {before.name}"
    remote = result.of_type(COPY) + result.of_type(COMMAND)
    assert sorted(r.name for r in remote) == sorted(r.name for r in steps[:-1])
    assert result.of_type(LOCAL) == [steps[-1]]


@pytest.mark.parametrize("count", [1, 3, 50])
def test_a_first_deploy_opens_six_ssh_sessions_whatever_the_number_of_moderators(run, count):
    moderators = {f"user{i:02d}": f"password-number-{i:02d}" for i in range(count)}
    result = run(jitsi__moderators=json.dumps(moderators))
    # One session per remote resource: upload, install, secure, accounts, proof, certificate.
    assert len(result.of_type(COPY) + result.of_type(COMMAND)) == 6
    # Without the proof from outside, neither the certificate step nor the local step.
    alone = run(jitsi__moderators=json.dumps(moderators), jitsi__outsideProof="false")
    assert len(alone.of_type(COPY) + alone.of_type(COMMAND)) == 5 and not alone.of_type(LOCAL)
    sync = shlex.split(result.named("moderators").inputs["create"])
    assert sync[sync.index("--names") + 1] == ",".join(sorted(moderators))


def test_the_scripts_travel_in_one_copy_of_the_folders_contents(run):
    (upload,) = run(jitsi__sshUser="deployer").of_type(COPY)
    # "scripts/": the folder's contents, so each tool folder lands in remotePath.
    assert upload.inputs["source"].path == "scripts/"
    assert upload.inputs["remotePath"] == "/home/deployer/jitsi-deploy"


def test_address_firewall_and_dns_record_exist_before_anything_runs_on_the_vm(run):
    result = run(jitsi__domain="meet.example.org", jitsi__dnsZone="example-org")
    first_step = result.named("setup-upload")
    install = result.named("setup-install")
    for name in ("net-ip", "net-web", "net-ssh", "dns-a"):
        prerequisite = result.named(name)
        assert _depends_on(result, first_step, prerequisite), name
        assert _depends_on(result, install, prerequisite), name


def test_dns_record_points_the_domain_at_the_reserved_address(run):
    record = run(jitsi__domain="meet.example.org", jitsi__dnsZone="example-org").named("dns-a")
    assert record.type == "gcp:dns/recordSet:RecordSet"
    assert record.inputs["name"] == "meet.example.org."
    assert record.inputs["managedZone"] == "example-org"
    assert (record.inputs["type"], record.inputs["rrdatas"]) == ("A", [PROJECT_IP])


def test_without_dns_zone_no_record_and_an_sslip_domain(run):
    result = run()
    assert result.of_type("gcp:dns/recordSet:RecordSet") == []
    assert result.exports["domain"] == "203-0-113-10.sslip.io"
    assert result.exports["guestDomain"] == "guest.203-0-113-10.sslip.io"


def test_firewall_opens_web_and_media_to_all_and_ssh_only_to_the_given_ranges(run):
    result = run(jitsi__sshSourceRanges='["198.51.100.0/24", "203.0.113.7/32"]')
    tags = result.named("host-vm").inputs["tags"]
    web, ssh = result.named("net-web").inputs, result.named("net-ssh").inputs
    assert {(a["protocol"], tuple(a["ports"])) for a in web["allows"]} == {
        ("tcp", ("80", "443")),
        ("udp", ("10000",)),
    }
    assert web["sourceRanges"] == ["0.0.0.0/0"]
    assert [(a["protocol"], a["ports"]) for a in ssh["allows"]] == [("tcp", ["22"])]
    assert ssh["sourceRanges"] == ["198.51.100.0/24", "203.0.113.7/32"]
    for rule in (web, ssh):
        assert rule["direction"] == "INGRESS" and rule["targetTags"] == tags
    assert not any("0.0.0.0/0" in w for w in result.warnings)


def test_ssh_open_to_the_world_is_warned_about(run):
    result = run()
    assert any("0.0.0.0/0" in w and "jitsi:sshSourceRanges" in w for w in result.warnings)


def test_vm_is_shielded_has_no_service_account_and_takes_the_deploy_key(run):
    vm = run(jitsi__labels='{"team": "video"}').named("host-vm").inputs
    assert vm["shieldedInstanceConfig"] == {
        "enableSecureBoot": True,
        "enableVtpm": True,
        "enableIntegrityMonitoring": True,
    }
    # No service account at all: no token on the VM, so no scope to abuse.
    assert "serviceAccount" not in vm
    assert vm["allowStoppingForUpdate"] is True
    assert vm["metadata"]["enable-oslogin"] == "FALSE"
    user, key = vm["metadata"]["ssh-keys"].split(":", 1)
    assert user == "jitsi-deploy" and key.startswith("ssh-ed25519 AAAA")
    assert vm["labels"] == {"app": "jitsi-meet", "team": "video"}
    assert vm["networkInterfaces"][0]["accessConfigs"][0]["natIp"] == PROJECT_IP
    assert vm["machineType"] == "e2-standard-2" and vm["zone"] == "us-central1-b"


def test_vm_rebuild_releases_the_address_first(run):
    assert run().named("host-vm").delete_before_replace is True


def test_spot_vm_is_stopped_not_deleted_when_preempted(run):
    scheduling = run(jitsi__spot="true").named("host-vm").inputs["scheduling"]
    assert scheduling["provisioningModel"] == "SPOT"
    assert scheduling["instanceTerminationAction"] == "STOP"
    assert run().named("host-vm").inputs["scheduling"]["provisioningModel"] == "STANDARD"


def test_spot_vm_has_the_scheduling_compute_engine_accepts_for_spot(run):
    # Compute Engine refuses a Spot VM that restarts automatically or live-migrates.
    scheduling = run(jitsi__spot="true").named("host-vm").inputs["scheduling"]
    assert scheduling["preemptible"] is True
    assert scheduling["automaticRestart"] is False
    assert scheduling["onHostMaintenance"] == "TERMINATE"
    standard = run().named("host-vm").inputs["scheduling"]
    assert standard["onHostMaintenance"] == "MIGRATE" and "preemptible" not in standard


def test_a_standard_vm_comes_back_by_itself_after_host_maintenance(run):
    # Live-migrated, and restarted by Compute Engine if it stops anyway: no one has to start it.
    scheduling = run().named("host-vm").inputs["scheduling"]
    assert scheduling["automaticRestart"] is True
    assert scheduling["onHostMaintenance"] == "MIGRATE"


def test_a_long_stack_name_gives_tags_of_at_most_63_characters_the_longest_gce_takes():
    # 63 characters at most (RFC 1035), all of them kept: two long stack names of one project
    # that differ late still get tags of their own.
    tag = network_tag("jitsi", "s" * 70)
    assert tag == ("jitsi-" + "s" * 70)[:63]
    assert network_tag("jitsi-bridges", "x" * 49 + "-yy") == "jitsi-bridges-" + "x" * 49


def test_the_app_label_cannot_be_overridden_by_user_labels(run):
    vm = run(jitsi__labels='{"app": "other", "team": "video"}').named("host-vm")
    assert vm.inputs["labels"] == {"app": "jitsi-meet", "team": "video"}


def test_commands_match_the_scripts_contracts(run):
    result = run(
        jitsi__domain="meet.example.org",
        jitsi__letsEncryptEmail="o'brien@example.org",
        jitsi__sshUser="deployer",
    )
    home = "/home/deployer/jitsi-deploy"
    install = shlex.split(result.named("setup-install").inputs["create"])
    assert install == [
        "sudo",
        "bash",
        f"{home}/install_jitsi/install.sh",
        "--domain",
        "meet.example.org",
        "--letsencrypt-email",
        "o'brien@example.org",
    ]
    secure = shlex.split(result.named("setup-secure").inputs["create"])
    assert secure == [
        "sudo",
        "python3",
        "-B",
        f"{home}/secure_domain",
        "--domain",
        "meet.example.org",
        "--guest-domain",
        "guest.meet.example.org",
    ]
    verify = shlex.split(result.named("verify-auth").inputs["create"])
    assert verify == [
        "python3",
        "-B",
        f"{home}/verify_auth",
        "--domain",
        "meet.example.org",
        "--guest-domain",
        "guest.meet.example.org",
        "--insecure",
        "--focus-wait",
        "120",
        "--transports",
        "bosh,websocket",
    ]


def test_self_signed_install_has_no_email_option(run):
    assert "--letsencrypt-email" not in run().named("setup-install").inputs["create"]


def test_ssh_connection_gives_a_fresh_vm_minutes_to_come_up(run):
    connection = run().named("setup-upload").inputs["connection"]["value"]
    assert connection["user"] == "jitsi-deploy" and connection["host"] == PROJECT_IP
    # 100 ms doubling by 1.5 up to 5 s between dials: 60 failed dials take about 5 minutes.
    assert connection["dialErrorLimit"] >= 60
    assert connection["perDialTimeout"] >= 10


def test_minimal_stack_builds_everything_and_exports_how_to_reach_it(run):
    result = run()
    types = {r.type for r in result.resources}
    assert {
        "gcp:compute/address:Address",
        "gcp:compute/firewall:Firewall",
        "gcp:compute/instance:Instance",
        "tls:index/privateKey:PrivateKey",
        COPY,
        COMMAND,
    } <= types
    assert result.exports["url"] == "https://203-0-113-10.sslip.io/"
    assert result.exports["ip"] == PROJECT_IP
    assert result.exports["moderators"] == ["alice"]
    assert result.exports["sshUser"] == "jitsi-deploy"
    assert result.exports["sshCommand"].endswith(" jitsi-deploy@203.0.113.10")
    assert result.exports["generatedPasswords"] == {}


def test_the_real_checkout_holds_only_files_to_ship(monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg, keys = stack_config()
    result = run_program(cfg, keys, monkeypatch)
    (upload,) = result.of_type(COPY)
    assert upload.inputs["source"].path == "scripts/"
    assert not [w for w in result.warnings if "scripts/" in w], result.warnings
    for entry in STEP_FOLDERS.values():
        assert (ROOT / "scripts" / entry[1]).is_file()
    assert (ROOT / "scripts" / "moderator.py").is_file()  # older stacks' deletes call it


# Each step, the folder of the tool it runs, and that tool's entry point under scripts/.
STEP_FOLDERS = {
    "setup-install": ("install_jitsi", "install_jitsi/install.sh"),
    "setup-secure": ("secure_domain", "secure_domain/__main__.py"),
    "moderators": ("moderators", "moderators/__main__.py"),
    "verify-auth": ("verify_auth", "verify_auth/__main__.py"),
}


def test_each_step_runs_again_when_a_folder_its_tool_imports_changes(monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg, keys = stack_config()
    result = run_program(cfg, keys, monkeypatch)
    scripts = ROOT / "scripts"
    folders = [p.name for p in scripts.iterdir() if p.is_dir() and p.name != "__pycache__"]
    for step, (folder, _) in STEP_FOLDERS.items():
        code = "".join(p.read_text() for p in (scripts / folder).rglob("*.py"))
        imported = {f for f in folders if re.search(rf"^\s*(from|import) {f}\b", code, re.M)}
        needed = {folder, *imported}
        triggers = result.named(step).inputs["triggers"]
        assert {folder_digest(scripts, f) for f in needed} <= set(triggers), (step, needed)
    assert "shared" in folders


def test_byte_code_or_editor_files_in_scripts_are_named_in_a_warning(run, tmp_path):
    # fake_checkout leaves scripts/moderators/__pycache__/sync.cpython-311.pyc behind.
    (tmp_path / "scripts" / "notes.txt~").write_text("backup")
    warnings = [w for w in run().warnings if "scripts/" in w]
    assert len(warnings) == 1
    assert "scripts/moderators/__pycache__" in warnings[0]
    assert "scripts/notes.txt~" in warnings[0]
    assert "git clean -fdX scripts" in warnings[0]


@pytest.mark.parametrize("tool", ["moderator.py", "moderators", "secure_domain", "verify_auth"])
def test_running_a_tool_from_a_checkout_leaves_no_byte_code(tmp_path, tool):
    scripts = tmp_path / "scripts"
    shutil.copytree(ROOT / "scripts", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, str(scripts / tool), "--help"], capture_output=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert not list(scripts.rglob("__pycache__"))


# What the installer prints at the end of a run (scripts/install_jitsi/README.md).
INSTALLED = "Installed packages:\n  jicofo 1.0-1140-1\n  jitsi-meet 2.0.10590-1\n  nginx 1.22.1-9\n"


@pytest.mark.parametrize("step", ["setup-secure", "verify-auth", "prove-outside"])
def test_securing_and_both_proofs_run_again_after_every_change_of_the_installed_versions(
    run, monkeypatch, step
):
    def triggers(stdout: str) -> list:
        install_prints(monkeypatch, stdout)
        return run().named(step).inputs["triggers"]

    first = triggers("Jitsi Meet is installed for https://x/\n" + INSTALLED)
    assert "jicofo=1.0-1140-1 jitsi-meet=2.0.10590-1 nginx=1.22.1-9" in first
    # A run that found the same packages, whatever else it said: nothing to run again.
    assert triggers("Keep Jitsi Meet for x (already installed)\n" + INSTALLED) == first
    # Any package at another version (an upgrade, a downgrade, a part put back): run again.
    moved = triggers(INSTALLED.replace("1.0-1140-1", "1.0-1135-1"))
    assert moved[:-1] == first[:-1] and moved[-1] != first[-1]


def test_the_installed_versions_are_exported_as_the_vm_reported_them(run, monkeypatch):
    install_prints(monkeypatch, "Upgrade Jitsi Meet from a to b\n" + INSTALLED)
    assert run().exports["jitsiVersions"] == {
        "jicofo": "1.0-1140-1",
        "jitsi-meet": "2.0.10590-1",
        "nginx": "1.22.1-9",
    }
    # Only the block that ends the output: a line after it, were one ever printed, is no package.
    install_prints(monkeypatch, INSTALLED + "Warning: something else\n  stray 1.0\n")
    assert run().exports["jitsiVersions"] == {
        "jicofo": "1.0-1140-1",
        "jitsi-meet": "2.0.10590-1",
        "nginx": "1.22.1-9",
    }
    # Not from the config: a pinned release the VM does not report is not exported.
    install_prints(monkeypatch, "")
    assert run(jitsi__version="2.0.10590-1").exports["jitsiVersions"] == {}
