"""Stacks deployed by earlier layouts take the current one safely, on a booted machine.

An earlier program deploys first; then the current program runs with the same config, replayed
as the engine replays it: creates and updates first, then the deletes of the resources that left
the program, with their old inputs. Two earlier layouts:
- one copy per script and one step per moderator, whose stored `delete` runs
  `moderator.py remove NAME`: no listed account may end up removed, no old delete may fail
  because a file moved;
- one upload of a flat scripts/ and one account step: the tools' new folders run once, change
  nothing and restart nothing.
"""

import os
import subprocess

import pytest
from rehearsal.outside import Client, prove
from rehearsal.report import FINISHED, Report
from rehearsal.stage import WATCHED, Stage
from support import ROOT, require

# The last commit with per-file copies and per-account steps.
PER_ACCOUNT_LAYOUT = "ae81494"
# The last commit with a flat scripts/ (one upload, one account step).
FLAT_LAYOUT = "7511c23"
DOMAIN = "meet.rehearsal.example"
MODERATORS = {"alice": "alice-first-password-1", "bob": "bob-first-password-22"}
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(params=("bookworm", "trixie"))
def stage(request, tmp_path_factory):
    require(os.geteuid() == 0, "booting a machine needs root")
    work = tmp_path_factory.mktemp(f"upgrade-{request.param}")
    with Stage(request.param, work, say=lambda line: None) as stage:
        stage.report = Report(f"{request.param}, upgraded")
        yield stage
    FINISHED.append(stage.report)


def _deployed_by(stage: Stage, commit: str, config: dict) -> Report:
    known = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"],
        capture_output=True,
        timeout=30,
    )
    require(known.returncode == 0, f"commit {commit} is not in this clone's history")
    stage.report = Report(f"{stage.release}, upgraded from the layout of {commit}")
    report = stage.up(config, checkout=stage.checkout(commit))
    stage.report.add(f"deployed by {commit}", report)
    return report


def _proven(stage: Stage) -> None:
    cert = stage.file(f"/etc/jitsi/meet/{DOMAIN}.crt")
    checks = prove(Client(stage.vm.address, DOMAIN, cert), DOMAIN, MODERATORS)
    assert [what for held, what in checks if not held] == []


def test_the_new_layout_keeps_every_listed_account_and_fails_no_old_delete(stage):
    config = stage.config(MODERATORS)
    before = _deployed_by(stage, PER_ACCOUNT_LAYOUT, config)
    stage.report.add("deployed by the previous layout", before)
    assert "create jitsi-moderator-alice" in before.ran()

    after = stage.up(config)
    stage.report.add("first up of the new layout, same config", after)
    ran = after.ran()
    # (On Compute Engine this up also rebuilds the VM once, for host-key pinning: every step
    # then runs on the new VM, at the same address. Here the machine stays; what matters is the
    # same: the new steps first, the old resources' stored deletes last.)
    assert ran[0] == "create jitsi-setup-upload"
    assert "create jitsi-moderators" in ran
    # The old account steps' stored deletes ran last (in reverse order, as the engine deletes),
    # and kept the accounts the stack still lists.
    assert ran[-2:] == ["delete jitsi-moderator-bob", "delete jitsi-moderator-alice"]
    deletes = {r.step: r.output for r in after.records if r.action == "delete"}
    for name in MODERATORS:
        assert deletes[f"jitsi-moderator-{name}"].startswith(f"Kept {name}@{DOMAIN}")
    assert "Unchanged: alice, bob" in stage.output("moderators")
    _proven(stage)
    # And the stack goes on as usual: a second up runs nothing.
    assert stage.up(config).ran() == []


def test_the_folders_replace_the_flat_layout_without_a_change_on_the_machine(stage):
    config = stage.config(MODERATORS)
    _deployed_by(stage, FLAT_LAYOUT, config)
    before = stage.file_digests(*WATCHED)
    after = stage.up(config)
    stage.report.add("first up of the folders, same config", after)
    # New command lines and triggers: every tool step runs once more, and deletes nothing.
    assert after.ran() == [
        "update jitsi-setup-upload",
        "replace: create new jitsi-setup-install",
        "replace: create new jitsi-setup-secure",
        "replace: create new jitsi-moderators",
        "replace: create new jitsi-verify-auth",
        # The proof from outside, new since that layout.
        "create jitsi-prove-certificate",
        "create jitsi-prove-outside",
    ]
    assert stage.file_digests(*WATCHED) == before
    assert after.restarts == {unit: 0 for unit in after.restarts}, after.restarts
    assert "Unchanged: alice, bob" in stage.output("moderators")
    _proven(stage)
    assert stage.up(config).ran() == []
