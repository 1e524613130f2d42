"""install_jitsi/install.sh --jitsi-version: exactly one release installed and held, moved up or
down in place when asked, and an unknown release refused before anything changes.

The pretend repository (install_jitsi_harness.RELEASES) numbers each part on its own, as
upstream does, so only a release read from the metapackage's pins installs the right parts."""

import subprocess

from install_jitsi_harness import NEWER, RELEASES, STUB_VERSION, Machine

DOMAIN = "meet.example.com"
OLDER = STUB_VERSION
JITSI = ("jitsi-meet", *RELEASES[OLDER])


def dpkg(machine, package, field="${Version}"):
    """A field of PACKAGE in the pretend VM's dpkg database, read by the real dpkg-query."""
    admin = f"--admindir={machine.root}/var/lib/dpkg"
    return subprocess.run(
        ["dpkg-query", admin, "-W", f"-f={field}", package], capture_output=True, text=True
    ).stdout


def release_of(machine) -> dict[str, str]:
    return {package: dpkg(machine, package) for package in JITSI}


def expected(version: str) -> dict[str, str]:
    return {"jitsi-meet": version, **RELEASES[version]}


def held(machine) -> set[str]:
    return {p for p in JITSI if dpkg(machine, p, "${Status}").startswith("hold ")}


def installed_at(tmp_path, version: str, *offered: str) -> Machine:
    machine = Machine(tmp_path, offered=offered or (NEWER, OLDER))
    done = machine.run("--domain", DOMAIN, "--jitsi-version", version)
    assert done.returncode == 0, done.stderr
    return machine


def test_a_pinned_release_installs_the_parts_it_pins_and_holds_them(tmp_path):
    machine = installed_at(tmp_path, OLDER)
    assert release_of(machine) == expected(OLDER)
    assert held(machine) == set(JITSI)
    calls = [(c.command, c.args) for c in machine.calls()]
    install = [a for c, a in calls if c == "apt-get" and " install " in f" {a} "]
    words = install[-1].split(" install ")[1].split()
    assert words[0] == f"jitsi-meet={OLDER}"
    assert sorted(words[1:]) == sorted(f"{p}={v}" for p, v in RELEASES[OLDER].items())
    # Held after the install, so that apt upgrades leave the release alone.
    assert [c for c, _ in calls].index("apt-mark") > calls.index(("apt-get", install[-1]))


def test_stable_installs_the_newest_release_and_holds_it(tmp_path):
    machine = installed_at(tmp_path, "stable")
    assert release_of(machine) == expected(NEWER)
    assert held(machine) == set(JITSI)


def test_stable_is_not_moved_by_a_later_run_when_a_newer_release_appears(tmp_path):
    machine = installed_at(tmp_path, "stable", OLDER)
    machine.offer(NEWER, OLDER)
    before = machine.snapshot()
    again = machine.run("--domain", DOMAIN)
    assert again.returncode == 0, again.stderr
    assert again.calls == [] and machine.snapshot() == before
    assert f"  jitsi-meet {OLDER}" in again.stdout


def test_the_same_release_again_changes_nothing(tmp_path):
    machine = installed_at(tmp_path, OLDER)
    before = machine.snapshot()
    again = machine.run("--domain", DOMAIN, "--jitsi-version", OLDER)
    assert again.returncode == 0, again.stderr
    assert again.calls == [] and machine.snapshot() == before
    assert f"Keep Jitsi Meet for {DOMAIN} (already installed; nothing changed)" in again.stdout


def test_a_newer_release_upgrades_in_place_unheld_then_held_again(tmp_path):
    machine = installed_at(tmp_path, OLDER)
    config_js = machine.root / f"etc/jitsi/meet/{DOMAIN}-config.js"
    config_js.write_text(config_js.read_text() + "// the user's own line\n")
    result = machine.run("--domain", DOMAIN, "--jitsi-version", NEWER)
    assert result.returncode == 0, result.stderr
    assert release_of(machine) == expected(NEWER)
    assert held(machine) == set(JITSI)
    assert f"Upgrade Jitsi Meet from {OLDER} to {NEWER} (its services restart)" in result.stdout
    assert "// the user's own line" in config_js.read_text()
    steps = [(c.command, c.args.split()[0]) for c in result.calls]
    assert steps == [
        ("apt-get", "-y"),  # update: the new release's lists
        ("apt-cache", "madison"),
        ("apt-cache", "show"),
        ("apt-mark", "unhold"),
        ("apt-get", "-y"),  # install
        ("apt-mark", "hold"),
    ]
    assert {c.args.split()[0] for c in result.calls if c.command == "apt-get"} == {"-y"}
    assert "install --allow-downgrades" in result.calls[4].args
    assert sorted(result.calls[3].args.split()[1:]) == sorted(JITSI)


def test_an_older_release_downgrades_in_place(tmp_path):
    machine = installed_at(tmp_path, NEWER)
    result = machine.run("--domain", DOMAIN, "--jitsi-version", OLDER)
    assert result.returncode == 0, result.stderr
    assert release_of(machine) == expected(OLDER)
    assert held(machine) == set(JITSI)
    assert f"Downgrade Jitsi Meet from {NEWER} to {OLDER}" in result.stdout
    again = machine.run("--domain", DOMAIN, "--jitsi-version", OLDER)
    assert again.calls == []


def test_an_unknown_release_is_refused_before_anything_changes_naming_the_offered_ones(tmp_path):
    machine = installed_at(tmp_path, OLDER)
    before = machine.snapshot()
    result = machine.run("--domain", DOMAIN, "--jitsi-version", "2.0.99999-1")
    assert result.returncode == 1
    (error,) = result.stderr.splitlines()
    assert error == (
        "install_jitsi: error: jitsi-meet 2.0.99999-1 is not in the Jitsi repository, which "
        f"offers {NEWER}, {OLDER}; use one of them, or stable"
    )
    assert machine.snapshot() == before
    assert {c.command for c in result.calls} == {"apt-get", "apt-cache"}
    assert [c.args.split()[-1] for c in result.calls if c.command == "apt-get"] == ["update"]


def test_on_a_fresh_vm_an_unknown_release_is_refused_before_the_host_or_its_packages_change(
    tmp_path,
):
    machine = Machine(tmp_path, offered=(NEWER, OLDER))
    result = machine.run("--domain", DOMAIN, "--jitsi-version", "2.0.1-1")
    assert result.returncode == 1
    assert "jitsi-meet 2.0.1-1 is not in the Jitsi repository" in result.stderr
    commands = {c.command for c in result.calls}
    assert not commands & {"hostnamectl", "debconf-set-selections", "apt-mark"}
    assert not [c for c in result.calls if " install " in f" {c.args} "]
    assert machine.read("etc/hostname") == "jitsi-vm\n"


def test_a_long_history_is_named_by_its_newest_ten(tmp_path):
    history = [f"2.0.{10600 - n}-1" for n in range(25)]
    machine = Machine(tmp_path, offered=tuple(history))
    result = machine.run("--domain", DOMAIN, "--jitsi-version", "2.0.1-1")
    (error,) = result.stderr.splitlines()
    assert ", ".join(history[:10]) + " and 15 older (apt-cache madison jitsi-meet)" in error


def test_an_install_from_before_the_holds_is_held_by_the_next_run(tmp_path):
    machine = installed_at(tmp_path, OLDER)
    status = machine.root / "var/lib/dpkg/status"
    status.write_text(status.read_text().replace("Status: hold ", "Status: install "))
    result = machine.run("--domain", DOMAIN)
    assert result.returncode == 0, result.stderr
    assert held(machine) == set(JITSI)
    assert "Hold 7 Jitsi packages at their versions (apt upgrades leave them)" in result.stdout
    assert f"Keep Jitsi Meet for {DOMAIN} (already installed)\n" in result.stdout
    assert machine.run("--domain", DOMAIN).calls == []


def test_a_part_moved_by_hand_is_put_back_at_the_version_its_release_pins(tmp_path):
    machine = installed_at(tmp_path, OLDER)
    status = machine.root / "var/lib/dpkg/status"
    pinned = RELEASES[OLDER]["jicofo"]
    status.write_text(status.read_text().replace(f"Version: {pinned}", "Version: 1.0-9999-1", 1))
    result = machine.run("--domain", DOMAIN)
    assert result.returncode == 0, result.stderr
    assert f"Put the parts of Jitsi Meet {OLDER} back at the versions it pins" in result.stdout
    assert release_of(machine) == expected(OLDER)


def test_a_failed_move_leaves_the_installed_release_held(tmp_path):
    machine = installed_at(tmp_path, OLDER)
    result = machine.run("--domain", DOMAIN, "--jitsi-version", NEWER, APT_STUB_FAIL="1")
    assert result.returncode == 1
    assert "apt-get install jitsi-meet=" in result.stderr
    assert release_of(machine) == expected(OLDER)
    assert held(machine) == set(JITSI)


def test_the_versions_block_is_the_same_for_the_same_packages(tmp_path):
    # The Pulumi program reads the installed versions from it: fresh install and re-run agree.
    machine = Machine(tmp_path, offered=(NEWER, OLDER))
    first = machine.run("--domain", DOMAIN, "--jitsi-version", OLDER).stdout
    again = machine.run("--domain", DOMAIN, "--jitsi-version", OLDER).stdout
    block = first[first.index("Installed packages:") :]
    assert block == again[again.index("Installed packages:") :]
    assert f"  jitsi-meet {OLDER}\n" in block and "  nginx " in block
