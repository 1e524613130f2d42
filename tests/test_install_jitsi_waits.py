"""install_jitsi/install.sh waits for a busy fresh VM, and gives up with a clear error in time.

The lock is a real fcntl lock held by another process, as dpkg holds it, so the lock
detection itself is tested, not a stand-in for it."""

import pytest
from install_jitsi_harness import LockHolder, Machine, have_cloud_init_on_system
from support import require

DOMAIN = "meet.example.com"


def apt_calls(result):
    return [c for c in result.calls if c.command == "apt-get"]


# Every lock apt and dpkg take: a fresh VM's unattended-upgrades may hold any one of them alone.
@pytest.mark.parametrize(
    "lock",
    [
        "var/lib/dpkg/lock-frontend",
        "var/lib/dpkg/lock",
        "var/lib/apt/lists/lock",
        "var/cache/apt/archives/lock",
    ],
)
def test_lock_that_never_frees_ends_in_a_clear_error_quickly(tmp_path, lock):
    machine = Machine(tmp_path)
    machine.write(lock, "")  # as on a real system, where apt's package cache has its lock file
    holder = LockHolder(machine.root / lock)
    try:
        result = machine.run("--domain", DOMAIN, INSTALL_JITSI_LOCK_TIMEOUT="1", timeout=30)
    finally:
        holder.stop()
    assert result.returncode == 1
    assert result.seconds < 10
    assert apt_calls(result) == []
    assert machine.read("etc/hostname") == "jitsi-vm\n"
    (error,) = [line for line in result.stderr.splitlines() if "error" in line]
    assert error.startswith(
        f"install_jitsi: error: waited 1 s for the package manager lock /{lock}"
    )
    assert f"process {holder.pid}" in error and "INSTALL_JITSI_LOCK_TIMEOUT" in error
    assert f"Wait for /{lock} (held by process {holder.pid}" in result.stdout


def test_apt_starts_only_after_the_lock_is_released(tmp_path):
    machine = Machine(tmp_path)
    holder = LockHolder(machine.root / "var/lib/dpkg/lock-frontend", hold_seconds=1.5)
    try:
        result = machine.run("--domain", DOMAIN, INSTALL_JITSI_LOCK_TIMEOUT="20", timeout=60)
        released = holder.released_at()
    finally:
        holder.stop()
    assert result.returncode == 0, result.stderr
    assert min(call.at for call in apt_calls(result)) >= released


def test_cloud_init_that_never_finishes_ends_in_a_clear_error_quickly(tmp_path):
    machine = Machine(tmp_path)
    result = machine.run(
        "--domain", DOMAIN, CLOUD_INIT_STUB="hang", INSTALL_JITSI_CLOUD_INIT_TIMEOUT="1", timeout=30
    )  # fmt: skip
    assert result.returncode == 1
    assert result.seconds < 10
    assert [call.command for call in result.calls] == ["cloud-init"]
    (error,) = result.stderr.splitlines()
    assert error.startswith("install_jitsi: error: waited 1 s for cloud-init to finish")
    assert "INSTALL_JITSI_CLOUD_INIT_TIMEOUT" in error


def test_cloud_init_errors_warn_but_do_not_stop_the_install(tmp_path):
    result = Machine(tmp_path).run("--domain", DOMAIN, CLOUD_INIT_STUB="error")
    assert result.returncode == 0, result.stderr
    assert "WARNING: cloud-init finished with errors (exit 1); continuing" in result.stdout


def test_machine_without_cloud_init_skips_that_wait(tmp_path):
    require(not have_cloud_init_on_system(), "a real cloud-init is installed on this machine")
    result = Machine(tmp_path, cloud_init=False).run("--domain", DOMAIN)
    assert result.returncode == 0, result.stderr
    assert "Skip cloud-init wait (cloud-init not installed)" in result.stdout
    assert apt_calls(result)
