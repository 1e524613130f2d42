"""A stack deployed by the previous layout takes the new one safely, on a booted machine.

The previous program (one copy per script, one step per moderator whose stored `delete` runs
`moderator.py remove NAME`) deploys first; then the current program runs with the same config,
replayed as the engine replays it: creates and updates first, then the deletes of the resources
that left the program, with their old inputs. No listed account may end up removed, and no old
delete may fail because a file moved.
"""

import os
import subprocess

import pytest
from rehearsal.outside import Client, prove
from rehearsal.report import FINISHED, Report
from rehearsal.stage import Stage
from support import ROOT, require

# The last commit with per-file copies and per-account steps.
PREVIOUS_LAYOUT = "ae81494"
DOMAIN = "meet.rehearsal.example"
MODERATORS = {"alice": "alice-first-password-1", "bob": "bob-first-password-22"}
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module", params=("bookworm", "trixie"))
def stage(request, tmp_path_factory):
    require(os.geteuid() == 0, "booting a machine needs root")
    known = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS_LAYOUT}^{{commit}}"],
        capture_output=True,
        timeout=30,
    )
    require(known.returncode == 0, f"commit {PREVIOUS_LAYOUT} is not in this clone's history")
    work = tmp_path_factory.mktemp(f"upgrade-{request.param}")
    with Stage(request.param, work, say=lambda line: None) as stage:
        stage.report = Report(f"{request.param}, upgraded from the previous layout")
        yield stage
    FINISHED.append(stage.report)


def test_the_new_layout_keeps_every_listed_account_and_fails_no_old_delete(stage):
    config = stage.config(MODERATORS)
    before = stage.up(config, checkout=stage.checkout(PREVIOUS_LAYOUT))
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

    cert = stage.file(f"/etc/jitsi/meet/{DOMAIN}.crt")
    checks = prove(Client(stage.vm.address, DOMAIN, cert), DOMAIN, MODERATORS)
    assert [what for held, what in checks if not held] == []
    # And the stack goes on as usual: a second up runs nothing.
    assert stage.up(config).ran() == []
