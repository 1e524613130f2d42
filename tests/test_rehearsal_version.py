"""Moving between Jitsi releases, rehearsed: pinned and held by the first deploy, upgraded and
downgraded in place by a changed jitsi:version, secured before and after.

One machine per Debian release, booted once for the module, whose stand-in repository offers
two releases (tests/rehearsal/jitsi_repo), each part numbered on its own as upstream's are. The
newer release's jitsi-meet-prosody migrates the site file on an upgrade the way upstream's
postinst does (`sed -i`, then a Prosody restart), so the file the securing step edited is
rewritten under it; jicofo's postinst rewrites jicofo.conf with `hocon set` on every configure,
as upstream's does. The scenarios run in order, as a stack lives.
"""

import json
import os
import pathlib
import re
import shutil
import time
from collections.abc import Callable

import program_mocks
import pytest
from rehearsal.engine import COPY, CommandFailed, Engine, Record
from rehearsal.jitsi_repo.build import Release, build_repository
from rehearsal.outside import Client, prove
from rehearsal.report import FINISHED, Report
from rehearsal.stage import DOMAIN, WATCHED, Stage
from support import require

from components.host_setup import installed_versions

NEWER = Release(
    "2.0.10590-1",
    {
        "jitsi-meet-web": "1.0.8792-1",
        "jitsi-meet-web-config": "1.0.8792-1",
        "jitsi-meet-prosody": "1.0.8792-1",
        "jicofo": "1.0-1140-1",
        "jitsi-videobridge2": "2.3-240-g3f4c1e7d-1",
    },
)
OLDER = Release(
    "2.0.10314-1",
    {
        "jitsi-meet-web": "1.0.8542-1",
        "jitsi-meet-web-config": "1.0.8542-1",
        "jitsi-meet-prosody": "1.0.8542-1",
        "jicofo": "1.0-1135-1",
        "jitsi-videobridge2": "2.3-219-gb5fbe618-1",
    },
)
JITSI = ("jitsi-meet", *OLDER.parts)
MEETING_SERVICES = ("prosody", "jicofo", "jitsi-videobridge2")
MODERATORS = {"alice": "alice-first-password-1"}
OPERATORS_LINE = "// a line the operator added by hand"
RELEASE_CHANGED = [
    "update jitsi-setup-install",
    "replace: create new jitsi-setup-secure",
    "replace: create new jitsi-verify-auth",
    "replace: create new jitsi-prove-outside",
]
pytestmark = pytest.mark.timeout(1500)


class _Replan(Exception):
    """A step printed something other than what the program run was given."""


class FollowingEngine(Engine):
    """The rehearsal's engine, plus one thing Pulumi does that marks cannot show: an input
    computed from an earlier step's output (the securing step's triggers hold the versions the
    install step printed) is known only once that step has run. So after each step whose
    output changed, the program runs again with it, and the `up` goes on with that run (the
    steps done so far are the same in it). A pass cut short leaves its deletes of departed
    steps to the next pass; an old step's delete after a create-first replacement would be
    lost, and none of this program's steps has one."""

    def __init__(self, say: Callable[[str], None], run_again: Callable[[], object]):
        super().__init__(say)
        self.run_again = run_again
        self.given: dict[str, str] = {}
        self.done: list[Record] = []
        self.following = False

    def up(self, run, project_dir):
        self.done = []
        while True:
            self.given = {step.name: out for step, out in self.state.values()}
            self.following = True
            try:
                super().up(run, project_dir)
                return self.done
            except _Replan:
                run = self.run_again()
            finally:
                self.following = False

    def _apply(self, step, action, previous):
        record = super()._apply(step, action, previous)
        self.done.append(record)
        printed = self.state[step.urn][1]
        if self.following and step.type != COPY and printed != self.given.get(step.name):
            raise _Replan
        return record

    def _delete(self, old, stdout, action):
        record = super()._delete(old, stdout, action)
        self.done.append(record)
        return record


class VersionStage(Stage):
    """A stage whose repository offers both releases, and whose mocked commands print what the
    real ones printed last (what Pulumi's state holds)."""

    def __init__(self, release: str, work_dir: pathlib.Path, say=print):
        super().__init__(release, work_dir, say)
        self.engine = FollowingEngine(say, lambda: self.program(*self._last))

    def repository(self, dest):
        return build_repository(dest, releases=[NEWER, OLDER])

    def program(self, config, checkout=None, host_key=None):
        self._last = (config, checkout, host_key)
        printed = {step.name: out for step, out in self.engine.state.values()}
        original = program_mocks._Mocks.new_resource

        def new_resource(mocks, args):
            resource_id, outputs = original(mocks, args)
            if args.typ == program_mocks.REMOTE_COMMAND and args.name in printed:
                outputs = {**outputs, "stdout": printed[args.name]}
            return resource_id, outputs

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(program_mocks._Mocks, "new_resource", new_resource)
            return super().program(config, checkout, host_key)

    def at(self, release: Release | str):
        version = release.version if isinstance(release, Release) else release
        return self.config(MODERATORS, **{"jitsi:version": version})

    def versions(self) -> dict[str, str]:
        query = ["dpkg-query", "-W", "-f=${Package} ${Version}\\n", *JITSI]
        return dict(line.split() for line in self.root(*query).stdout.decode().splitlines())

    def held(self) -> set[str]:
        return set(self.root("apt-mark", "showhold").stdout.decode().split())


@pytest.fixture(scope="module", params=("bookworm", "trixie"))
def stage(request, tmp_path_factory):
    require(os.geteuid() == 0, "booting a machine needs root")
    for tool in ("systemd-nspawn", "debootstrap", "dpkg-deb", "apt-ftparchive", "gpg"):
        require(shutil.which(tool) is not None, f"no {tool}")
    work = tmp_path_factory.mktemp(f"rehearsal-version-{request.param}")
    report = Report(f"{request.param}, moving between Jitsi releases")
    with VersionStage(request.param, work, say=lambda line: None) as stage:
        stage.report = report
        yield stage
    FINISHED.append(report)
    report.save(pathlib.Path(os.environ.get("REHEARSAL_REPORT_DIR", work)))


def expected(release: Release) -> dict[str, str]:
    return {"jitsi-meet": release.version, **release.parts}


def proof_passed(stage: VersionStage) -> None:
    """The program's own proof, as the last `up` left it: every check passed."""
    assert not re.search(r"^(FAIL|SKIP)", stage.output("verify-auth"), re.M)


def secured_from_outside(stage: VersionStage) -> None:
    client = Client(stage.vm.address, DOMAIN, stage.file(f"/etc/jitsi/meet/{DOMAIN}.crt"))
    assert [what for held, what in prove(client, DOMAIN, MODERATORS) if not held] == []


def restart_window(stage: VersionStage, since: float) -> float:
    """Seconds from the first stop to the last start systemd made of a meeting service."""
    query = ["journalctl", "--no-pager", "-o", "json", "_PID=1", f"--since=@{since:.0f}"]
    query += [f"UNIT={unit}.service" for unit in MEETING_SERVICES]
    records = [json.loads(line) for line in stage.root(*query).stdout.decode().splitlines()]
    jobs = [(int(r["__REALTIME_TIMESTAMP"]) / 1e6, r.get("JOB_TYPE")) for r in records]
    stops = [at for at, job in jobs if job in ("stop", "restart")]
    starts = [at for at, job in jobs if job in ("start", "restart")]
    return max(starts) - min(stops) if stops and starts else 0.0


def test_a_first_deploy_installs_the_release_asked_for_and_holds_it(stage):
    report = stage.up(stage.at(OLDER))
    stage.report.add(f"first deploy at {OLDER.version}", report)
    assert report.ssh_sessions == 6  # each step once, the securing step too
    assert stage.versions() == expected(OLDER)
    assert stage.held() == set(JITSI)
    # The stack's export: what the VM reported, as the program reads it.
    exported = stage.program(stage.at(OLDER)).exports["jitsiVersions"]
    assert {p: exported[p] for p in JITSI} == expected(OLDER) and "prosody" in exported
    assert exported == installed_versions(stage.output("setup-install"))
    proof_passed(stage)


def test_unattended_upgrades_and_apt_upgrades_leave_the_held_release_alone(stage):
    apt = "DEBIAN_FRONTEND=noninteractive apt-get -y -q"
    installed = stage.root(
        "bash", "-c", f"{apt} update && {apt} install unattended-upgrades", timeout=600
    )
    assert installed.returncode == 0, installed.stderr
    # Jitsi's origin allowed, and nothing else: only Jitsi's packages could move.
    stage.root(
        "bash", "-c",
        "printf '#clear Unattended-Upgrade::Origins-Pattern;\\n"
        "Unattended-Upgrade::Origins-Pattern { \"origin=jitsi-rehearsal\"; };\\n' "
        "> /etc/apt/apt.conf.d/99rehearsal-jitsi",
    )  # fmt: skip
    unattended = stage.root("unattended-upgrade", "-v", timeout=600)
    assert unattended.returncode == 0, unattended.stderr
    assert stage.versions() == expected(OLDER)
    upgraded = stage.root("bash", "-c", f"{apt} dist-upgrade", timeout=600)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "jitsi-meet" in upgraded.stdout.decode()  # named as held back, not upgraded
    assert stage.versions() == expected(OLDER)


def test_a_newer_release_upgrades_in_place_and_stays_secured(stage):
    config_js = f"/etc/jitsi/meet/{DOMAIN}-config.js"
    stage.root("bash", "-c", f"echo '{OPERATORS_LINE}' >> {config_js}")
    started = time.time()
    report = stage.up(stage.at(NEWER))
    window = restart_window(stage, started)
    stage.report.add(f"upgrade to {NEWER.version} (meeting services down {window:.1f} s)", report)
    # In place: the install step again, then the securing step and both proofs for the new
    # versions.
    assert report.ran() == RELEASE_CHANGED
    assert f"Upgrade Jitsi Meet from {OLDER.version} to {NEWER.version}" in stage.output("install")
    assert stage.versions() == expected(NEWER)
    assert stage.held() == set(JITSI)
    # The postinst rewrote the site file, keeping the securing step's edits: nothing to redo,
    # and only the packages' own restarts (nginx reloads for a new site only).
    site = stage.file(f"/etc/prosody/conf.avail/{DOMAIN}.cfg.lua")
    assert site.startswith("-- site file migrated by jitsi-meet-prosody 1.0.8792-1")
    assert "nothing needed changing" in stage.output("setup-secure")
    assert report.restarts == {"prosody": 1, "jicofo": 1, "jitsi-videobridge2": 1, "nginx": 0}
    assert OPERATORS_LINE in stage.file(config_js)
    exported = stage.program(stage.at(NEWER)).exports["jitsiVersions"]
    assert {p: exported[p] for p in JITSI} == expected(NEWER)
    secured_from_outside(stage)


def test_a_second_up_after_the_upgrade_runs_nothing(stage):
    before = stage.file_digests(*WATCHED)
    report = stage.up(stage.at(NEWER))
    assert report.ran() == [] and report.ssh_sessions == 0
    assert stage.file_digests(*WATCHED) == before


def test_the_older_release_again_downgrades_in_place(stage):
    started = time.time()
    report = stage.up(stage.at(OLDER))
    window = restart_window(stage, started)
    stage.report.add(f"back to {OLDER.version} (meeting services down {window:.1f} s)", report)
    assert report.ran() == RELEASE_CHANGED
    assert f"Downgrade Jitsi Meet from {NEWER.version} to {OLDER.version}" in stage.output(
        "install"
    )
    assert stage.versions() == expected(OLDER)
    assert stage.held() == set(JITSI)
    assert "nothing needed changing" in stage.output("setup-secure")
    # The older postinst migrates nothing: Prosody keeps running.
    assert report.restarts == {"prosody": 0, "jicofo": 1, "jitsi-videobridge2": 1, "nginx": 0}
    assert OPERATORS_LINE in stage.file(f"/etc/jitsi/meet/{DOMAIN}-config.js")
    secured_from_outside(stage)


def test_an_unknown_release_fails_before_anything_changes_naming_the_offered_ones(stage):
    before = stage.file_digests(*WATCHED)
    starts = stage.starts()
    with pytest.raises(CommandFailed) as failed:
        stage.up(stage.at("2.0.99999-1"))
    offered = f"{NEWER.version}, {OLDER.version}"
    line = (
        "install_jitsi: error: jitsi-meet 2.0.99999-1 is not in the Jitsi repository, which "
        f"offers {offered}; use one of them, or stable"
    )
    assert line in str(failed.value).splitlines()
    assert stage.file_digests(*WATCHED) == before and stage.starts() == starts
    assert stage.versions() == expected(OLDER) and stage.held() == set(JITSI)
    # Back to the deployed release: the failed step left nothing to redo.
    assert stage.up(stage.at(OLDER)).ran() == []
    secured_from_outside(stage)
