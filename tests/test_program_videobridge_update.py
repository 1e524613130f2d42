"""`jitsi:videobridges`: the pool follows the signalling node's release, and the proof counts it
(Pulumi mocks).

The template names the exact jitsi-meet release the node's install step reported, so a new
release there makes a new template, which the group rolls out capacity first, after the node is
upgraded and secured again. The proof on the VM then asks for the pool's `min` bridges and the
node's own in the bridges' room.
"""

import importlib.util
import json
import shlex
import shutil

import pytest
from program_mocks import fake_checkout, install_prints, run_program, stack_config, unwrap
from support import ROOT, SCRIPTS

POOL = {"min": 2, "max": 6}
# What the installer prints at the end of a run (scripts/install_jitsi/README.md).
INSTALLED = "Installed packages:\n  jicofo 1.0-1140-1\n  jitsi-meet {}\n  nginx 1.22.1-9\n"


@pytest.fixture
def run(tmp_path, monkeypatch):
    scripts = fake_checkout(tmp_path, monkeypatch)
    shutil.copytree(ROOT / "scripts" / "bridge", scripts / "bridge")

    def go(pool=POOL, installed: str | None = None, **overrides):
        if installed is not None:
            install_prints(monkeypatch, INSTALLED.format(installed))
        extra = {} if pool is None else {"jitsi__videobridges": json.dumps(pool)}
        cfg, keys = stack_config(**extra, **overrides)
        return run_program(cfg, keys, monkeypatch)

    return go


def _release(result) -> str:
    return unwrap(result.named("bridges-template").inputs["metadata"])["jitsi-version"]


# -- the release -------------------------------------------------------------------------------


def test_the_bridges_install_the_release_the_signalling_node_reports_not_stable(run):
    # `stable` resolved on the node at its first install; today's newest may be another.
    assert _release(run(installed="2.0.10184-1")) == "2.0.10184-1"


def test_the_boot_script_takes_the_reported_release_as_an_exact_one(run):
    spec = importlib.util.spec_from_file_location("bridge_boot", SCRIPTS / "bridge/boot.py")
    boot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(boot)
    for version in ("2.0.10184-1", "1:2.0.10184-1"):
        release = _release(run(installed=version))
        assert boot.ATTRIBUTES["jitsi-version"].fullmatch(release), version


@pytest.mark.parametrize("stdout", ["", "Installed packages:\n  jicofo 1.0-1140-1\n"])
def test_without_a_reported_jitsi_meet_the_configured_release_is_used(run, monkeypatch, stdout):
    install_prints(monkeypatch, stdout)
    assert _release(run()) == "stable"
    assert _release(run(jitsi__version="2.0.10590-1")) == "2.0.10590-1"


def test_another_installed_release_makes_another_template_and_nothing_else_of_the_pool(run):
    before = run(installed="2.0.10184-1")
    after = run(installed="2.0.10590-1")
    pool = before.named("jitsi-bridges").urn
    changed = {
        r.name
        for r in before.resources
        if r.parent == pool and unwrap(r.inputs) != unwrap(after.by_urn()[r.urn].inputs)
    }
    # A template cannot change in place: Pulumi replaces it, and the group's version names the
    # new one (its self_link_unique), which starts the rolling update. The account step runs
    # again on the upgraded node: its package scripts rewrite the site file the filter is in.
    assert changed == {"jitsi-bridges-template", "jitsi-bridges-account"}
    metadata = [unwrap(r.named("bridges-template").inputs["metadata"]) for r in (before, after)]
    assert {k for k in metadata[0] if metadata[0][k] != metadata[1][k]} == {"jitsi-version"}
    (version,) = before.named("bridges-group").inputs["versions"]
    assert version["instanceTemplate"] == "jitsi-bridges-template-template?uniqueId=4711"


# -- the rolling update ------------------------------------------------------------------------


def test_the_group_replaces_bridges_capacity_first_with_a_surge_of_one_per_zone(run):
    assert run().named("bridges-group").inputs["updatePolicy"] == {
        "type": "PROACTIVE",
        "minimalAction": "REPLACE",
        "mostDisruptiveAllowedAction": "REPLACE",
        "replacementMethod": "SUBSTITUTE",
        # A regional group's default three zones: a fixed surge must be at least that.
        "maxSurgeFixed": 3,
        "maxUnavailableFixed": 0,
    }


def test_the_group_rolls_only_after_the_node_is_upgraded_and_secured_again(run):
    result = run(installed="2.0.10184-1")
    group, template = result.named("bridges-group"), result.named("bridges-template")
    # Directly, not only through the account step.
    assert result.named("setup-secure").urn in group.dependencies
    # The template waits for what the install step reports; the group for the template.
    assert result.named("setup-install").urn in template.dependencies
    assert template.urn in group.dependencies


# -- the proof counts the bridges --------------------------------------------------------------


@pytest.mark.parametrize(("low", "counted"), [(2, "3"), (1, "2"), (5, "6")])
def test_the_proof_asks_for_min_bridges_and_the_nodes_own_and_waits_for_them(run, low, counted):
    result = run(pool={"min": low, "max": 6})
    verify = result.named("verify-auth")
    words = shlex.split(verify.inputs["create"])
    assert words[-4:] == ["--bridges", counted, "--bridges-wait", "900"]
    # It runs once the group exists (the group does not wait for its bridges).
    assert result.named("bridges-group").urn in verify.dependencies
    assert result.named("moderators").urn in verify.dependencies


def test_without_the_pool_the_proof_asks_for_no_bridges(run):
    verify = run(pool=None).named("verify-auth")
    assert "--bridges" not in verify.inputs["create"]
    assert not [urn for urn in verify.dependencies if "bridges" in urn]
