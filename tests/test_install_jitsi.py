"""scripts/install_jitsi/install.sh on a pretend fresh VM: what it installs, in which order, with
which answers, and that a second run changes nothing."""

import pytest
from install_jitsi_harness import RELEASES, STUB_VERSION, SYSTEMS, Machine, make_ca_signed_cert

DOMAIN = "meet.example.com"
EMAIL = "admin@example.com"
SELF_SIGNED = "Generate a new self-signed certificate"


def first(calls, command, args_part=""):
    """Index of the first call of command whose arguments contain args_part."""
    for index, call in enumerate(calls):
        if call.command == command and args_part in call.args:
            return index
    raise AssertionError(f"{command} {args_part} was never called: {calls}")


def preseed(machine):
    return (machine.state / "debconf").read_text().splitlines()


@pytest.mark.parametrize("codename", sorted(SYSTEMS))
def test_fresh_install_waits_then_adds_repository_preseeds_and_installs(tmp_path, codename):
    machine = Machine(tmp_path, codename)
    result = machine.run("--domain", DOMAIN)
    assert result.returncode == 0, result.stderr
    calls = result.calls

    # Repository before the package lists; answers before the install.
    install = first(calls, "apt-get", "install jitsi-meet")
    # Waits before anything changes: repositories, host name, packages. The package lists
    # (the release is checked against them) come before the host name.
    assert first(calls, "cloud-init", "status --wait") < first(calls, "curl")
    assert first(calls, "curl") < first(calls, "apt-get")
    assert first(calls, "curl", "download.jitsi.org/jitsi-key.gpg.key") < first(calls, "gpg")
    assert first(calls, "gpg") < first(calls, "apt-get", "update") < first(calls, "hostnamectl")
    assert first(calls, "hostnamectl") < install
    assert first(calls, "debconf-set-selections") < install
    assert first(calls, "hostnamectl", f"set-hostname {DOMAIN}") < install

    # Nothing may ask a question: every apt-get call is non-interactive and lock-bounded.
    apt_calls = [c for c in calls if c.command == "apt-get"]
    assert apt_calls
    for call in apt_calls:
        assert call.frontend == "noninteractive"
        assert call.args.startswith("-y ")
        assert "DPkg::Lock::Timeout=10" in call.args
    assert not [c for c in calls if c.command == "apt-key"]

    keyring = "/usr/share/keyrings/jitsi-keyring.gpg"
    assert machine.read("etc/apt/sources.list.d/jitsi-stable.list") == (
        f"deb [signed-by={keyring}] https://download.jitsi.org stable/\n"
    )
    assert machine.read(keyring.lstrip("/")).startswith("dearmored:")

    # Prosody 13 comes from Prosody's repository except on Debian 13, which ships it.
    prosody_list = machine.root / "etc/apt/sources.list.d/prosody.list"
    if codename == "trixie":
        assert not prosody_list.exists()
    else:
        assert prosody_list.read_text() == (
            "deb [signed-by=/usr/share/keyrings/prosody-keyring.gpg] "
            f"http://packages.prosody.im/debian {codename} main\n"
        )

    assert machine.read("etc/hostname") == f"{DOMAIN}\n"
    assert f"127.0.0.1 {DOMAIN} " in machine.read("etc/hosts")
    assert (machine.root / f"etc/jitsi/meet/{DOMAIN}-config.js").exists()


def test_self_signed_mode_preseeds_every_question(tmp_path):
    machine = Machine(tmp_path)
    result = machine.run("--domain", DOMAIN)
    assert result.returncode == 0, result.stderr
    assert preseed(machine) == [
        f"jitsi-videobridge2 jitsi-videobridge/jvb-hostname string {DOMAIN}",
        f"jitsi-meet-prosody jitsi-videobridge/jvb-hostname string {DOMAIN}",
        f"jitsi-meet-web-config jitsi-videobridge/jvb-hostname string {DOMAIN}",
        f"jitsi-meet-web-config jitsi-meet/cert-choice select {SELF_SIGNED}",
        "jitsi-meet-web-config jitsi-meet/email string ",
        "jitsi-meet-web-config jitsi-meet/jaas-choice boolean false",
    ]
    assert not [c for c in result.calls if c.command == "install-letsencrypt-cert.sh"]
    assert "Request Let's Encrypt" not in result.stdout


def test_progress_lines_are_short_and_end_with_package_versions(tmp_path):
    result = Machine(tmp_path).run("--domain", DOMAIN)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    versions_at = lines.index("Installed packages:")
    for line in lines[:versions_at]:
        assert len(line) <= 80 and line[0].isupper(), line
    # Each part at the version the release pins, by name (the Pulumi program parses these).
    versions = {**RELEASES[STUB_VERSION], "jitsi-meet": STUB_VERSION}
    versions.update(nginx=STUB_VERSION, prosody=STUB_VERSION)
    assert lines[versions_at + 1 :] == [f"  {p} {v}" for p, v in sorted(versions.items())]


def test_letsencrypt_mode_installs_self_signed_then_swaps_in_the_issued_certificate(tmp_path):
    machine = Machine(tmp_path)
    issued = make_ca_signed_cert(tmp_path / "ca", DOMAIN)
    stub = {"LE_STUB_MODE": "issue", "LE_STUB_CERT": str(issued)}
    result = machine.run("--domain", DOMAIN, "--letsencrypt-email", EMAIL, **stub)
    assert result.returncode == 0, result.stderr
    answers = preseed(machine)
    # The package always starts self-signed (see install_jitsi/letsencrypt.sh for why).
    assert f"jitsi-meet-web-config jitsi-meet/cert-choice select {SELF_SIGNED}" in answers
    assert f"jitsi-meet-web-config jitsi-meet/email string {EMAIL}" in answers
    calls = result.calls
    le = first(calls, "install-letsencrypt-cert.sh")
    assert first(calls, "apt-get", "install jitsi-meet cron") < le
    assert calls[le].args == f"{EMAIL} {DOMAIN}"
    assert calls[le].frontend == "stdin-tty=no"
    assert machine.read(f"etc/jitsi/meet/{DOMAIN}.crt") == issued.read_text()
    assert f"Use Let's Encrypt certificate for {DOMAIN}" in result.stdout
    assert "WARNING" not in result.stdout


@pytest.mark.parametrize("mode", ["fail", "crash", "hang"])
def test_failed_letsencrypt_keeps_self_signed_instance_and_warns(tmp_path, mode):
    machine = Machine(tmp_path)
    stub = {"LE_STUB_MODE": mode, "INSTALL_JITSI_LE_TIMEOUT": "1"}
    result = machine.run("--domain", DOMAIN, "--letsencrypt-email", EMAIL, **stub)
    assert result.returncode == 0, result.stderr
    assert result.seconds < 20
    lines = result.stdout.splitlines()
    (warning,) = [index for index, line in enumerate(lines) if line.startswith("WARNING:")]
    assert DOMAIN in lines[warning] and "self-signed" in lines[warning]
    retry = f"sudo /usr/share/jitsi-meet/scripts/install-letsencrypt-cert.sh {EMAIL} {DOMAIN}"
    assert lines[warning + 1].endswith(retry)
    certificate = machine.read(f"etc/jitsi/meet/{DOMAIN}.crt")
    assert certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert f"Jitsi Meet is installed for https://{DOMAIN}/" in result.stdout


def test_second_run_for_same_domain_changes_nothing_and_says_so(tmp_path):
    machine = Machine(tmp_path)
    assert machine.run("--domain", DOMAIN).returncode == 0
    before = machine.snapshot()
    again = machine.run("--domain", DOMAIN)
    assert again.returncode == 0, again.stderr
    assert again.calls == []
    assert machine.snapshot() == before
    assert f"Keep Jitsi Meet for {DOMAIN} (already installed; nothing changed)" in again.stdout
    assert f"  jitsi-meet {STUB_VERSION}" in again.stdout


def test_other_domain_is_refused_before_anything_changes(tmp_path):
    machine = Machine(tmp_path)
    assert machine.run("--domain", DOMAIN).returncode == 0
    before = machine.snapshot()
    result = machine.run("--domain", "video.example.org")
    assert result.returncode == 1
    assert result.calls == []
    assert machine.snapshot() == before
    (message,) = result.stderr.splitlines()
    assert message.startswith("install_jitsi: error:")
    assert DOMAIN in message and "video.example.org" in message and "new VM" in message


def test_installed_package_without_site_config_is_refused(tmp_path):
    machine = Machine(tmp_path)
    assert machine.run("--domain", DOMAIN).returncode == 0
    (machine.root / f"etc/jitsi/meet/{DOMAIN}-config.js").unlink()
    result = machine.run("--domain", DOMAIN)
    assert result.returncode == 1
    assert result.calls == []
    assert "domain is unknown" in result.stderr


def test_failed_apt_install_fails_with_the_log_tail(tmp_path):
    machine = Machine(tmp_path)
    result = machine.run("--domain", DOMAIN, APT_STUB_FAIL="1")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("install_jitsi: error: apt-get install jitsi-meet failed (exit 100)")
    assert "held broken packages" in result.stderr
    assert "Jitsi Meet is installed" not in result.stdout


def test_unreachable_key_server_fails_clearly_before_apt(tmp_path):
    machine = Machine(tmp_path)
    result = machine.run("--domain", DOMAIN, CURL_STUB_FAIL="1")
    assert result.returncode == 1
    assert "cannot download the Jitsi key" in result.stderr
    assert not [c for c in result.calls if c.command == "apt-get"]
    assert not (machine.root / "etc/apt/sources.list.d/jitsi-stable.list").exists()


def test_rerun_with_letsencrypt_certificate_in_place_changes_nothing(tmp_path):
    machine = Machine(tmp_path)
    issued = make_ca_signed_cert(tmp_path / "ca", DOMAIN)
    stub = {"LE_STUB_MODE": "issue", "LE_STUB_CERT": str(issued)}
    assert machine.run("--domain", DOMAIN, "--letsencrypt-email", EMAIL, **stub).returncode == 0
    before = machine.snapshot()
    again = machine.run("--domain", DOMAIN, "--letsencrypt-email", EMAIL, **stub)
    assert again.returncode == 0, again.stderr
    assert again.calls == []
    assert machine.snapshot() == before
    assert f"Keep CA-issued certificate for {DOMAIN}" in again.stdout


@pytest.mark.parametrize("first_email", [EMAIL, None], ids=["after-failed-request", "email-added"])
def test_rerun_requests_a_missing_letsencrypt_certificate_without_reinstalling(
    tmp_path, first_email
):
    machine = Machine(tmp_path)
    first_args = ["--letsencrypt-email", first_email] if first_email else []
    assert machine.run("--domain", DOMAIN, *first_args, LE_STUB_MODE="fail").returncode == 0
    issued = make_ca_signed_cert(tmp_path / "ca", DOMAIN)
    stub = {"LE_STUB_MODE": "issue", "LE_STUB_CERT": str(issued)}
    again = machine.run("--domain", DOMAIN, "--letsencrypt-email", EMAIL, **stub)
    assert again.returncode == 0, again.stderr
    assert [call.command for call in again.calls] == ["install-letsencrypt-cert.sh"]
    assert machine.read(f"etc/jitsi/meet/{DOMAIN}.crt") == issued.read_text()
    assert f"Keep Jitsi Meet for {DOMAIN} (already installed)" in again.stdout


def test_a_mirror_and_the_systems_prosody_replace_the_default_repositories(tmp_path):
    machine = Machine(tmp_path, "bookworm")
    result = machine.run(
        "--domain", DOMAIN,
        "--jitsi-apt-source", "http://10.0.0.1:8080/jitsi stable/",
        "--jitsi-apt-key", "http://10.0.0.1:8080/jitsi-key.gpg.key",
        "--prosody-apt-source", "system",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert machine.read("etc/apt/sources.list.d/jitsi-stable.list") == (
        "deb [signed-by=/usr/share/keyrings/jitsi-keyring.gpg] http://10.0.0.1:8080/jitsi stable/\n"
    )
    fetched = [c.args for c in result.calls if c.command == "curl"]
    assert len(fetched) == 1 and fetched[0].endswith("http://10.0.0.1:8080/jitsi-key.gpg.key")
    assert not (machine.root / "etc/apt/sources.list.d/prosody.list").exists()
    assert "Use the system's Prosody" in result.stdout


def test_a_prosody_mirror_is_added_with_its_own_key(tmp_path):
    machine = Machine(tmp_path, "trixie")
    result = machine.run(
        "--domain", DOMAIN,
        "--prosody-apt-source", "https://mirror.example.org/prosody trixie main",
        "--prosody-apt-key", "https://mirror.example.org/prosody.key",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert machine.read("etc/apt/sources.list.d/prosody.list") == (
        "deb [signed-by=/usr/share/keyrings/prosody-keyring.gpg] "
        "https://mirror.example.org/prosody trixie main\n"
    )
    assert any(c.args.endswith("https://mirror.example.org/prosody.key") for c in result.calls)
