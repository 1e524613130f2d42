"""`jitsi:videobridges`: the pool it adds to the plan (Pulumi mocks).

Off (unset, or `max: 0`), the plan is the single VM's, registration for registration. On, a
template, a regional group with autohealing, an autoscaler, a firewall of the bridges' own, and
a password that only the bridges' service account can read and that appears nowhere in plain.
"""

import hashlib
import json
import re
import shlex
import shutil

import pytest
from program_mocks import (
    HOST_KEY,
    fake_checkout,
    outside_secrets,
    run_program,
    stack_config,
    stdout_mark,
    unwrap,
)
from pulumi.runtime import rpc
from support import ROOT

from components.remote_host import MissingScript
from components.videobridge_secret import account_id

POOL = {"min": 2, "max": 6, "machineType": "c3-highcpu-4", "cpuTarget": 0.5}
SECRET_NAME = "projects/jitsi-test-project/secrets/jitsi-bridges-test-xmpp-password"
SA_EMAIL = "jvb-jitsi-bridges-test-b74b27@jitsi-test-project.iam.gserviceaccount.com"
DOMAIN = "203-0-113-10.sslip.io"
BRIDGE_TAG = "jitsi-bridges-test"


@pytest.fixture
def run(tmp_path, monkeypatch):
    scripts = fake_checkout(tmp_path, monkeypatch)
    shutil.copytree(ROOT / "scripts" / "bridge", scripts / "bridge")

    def go(pool=POOL, allow_error=False, **overrides):
        extra = {} if pool is None else {"jitsi__videobridges": json.dumps(pool)}
        cfg, keys = stack_config(**extra, **overrides)
        return run_program(cfg, keys, monkeypatch, allow_error=allow_error)

    return go


# -- off: the single VM's plan, unchanged ------------------------------------------------------


def _plan(result) -> list[tuple]:
    """Every registration, everything the engine receives, secrets kept apart from values."""
    return sorted(
        (
            r.urn,
            r.parent,
            json.dumps(outside_secrets(r.inputs), sort_keys=True),
            json.dumps(unwrap(r.inputs), sort_keys=True),
            tuple(sorted(r.dependencies)),
            r.delete_before_replace,
            r.deleted_with,
            tuple(r.additional_secret_outputs),
            tuple(r.replace_on_changes),
            tuple(r.ignore_changes),
        )
        for r in result.resources
    )


@pytest.mark.parametrize("off", [{}, {"max": 0}, {"max": 0, "min": 3, "spot": True}])
def test_a_pool_that_is_off_leaves_the_plan_exactly_as_without_the_key(run, off):
    without = run(pool=None)
    with_off = run(pool=off)
    assert _plan(with_off) == _plan(without)
    assert with_off.exports == without.exports
    assert not [r for r in with_off.resources if "bridges" in r.name]


def test_a_pool_that_is_on_only_adds_to_the_single_vms_plan(run):
    # None of the signalling node's resources changes but the proof on the VM, which counts the
    # bridges too (tests/test_program_videobridge_update.py): what the pool needs there (its
    # 5222 rule, the step that reads its certificate) are resources of the pool's own.
    without, with_pool = _plan(run(pool=None)), _plan(run())
    proof = [r for r in without if r[0].endswith("::jitsi-verify-auth")]
    assert len(proof) == 1 and proof[0] not in with_pool
    assert set(without) - set(proof) <= set(with_pool)
    assert len(with_pool) == len(without) + len(EXPECTED) + 1  # and the component itself


# -- on: the graph -----------------------------------------------------------------------------

EXPECTED = {
    "jitsi-bridges-identity": "gcp:serviceaccount/account:Account",
    "jitsi-bridges-secretmanager-api": "gcp:projects/service:Service",
    "jitsi-bridges-password": "random:index/randomPassword:RandomPassword",
    "jitsi-bridges-secret": "gcp:secretmanager/secret:Secret",
    "jitsi-bridges-secret-version": "gcp:secretmanager/secretVersion:SecretVersion",
    "jitsi-bridges-secret-reader": "gcp:secretmanager/secretIamMember:SecretIamMember",
    "jitsi-bridges-certificate": "command:remote:Command",
    "jitsi-bridges-account": "command:remote:Command",
    "jitsi-bridges-media": "gcp:compute/firewall:Firewall",
    "jitsi-bridges-probes": "gcp:compute/firewall:Firewall",
    "jitsi-bridges-health": "gcp:compute/healthCheck:HealthCheck",
    "jitsi-bridges-deny-all": "gcp:compute/firewall:Firewall",
    "jitsi-bridges-deny-all-v6": "gcp:compute/firewall:Firewall",
    "jitsi-bridges-xmpp": "gcp:compute/firewall:Firewall",
    "jitsi-bridges-template": "gcp:compute/instanceTemplate:InstanceTemplate",
    "jitsi-bridges-group": "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager",
    "jitsi-bridges-autoscaler": "gcp:compute/regionAutoscaler:RegionAutoscaler",
}


def _one(result, token: str, name: str):
    (found,) = [r for r in result.resources if r.type == token and r.name == name]
    return found


def test_the_pool_is_one_component_of_the_site_holding_exactly_its_resources(run):
    result = run()
    (component,) = result.of_type("jitsi:site:Videobridges")
    (site,) = result.of_type("jitsi:site:Site")
    assert component.parent == site.urn
    children = {r.name: r.type for r in result.resources if r.parent == component.urn}
    assert children == EXPECTED


def test_only_the_bridges_service_account_may_read_the_secret_and_nothing_else_is_granted(run):
    result = run()
    grants = [r for r in result.resources if "iam" in r.type.lower()]
    assert [g.name for g in grants] == ["jitsi-bridges-secret-reader"]
    (reader,) = grants
    secret = result.named("bridges-secret")
    # On that secret (its id), that role, that member: no project-wide binding, no other reader.
    assert reader.inputs["secretId"] == f"{secret.name}-id"
    assert secret.urn in reader.dependencies
    assert reader.inputs["role"] == "roles/secretmanager.secretAccessor"
    assert reader.inputs["member"] == f"serviceAccount:{SA_EMAIL}"
    identity = result.named("bridges-identity")
    assert identity.inputs["accountId"] == SA_EMAIL.split("@")[0]
    assert identity.urn in reader.dependencies
    template = result.named("bridges-template").inputs
    assert template["serviceAccount"]["email"] == SA_EMAIL
    # The main VM still has no identity at all.
    assert not result.named("host-vm").inputs.get("serviceAccount")


def _password(result) -> str:
    return unwrap(result.named("bridges-secret-version").inputs["secretData"])


def test_the_password_is_generated_long_and_kept_only_as_a_secret(run):
    result = run()
    generated = result.named("bridges-password")
    assert generated.inputs["length"] >= 32 and generated.inputs["special"] is False
    version = result.named("bridges-secret-version")
    assert version.inputs["secret"] == "jitsi-bridges-secret-id"
    assert rpc.is_rpc_secret(version.inputs["secretData"])
    # The mock's value for that resource (program_mocks): what the version stores.
    assert _password(result) == "gen" + hashlib.sha256(generated.name.encode()).hexdigest()[:21]


def test_no_password_in_any_plain_input_metadata_or_trigger(run):
    result = run()
    password = _password(result)
    forms = [password] + [hashlib.new(a, password.encode()).hexdigest() for a in ("md5", "sha256")]
    for resource in result.resources:
        plain = json.dumps(outside_secrets(resource.inputs))
        triggers = json.dumps(unwrap(resource.inputs.get("triggers", [])))
        for form in forms:
            assert form not in plain, f"{resource.name} shows the bridge password"
            assert form not in triggers, f"{resource.name} has it in a trigger"
    metadata = json.dumps(unwrap(result.named("bridges-template").inputs["metadata"]))
    assert password not in metadata


def _metadata(result) -> dict:
    return unwrap(result.named("bridges-template").inputs["metadata"])


def test_the_template_carries_the_boot_contract_in_public_metadata_only(run):
    result = run()
    metadata = _metadata(result)
    assert metadata == {
        "startup-script": (ROOT / "scripts/bridge/boot.py").read_text(),
        "shutdown-script": (ROOT / "scripts/bridge/shutdown.py").read_text(),
        "jitsi-domain": DOMAIN,
        # The signalling node's internal address, as the mocked cloud gives it.
        "jitsi-signalling-address": "10.128.0.2",
        # What the certificate step prints on the signalling node.
        "jitsi-auth-certificate": stdout_mark("jitsi-bridges-certificate"),
        # The secret's name, never its value.
        "jitsi-bridge-secret": SECRET_NAME,
        "jitsi-version": "stable",
        "jitsi-apt-source": "https://download.jitsi.org stable/",
        "jitsi-apt-key": "https://download.jitsi.org/jitsi-key.gpg.key",
        "jitsi-shutdown-seconds": "80",
        "block-project-ssh-keys": "TRUE",
    }
    # The name the boot script asks Secret Manager for is the secret the program made.
    assert result.named("bridges-secret").inputs["secretId"] == SECRET_NAME.rsplit("/", 1)[1]
    assert not any(rpc.is_rpc_secret(v) for v in result.named("bridges-template").inputs.values())


def test_the_template_is_the_main_vms_system_shielded_tagged_with_an_address(run):
    template = run().named("bridges-template").inputs
    assert template["machineType"] == "c3-highcpu-4"
    (disk,) = template["disks"]
    assert disk["sourceImage"] == "debian-cloud/debian-12" and disk["boot"] and disk["autoDelete"]
    assert template["tags"] == [BRIDGE_TAG]
    assert template["networkInterfaces"] == [{"network": "default", "accessConfigs": [{}]}]
    assert template["serviceAccount"]["scopes"] == [
        "https://www.googleapis.com/auth/cloud-platform"
    ]
    assert all(template["shieldedInstanceConfig"].values())
    assert template["labels"]["app"] == "jitsi-meet"
    assert template["scheduling"]["provisioningModel"] == "STANDARD"


def test_spot_bridges_get_spots_scheduling_and_the_shorter_leave(run):
    result = run(pool={**POOL, "spot": True})
    scheduling = result.named("bridges-template").inputs["scheduling"]
    assert scheduling == {
        "provisioningModel": "SPOT",
        "preemptible": True,
        "automaticRestart": False,
        "onHostMaintenance": "TERMINATE",
        "instanceTerminationAction": "DELETE",
    }
    assert _metadata(result)["jitsi-shutdown-seconds"] == "25"


def test_the_release_and_the_mirror_of_the_stack_reach_the_bridges(run):
    result = run(
        jitsi__version="2.0.10590-1",
        jitsi__jitsiAptSource="https://mirror.example.org/jitsi stable/",
        jitsi__jitsiAptKey="https://mirror.example.org/jitsi-key.gpg.key",
        jitsi__image="ubuntu-2404",
    )
    metadata = _metadata(result)
    assert metadata["jitsi-version"] == "2.0.10590-1"
    assert metadata["jitsi-apt-source"] == "https://mirror.example.org/jitsi stable/"
    assert metadata["jitsi-apt-key"] == "https://mirror.example.org/jitsi-key.gpg.key"
    disk = result.named("bridges-template").inputs["disks"][0]
    assert disk["sourceImage"] == "ubuntu-os-cloud/ubuntu-2404-lts-amd64"


def test_the_certificate_is_read_on_the_secured_signalling_node(run):
    result = run()
    step = result.named("bridges-certificate")
    assert shlex.split(step.inputs["create"]) == [
        "sudo",
        "python3",
        "-B",
        "/home/jitsi-deploy/jitsi-deploy/bridge/auth_certificate.py",
        "--domain",
        DOMAIN,
    ]
    assert result.named("setup-secure").urn in step.dependencies
    assert "4242424242" in step.inputs["triggers"]
    # Public data, read over the connection pinned to the VM's host key.
    assert unwrap(step.inputs["connection"])["hostKey"] == HOST_KEY
    assert step.urn in result.named("bridges-template").dependencies


def test_the_group_heals_on_the_bridges_health_and_the_autoscaler_holds_the_cpu_target(run):
    result = run()
    health = result.named("bridges-health").inputs
    assert health["httpHealthCheck"] == {"port": 8080, "requestPath": "/about/health"}
    group = result.named("bridges-group")
    assert group.inputs["region"] == "us-central1"
    (version,) = group.inputs["versions"]
    assert version["instanceTemplate"] == "jitsi-bridges-template-template?uniqueId=4711"
    policy = group.inputs["autoHealingPolicies"]
    assert policy["healthCheck"] == "jitsi-bridges-health-id"
    assert policy["initialDelaySec"] >= 300
    # A bridge boots only once its password is readable and its firewall is in place.
    for needed in ("bridges-secret-reader", "bridges-media", "bridges-probes", "bridges-xmpp"):
        assert result.named(needed).urn in group.dependencies, needed
    scaler = result.named("bridges-autoscaler").inputs
    assert scaler["target"] == "jitsi-bridges-group-id"
    assert scaler["region"] == "us-central1"
    autoscaling = scaler["autoscalingPolicy"]
    assert (autoscaling["minReplicas"], autoscaling["maxReplicas"]) == (2, 6)
    assert autoscaling["cpuUtilization"] == {"target": 0.5}
    assert autoscaling["scaleInControl"]["maxScaledInReplicas"] == {"fixed": 1}


def test_scale_in_removes_at_most_one_bridge_per_10_minutes(run):
    control = run().named("bridges-autoscaler").inputs["autoscalingPolicy"]["scaleInControl"]
    assert control == {"maxScaledInReplicas": {"fixed": 1}, "timeWindowSec": 600}


def test_an_up_does_not_wait_for_the_autoscaler_to_fill_the_group(run):
    # The group's size is the autoscaler's; an `up` that waited for it could hang for its
    # whole timeout on a bridge that cannot boot.
    assert run().named("bridges-group").inputs["waitForInstances"] is False


def test_a_standard_bridge_comes_back_by_itself_after_host_maintenance(run):
    scheduling = run().named("bridges-template").inputs["scheduling"]
    assert scheduling["automaticRestart"] is True
    assert scheduling["onHostMaintenance"] == "MIGRATE"


def test_destroying_the_pool_leaves_secret_manager_on_for_the_rest_of_the_project(run):
    api = run().named("bridges-secretmanager-api").inputs
    assert api["service"] == "secretmanager.googleapis.com"
    assert api["disableOnDestroy"] is False


def test_a_long_stack_name_still_gives_a_service_account_id_gce_accepts():
    # 6 to 30 characters, a letter first, no hyphen last; all 30 used, the tag's start kept.
    tag = "jitsi-bridges-" + "a-very-long-stack-name" * 3
    long_id = account_id(tag)
    assert re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", long_id)
    assert len(long_id) == 30 and long_id.startswith("jvb-jitsi-bridges-a-v")
    assert account_id(BRIDGE_TAG) == SA_EMAIL.split("@")[0]


def test_a_checkout_without_the_bridge_scripts_stops_the_pool_with_a_clear_error(run, tmp_path):
    shutil.rmtree(tmp_path / "scripts" / "bridge")
    result = run(allow_error=True)
    assert isinstance(result.error, MissingScript)
    assert "scripts/bridge" in str(result.error)


# -- the bridges' account on the signalling node ----------------------------------------------


def test_the_account_step_gives_prosody_the_generated_password_on_its_secret_stdin_only(run):
    result = run()
    step = result.named("bridges-account")
    tool = ["sudo", "python3", "-B", "/home/jitsi-deploy/jitsi-deploy/bridge_account"]
    assert shlex.split(step.inputs["create"]) == [*tool, "--domain", DOMAIN]
    assert step.inputs["update"] == step.inputs["create"]
    assert "delete" not in step.inputs
    # The very password the bridges read from Secret Manager, one line, secret in the state.
    assert rpc.is_rpc_secret(step.inputs["stdin"])
    assert unwrap(step.inputs["stdin"]) == _password(result) + "\n"
    assert set(step.additional_secret_outputs) >= {"stdout", "stderr"}
    assert unwrap(step.inputs["connection"])["hostKey"] == HOST_KEY
    password = _password(result)
    for name in ("create", "update", "triggers", "environment", "connection"):
        assert password not in json.dumps(unwrap(step.inputs.get(name))), name


def test_the_account_step_reruns_on_a_new_vm_or_a_change_of_any_folder_it_imports(run, tmp_path):
    triggers = run().named("bridges-account").inputs["triggers"]
    assert triggers[0] == "4242424242"
    for folder in ("bridge_account", "moderators", "secure_domain", "shared"):
        before = run().named("bridges-account").inputs["triggers"]
        with open(tmp_path / "scripts" / folder / "__main__.py", "a") as f:
            f.write("# changed\n")
        after = run().named("bridges-account").inputs["triggers"]
        assert before != after, folder
    # A README is documentation: nothing runs again for it.
    (tmp_path / "scripts" / "bridge_account" / "README.md").write_text("notes\n")
    assert run().named("bridges-account").inputs["triggers"] == after


def test_the_account_step_runs_after_the_secured_domain_and_before_any_bridge_boots(run):
    result = run()
    step = result.named("bridges-account")
    assert result.named("setup-secure").urn in step.dependencies
    assert step.urn in result.named("bridges-group").dependencies


def test_without_the_pool_there_is_no_account_step(run):
    result = run(pool=None)
    assert not [r for r in result.resources if r.name.endswith("-account")]
