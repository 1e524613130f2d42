"""install_jitsi/install.sh rejects bad input with one clear line, before it changes anything;
and its scripts are shellcheck clean."""

import shutil
import subprocess

import pytest
from install_jitsi_harness import UNSUPPORTED_SYSTEMS, Machine
from support import SCRIPTS, require

BAD_ARGUMENTS = {
    "no arguments": ([], "--domain is required"),
    "domain without value": (["--domain"], "--domain needs a value"),
    "upper case domain": (["--domain", "Meet.Example.com"], "not a lowercase DNS name"),
    "single label": (["--domain", "localhost"], "not a lowercase DNS name"),
    "ip address": (["--domain", "10.1.2.3"], "not a lowercase DNS name"),
    "shell metacharacters": (["--domain", "meet.example.com;reboot"], "not a lowercase DNS name"),
    "bad email": (
        ["--domain", "meet.example.com", "--letsencrypt-email", "admin"],
        "is not an e-mail address",
    ),
    "empty email": (
        ["--domain", "meet.example.com", "--letsencrypt-email", ""],
        "is not an e-mail address",
    ),
    "unknown option": (["--domain", "meet.example.com", "--force"], "unknown argument '--force'"),
    "release that is not a version": (
        ["--domain", "meet.example.com", "--jitsi-version", "latest"],
        "--jitsi-version 'latest' is not a jitsi-meet version such as 2.0.10590-1, nor stable",
    ),
    "release with shell metacharacters": (
        ["--domain", "meet.example.com", "--jitsi-version", "2.0.1-1;reboot"],
        "is not a jitsi-meet version",
    ),
    "release without value": (
        ["--domain", "meet.example.com", "--jitsi-version"],
        "--jitsi-version needs a value",
    ),
    "mirror without key": (
        ["--domain", "meet.example.com", "--jitsi-apt-source", "https://m.example.org stable/"],
        "--jitsi-apt-key '' is not the URL",
    ),
    "mirror without suite": (
        [
            "--domain",
            "meet.example.com",
            "--jitsi-apt-source",
            "https://m.example.org",
            "--jitsi-apt-key",
            "https://m.example.org/key",
        ],
        "is not 'URL SUITE [COMPONENT...]'",
    ),
    "mirror with apt options": (
        [
            "--domain",
            "meet.example.com",
            "--jitsi-apt-source",
            "[trusted=yes] https://m.example.org stable/",
            "--jitsi-apt-key",
            "https://m.example.org/key",
        ],
        "is not 'URL SUITE [COMPONENT...]'",
    ),
    "prosody key without source": (
        ["--domain", "meet.example.com", "--prosody-apt-key", "https://m.example.org/key"],
        "--prosody-apt-key needs --prosody-apt-source",
    ),
    "prosody source without key": (
        [
            "--domain",
            "meet.example.com",
            "--prosody-apt-source",
            "https://m.example.org/p bookworm main",
        ],
        "--prosody-apt-source needs --prosody-apt-key",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_arguments_give_one_clear_line_and_change_nothing(tmp_path, case):
    args, expected = BAD_ARGUMENTS[case]
    machine = Machine(tmp_path)
    before = machine.snapshot()
    result = machine.run(*args, timeout=30)
    assert result.returncode == 2
    error, usage = result.stderr.splitlines()
    assert error.startswith("install_jitsi: error: ") and expected in error
    assert usage.startswith("usage: install_jitsi/install.sh --domain DOMAIN")
    assert result.calls == []
    assert machine.snapshot() == before


def test_bad_wait_setting_is_rejected(tmp_path):
    result = Machine(tmp_path).run(
        "--domain", "meet.example.com", INSTALL_JITSI_LOCK_TIMEOUT="ten", timeout=30
    )  # fmt: skip
    assert result.returncode == 2
    assert "INSTALL_JITSI_LOCK_TIMEOUT must be whole seconds, not 'ten'" in result.stderr


@pytest.mark.parametrize("codename", sorted(UNSUPPORTED_SYSTEMS))
def test_unsupported_system_is_refused_before_anything_changes(tmp_path, codename):
    machine = Machine(tmp_path, codename)
    before = machine.snapshot()
    result = machine.run("--domain", "meet.example.com", timeout=30)
    assert result.returncode == 1
    (error,) = result.stderr.splitlines()
    distro, _ = UNSUPPORTED_SYSTEMS[codename]
    assert f"unsupported system '{distro} {codename}'" in error
    assert "Debian 12/13 or Ubuntu 22.04/24.04" in error
    assert result.calls == []
    assert machine.snapshot() == before


def test_help_prints_usage(tmp_path):
    result = Machine(tmp_path).run("--help", timeout=30)
    assert result.returncode == 0
    assert result.stdout.startswith("Install Jitsi Meet unattended")
    assert "--letsencrypt-email EMAIL" in result.stdout


def test_every_script_is_shellcheck_clean():
    require(shutil.which("shellcheck") is not None, "shellcheck is not installed")
    scripts = sorted(str(path) for path in SCRIPTS.rglob("*.sh"))
    assert scripts
    done = subprocess.run(
        ["shellcheck", *scripts], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
