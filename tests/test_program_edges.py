"""The VM's edges: whose SSH key the deployment trusts, who may log in, which ports are open,
and what replaces the VM (a chosen change, never a newer image)."""

import asyncio
import base64
import dataclasses
import json
import types

import paramiko
import pytest
from program_mocks import (
    ECDSA_HOST_KEY,
    GUEST_ATTRIBUTES,
    HOST_KEY,
    PROJECT_IP,
    CloudAnswers,
    fake_checkout,
    run_program,
    stack_config,
    unwrap,
)

import components.host_key
from components.host_key import HostKeyMissing, choose_host_key, published_host_keys

COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
DISK = "gcp:compute/disk:Disk"


def _ed25519(fill: int) -> str:
    """A well-formed ed25519 public key line (any 32 bytes make one)."""
    blob = b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + bytes([fill]) * 32
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}"


@pytest.fixture
def run(tmp_path, monkeypatch):
    fake_checkout(tmp_path, monkeypatch)
    # Seconds, not minutes: the waits' logic is under test, not the clock.
    monkeypatch.setattr(components.host_key, "HOST_KEY_POLL_SECONDS", 0)

    def go(answers=None, preview=False, allow_error=False, **overrides):
        cfg, keys = stack_config(**overrides)
        answers = answers or CloudAnswers()
        return run_program(
            cfg, keys, monkeypatch, allow_error=allow_error, answers=answers, preview=preview
        )

    return go


def _remote_steps(result):
    return result.of_type(COPY) + result.of_type(COMMAND)


def _host_key_reads(result):
    return [args for token, args in result.invokes if token == GUEST_ATTRIBUTES]


# --- The deployment trusts only the VM's own host key -----------------------------------------


def test_every_remote_step_trusts_only_the_ed25519_key_the_vm_published(run):
    result = run()
    steps = _remote_steps(result)
    assert len(steps) == 6
    for step in steps:
        # ECDSA was published first; ed25519 is preferred.
        assert unwrap(step.inputs["connection"])["hostKey"] == HOST_KEY, step.name
    (read,) = _host_key_reads(result)
    assert read == {
        "project": "jitsi-test-project",
        "zone": "us-central1-b",
        "name": result.exports["instanceName"],
        "queryPath": "hostkeys/",
    }


def test_the_key_comes_from_the_vm_and_nothing_in_the_config_can_set_it(run):
    machine_key = _ed25519(7)
    result = run(CloudAnswers(host_key=machine_key), jitsi__hostKey=_ed25519(9))
    for step in _remote_steps(result):
        assert unwrap(step.inputs["connection"])["hostKey"] == machine_key
    assert any(w.startswith("jitsi:hostKey is not a setting") for w in result.warnings)


def test_the_exported_host_key_is_a_known_hosts_line_for_the_address(run):
    line = run().exports["hostKey"]
    assert line == f"{PROJECT_IP} {HOST_KEY}"
    entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
    assert entry.hostnames == [PROJECT_IP]
    assert entry.key.get_name() == "ssh-ed25519"
    assert entry.key.get_base64() == HOST_KEY.split()[1]


def test_ssh_command_checks_the_host_key_against_the_exported_line_only(run):
    command = run().exports["sshCommand"]
    assert "pulumi stack output hostKey > ~/.ssh/jitsi-test.known_hosts" in command
    assert command.index("> ~/.ssh/jitsi-test.known_hosts") < command.index("ssh -i")
    assert "-o UserKnownHostsFile=~/.ssh/jitsi-test.known_hosts" in command
    assert "-o StrictHostKeyChecking=yes" in command
    # The private key is written outside the checkout, per stack, readable by its owner only.
    assert command.startswith("umask 077 && ")
    assert "sshPrivateKey > ~/.ssh/jitsi-test.key" in command


def test_a_fresh_vm_is_read_until_its_agent_has_published_the_keys(run):
    result = run(CloudAnswers(host_key_delay=3))
    assert len(_host_key_reads(result)) == 4
    assert unwrap(result.named("setup-upload").inputs["connection"])["hostKey"] == HOST_KEY


def test_ecdsa_is_pinned_only_when_a_second_read_still_has_no_ed25519(run):
    result = run(CloudAnswers(host_key=""))
    assert len(_host_key_reads(result)) == 2
    for step in _remote_steps(result):
        assert unwrap(step.inputs["connection"])["hostKey"] == ECDSA_HOST_KEY


def test_a_vm_that_publishes_no_key_stops_the_deploy_before_any_ssh(run, monkeypatch):
    monkeypatch.setattr(components.host_key, "HOST_KEY_WAIT_SECONDS", 0)
    result = run(CloudAnswers(host_key="", other_host_keys=()), allow_error=True)
    assert isinstance(result.error, HostKeyMissing)
    message = str(result.error)
    assert "\n" not in message
    assert (
        "gcloud compute instances get-guest-attributes jitsi-host-vm-4242424 --zone "
        "us-central1-b --project jitsi-test-project --query-path=hostkeys/"
    ) in message
    assert "gcloud compute instances start jitsi-host-vm-4242424 --zone us-central1-b" in message
    # No remote step was registered: nothing dials a machine it cannot identify.
    assert _remote_steps(result) == []


@pytest.mark.parametrize(
    ("answers", "last_read"),
    [
        # Keys were published, none of them a key of its type: said as such, not left blank.
        (
            CloudAnswers(host_key=f"ssh-ed25519 {ECDSA_HOST_KEY.split()[1]}", other_host_keys=()),
            "no usable key",
        ),
        # An ECDSA key only, never read twice: its type is named.
        (CloudAnswers(host_key=""), "ecdsa-sha2-nistp256"),
        # Nothing published: the API's own answer, as it said it.
        (
            CloudAnswers(host_key="", other_host_keys=()),
            "invoke of gcp:compute/getInstanceGuestAttributes:getInstanceGuestAttributes "
            "failed: The resource 'guestAttributes' was not found (queryPath)",
        ),
    ],
)
def test_the_error_for_a_vm_without_a_usable_key_says_what_the_last_read_found(
    run, monkeypatch, answers, last_read
):
    monkeypatch.setattr(components.host_key, "HOST_KEY_WAIT_SECONDS", 0)
    result = run(answers, allow_error=True)
    assert isinstance(result.error, HostKeyMissing)
    assert f"(last read: {last_read})" in str(result.error)


@pytest.mark.parametrize(("unpublished_reads", "said"), [(0, 0), (3, 1)])
def test_the_wait_for_the_host_key_is_announced_once_and_only_when_there_is_one(
    run, monkeypatch, unpublished_reads, said
):
    told = []
    info = components.host_key.pulumi.log.info
    monkeypatch.setattr(
        components.host_key.pulumi.log,
        "info",
        lambda message, *a, **k: told.append(message) or info(message, *a, **k),
    )
    run(CloudAnswers(host_key_delay=unpublished_reads))
    waits = [m for m in told if m == "waiting for the VM to publish its SSH host key"]
    assert len(waits) == said


def test_a_preview_of_a_new_vm_reads_nothing_and_leaves_the_key_unknown(run):
    result = run(preview=True)
    assert result.error is None
    assert _host_key_reads(result) == []
    assert "hostKey" not in result.exports and "instanceName" not in result.exports
    assert len(_remote_steps(result)) == 6


BLOB = HOST_KEY.split()[1]
ECDSA_BLOB = ECDSA_HOST_KEY.split()[1]


@dataclasses.dataclass
class _Attribute:
    key: str
    value: str
    namespace: str = "hostkeys"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # What google-guest-agent writes (strings.Split of the .pub file: type, then blob).
        (BLOB, {"ssh-ed25519": BLOB}),
        # A whole line, comment included, as another writer might put it.
        (f"ssh-ed25519 {BLOB} root@jitsi", {"ssh-ed25519": BLOB}),
        (f"{BLOB}\n", {"ssh-ed25519": BLOB}),
        # Not a key of the type it is filed under, or not a key at all: ignored.
        (ECDSA_BLOB, {}),
        ("not base64!", {}),
        ("", {}),
        # A whole line without a comment: the second word is the key.
        (HOST_KEY, {"ssh-ed25519": BLOB}),
        # The type word alone: no key (and no crash that would hide the other keys of the read).
        ("ssh-ed25519", {}),
        # A line that names another type: not read as this one's key, whatever follows.
        (f"ssh-rsa {BLOB}", {}),
        # A character outside base64 inside the blob: refused, never pinned as a broken line.
        (f"{BLOB[:20]}*{BLOB[20:]}", {}),
    ],
)
def test_guest_attribute_values_are_read_as_the_agent_writes_them(value, expected):
    assert published_host_keys([_Attribute("ssh-ed25519", value)]) == expected


def _blob(declared: int, written: bytes) -> str:
    return base64.b64encode(declared.to_bytes(4, "big") + written).decode()


def test_a_blobs_type_is_read_up_to_its_last_byte_and_never_past_it():
    # The type string ends exactly where the blob does: it is that type.
    exact = _blob(11, b"ssh-ed25519")
    assert published_host_keys([_Attribute("ssh-ed25519", exact)]) == {"ssh-ed25519": exact}
    # A length that runs one byte past the end: a truncated blob, not a key.
    short = _blob(12, b"ssh-ed25519")
    assert published_host_keys([_Attribute("ssh-ed25519", short)]) == {}


def test_an_unusable_value_does_not_hide_the_other_keys_of_the_read():
    values = [
        _Attribute("ssh-ed25519", "ssh-ed25519"),
        _Attribute("ecdsa-sha2-nistp256", ECDSA_BLOB),
    ]
    assert published_host_keys(values) == {"ecdsa-sha2-nistp256": ECDSA_BLOB}


def test_the_preferred_key_is_ed25519_and_rsa_is_never_pinned():
    both = {"ecdsa-sha2-nistp256": ECDSA_BLOB, "ssh-ed25519": BLOB}
    assert choose_host_key(both, settled=False) == HOST_KEY
    assert choose_host_key({"ecdsa-sha2-nistp256": ECDSA_BLOB}, settled=False) is None
    assert choose_host_key({"ecdsa-sha2-nistp256": ECDSA_BLOB}, settled=True) == ECDSA_HOST_KEY
    assert choose_host_key({"ssh-rsa": "AAAAB3NzaC1yc2E="}, settled=True) is None


# --- Only the deploy key opens the VM ------------------------------------------------------------


def test_only_the_deploy_key_opens_the_vm_and_the_vm_publishes_its_host_keys(run):
    metadata = run().named("host-vm").inputs["metadata"]
    assert metadata["block-project-ssh-keys"] == "TRUE"
    assert metadata["enable-oslogin"] == "FALSE"
    assert metadata["enable-guest-attributes"] == "TRUE"
    assert set(metadata) == {
        "ssh-keys",
        "block-project-ssh-keys",
        "enable-oslogin",
        "enable-guest-attributes",
    }


# --- TURN ----------------------------------------------------------------------------------------


def test_turn_ports_are_open_to_everyone_on_the_vm_only(run):
    result = run()
    turn = result.named("net-turn").inputs
    assert {(a["protocol"], tuple(a["ports"])) for a in turn["allows"]} == {
        ("udp", ("3478",)),
        ("tcp", ("5349",)),
    }
    assert turn["sourceRanges"] == ["0.0.0.0/0"] and turn["direction"] == "INGRESS"
    assert turn["targetTags"] == result.named("host-vm").inputs["tags"]
    # Open before the install, like the other rules.
    assert result.named("net-turn").urn in result.named("setup-upload").dependencies


# --- What replaces the VM ------------------------------------------------------------------------


def test_lifecycle_options_of_the_cloud_resources(run):
    result = run()
    options = {
        r.name: (r.delete_before_replace, r.deleted_with, r.replace_on_changes, r.ignore_changes)
        for r in result.resources
        if r.type.startswith("gcp:")
    }
    assert options == {
        "jitsi-net-ip": (False, "", [], []),
        "jitsi-net-web": (False, "", [], []),
        "jitsi-net-turn": (False, "", [], []),
        "jitsi-net-ssh": (False, "", [], []),
        "jitsi-net-deny-all": (False, "", [], []),
        "jitsi-net-deny-all-v6": (False, "", [], []),
        # Fixed at creation: a newer image in the family changes nothing; a new domain or size
        # is a new disk.
        "jitsi-host-disk-debian-12": (False, "", ["description", "size"], ["image"]),
        # The address is released first; a new boot disk is a new VM.
        "jitsi-host-vm": (True, "", ["bootDisk"], []),
    }


def test_the_vm_never_deletes_its_disk_so_a_replaced_vm_boots_from_the_same_one(run):
    # The disk is a resource of its own: a VM that took it along when deleted would leave the
    # next VM (and the state) pointing at a disk that no longer exists.
    boot = run().named("host-vm").inputs["bootDisk"]
    assert boot["autoDelete"] is False
    assert boot["source"].endswith("/disks/jitsi-host-disk-debian-12-disk")


def test_every_lifecycle_path_names_an_input_the_resource_has(run):
    # The engine silently ignores a misspelled path (snake_case, say).
    for r in run().resources:
        for path in r.replace_on_changes + r.ignore_changes:
            assert path.split(".")[0].split("[")[0] in r.inputs, (r.name, path)


def _disk(result):
    (disk,) = result.of_type(DISK)
    return disk


def test_a_chosen_image_is_a_new_disk_made_from_that_image_and_so_a_new_vm(run):
    before, after = run(), run(jitsi__image="debian-13")
    old, new = _disk(before), _disk(after)
    # A new resource, not a replacement: it has no old `image` for ignore_changes to carry over.
    assert old.urn != new.urn
    assert new.inputs["image"] == "debian-cloud/debian-13"
    vm_before, vm_after = before.named("host-vm"), after.named("host-vm")
    assert vm_before.urn == vm_after.urn
    assert vm_before.inputs["bootDisk"] != vm_after.inputs["bootDisk"]
    assert "bootDisk" in vm_after.replace_on_changes


@pytest.mark.parametrize(
    ("overrides", "changed"),
    [
        ({"jitsi__domain": "meet.example.org"}, "description"),
        ({"jitsi__diskSizeGb": "30"}, "size"),
    ],
)
def test_a_new_domain_or_size_is_a_planned_replacement_of_disk_and_vm(run, overrides, changed):
    old, new = _disk(run()), _disk(run(**overrides))
    assert old.urn == new.urn
    differs = {k for k in old.inputs if old.inputs[k] != new.inputs.get(k)}
    assert differs == {changed}
    assert changed in new.replace_on_changes


def test_the_disk_names_the_domain_it_was_installed_for_even_an_sslip_one(run):
    assert _disk(run()).inputs["description"] == "Jitsi Meet for 203-0-113-10.sslip.io"
    named = _disk(run(jitsi__domain="meet.example.org"))
    assert named.inputs["description"] == "Jitsi Meet for meet.example.org"


def test_a_new_vm_reruns_every_remote_step(run):
    first = {s.name: s.inputs["triggers"] for s in _remote_steps(run())}
    again = {
        s.name: s.inputs["triggers"] for s in _remote_steps(run(CloudAnswers(instance_id="77")))
    }
    assert first.keys() == again.keys()
    for name in first:
        assert first[name][0] == "4242424242" and again[name][0] == "77", name


def test_instance_name_and_zone_are_exported_for_gcloud(run):
    exports = run(gcp__zone="us-central1-f").exports
    assert exports["instanceName"] == "jitsi-host-vm-4242424"
    assert exports["zone"] == "us-central1-f"
    json.dumps(exports)


@pytest.mark.parametrize(
    ("published", "expected"),
    [([], None), ([_Attribute("ecdsa-sha2-nistp256", ECDSA_BLOB)], ECDSA_HOST_KEY)],
)
def test_a_preview_of_an_existing_vm_reads_once_and_waits_for_nothing(
    monkeypatch, published, expected
):
    reads = []

    def guest_attributes(**query):
        reads.append(query)
        return types.SimpleNamespace(query_values=published)

    monkeypatch.setattr(
        components.host_key.gcp.compute, "get_instance_guest_attributes", guest_attributes
    )
    monkeypatch.setattr(components.host_key.pulumi.runtime, "is_dry_run", lambda: True)
    # Were it to wait, it would fail at once rather than hang.
    monkeypatch.setattr(components.host_key, "HOST_KEY_WAIT_SECONDS", 0)
    wait = components.host_key._wait_for_host_key("p", "us-central1-b", "vm-1", None)
    # What the VM shows: nothing yet (the key stays unknown), or its ECDSA key alone.
    assert asyncio.run(wait) == expected
    assert len(reads) == 1
