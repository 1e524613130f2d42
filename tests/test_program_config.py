"""Stack config: declared defaults, and every bad value stopped before any resource exists."""

import json
import shlex

import pytest
import yaml
from program_mocks import fake_checkout, run_program, stack_config
from support import ROOT

import config

PASSWORD = "alice-secret-password-1"


@pytest.fixture
def run(tmp_path, monkeypatch):
    fake_checkout(tmp_path, monkeypatch)

    def go(secret_keys=None, **overrides):
        cfg, keys = stack_config(**overrides)
        keys = keys if secret_keys is None else secret_keys
        return run_program(cfg, keys, monkeypatch, allow_error=True)

    return go


def test_pulumi_yaml_declares_every_key_with_the_programs_default():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    jitsi_keys = {k for k in config.KEYS if k.startswith("jitsi:")}
    assert set(declared) == jitsi_keys
    for key, spec in declared.items():
        assert spec.get("description"), key
        # A declared key without a default is required by Pulumi: every one needs it.
        assert "default" in spec, key
        assert spec["default"] == config.DEFAULTS[key], key


def test_only_project_and_one_moderator_gives_sound_defaults():
    cfg, keys = stack_config()
    raw = {k: (json.loads(v) if k in ("jitsi:moderators",) else v) for k, v in cfg.items()}
    settings = config.validate(raw, moderators_secret=True)
    assert settings.domain is None and settings.guest_domain is None
    assert (settings.region, settings.zone) == ("us-central1", "us-central1-b")
    assert settings.image_family == "debian-cloud/debian-12"
    assert settings.machine_type == "e2-standard-2"
    assert settings.ssh_source_ranges == ("0.0.0.0/0",)
    assert settings.moderator_names == ("alice",)
    assert PASSWORD not in repr(settings)


@pytest.mark.parametrize(
    ("image", "family"),
    [
        ("debian-12", "debian-cloud/debian-12"),
        ("debian-13", "debian-cloud/debian-13"),
        ("ubuntu-2204", "ubuntu-os-cloud/ubuntu-2204-lts"),
        ("ubuntu-2404", "ubuntu-os-cloud/ubuntu-2404-lts-amd64"),
    ],
)
def test_each_supported_image_maps_to_its_public_family(run, image, family):
    result = run(jitsi__image=image)
    assert result.error is None
    vm = result.named("host-vm")
    assert vm.inputs["bootDisk"]["initializeParams"]["image"] == family


def _moderators(**accounts):
    return json.dumps(accounts)


BAD_INPUTS = {
    "uppercase domain": ({"jitsi__domain": "Meet.Example.org"}, "jitsi:domain must be a lowercase"),
    "domain without dot": ({"jitsi__domain": "localhost"}, "jitsi:domain must be a lowercase"),
    "domain with scheme": ({"jitsi__domain": "https://meet.example.org"}, "jitsi:domain"),
    "guest equal to domain": (
        {"jitsi__domain": "meet.example.org", "jitsi__guestDomain": "meet.example.org"},
        "jitsi:guestDomain must differ from jitsi:domain",
    ),
    "guest not a domain": ({"jitsi__guestDomain": "guest_host"}, "jitsi:guestDomain must be"),
    "uppercase moderator": (
        {"jitsi__moderators": _moderators(Alice=PASSWORD)},
        "'Alice' is not a valid moderator name",
    ),
    "moderator with @": (
        {"jitsi__moderators": _moderators(**{"alice@example.org": PASSWORD})},
        "is not a valid moderator name",
    ),
    "empty password": (
        {"jitsi__moderators": _moderators(alice="")},
        "alice: the password is empty",
    ),
    "short password": (
        {"jitsi__moderators": _moderators(alice="short-pw")},
        "shorter than 12 characters",
    ),
    "password with newline": (
        {"jitsi__moderators": _moderators(alice="first-line-ok\nsecond")},
        "newline or another control character",
    ),
    "no moderator": ({"jitsi__moderators": None}, "no moderator is configured"),
    "generated twice": (
        {"jitsi__generatedModerators": '["alice"]'},
        "'alice' is listed twice",
    ),
    "bad e-mail": ({"jitsi__letsEncryptEmail": "admin-at-example"}, "jitsi:letsEncryptEmail must"),
    "cidr with host bits": (
        {"jitsi__sshSourceRanges": '["10.0.0.1/8"]'},
        "'10.0.0.1/8' is not an IPv4 CIDR",
    ),
    "not a cidr": ({"jitsi__sshSourceRanges": '["my-office"]'}, "is not an IPv4 CIDR"),
    "ipv6 cidr": ({"jitsi__sshSourceRanges": '["2001:db8::/32"]'}, "is not an IPv4 CIDR"),
    "no ssh range": ({"jitsi__sshSourceRanges": "[]"}, "jitsi:sshSourceRanges must be a non-empty"),
    "unknown image": ({"jitsi__image": "centos-7"}, "jitsi:image must be one of debian-12"),
    "tiny disk": ({"jitsi__diskSizeGb": "5"}, "jitsi:diskSizeGb must be a whole number"),
    "bad machine type": ({"jitsi__machineType": "big machine"}, "jitsi:machineType must be"),
    "spot not boolean": ({"jitsi__spot": "maybe"}, "jitsi:spot must be true or false"),
    "bad label": ({"jitsi__labels": '{"Team": "x"}'}, "jitsi:labels.Team"),
    "root ssh user": ({"jitsi__sshUser": "root"}, "jitsi:sshUser must be"),
    "bad network": ({"jitsi__network": "Default_Net"}, "jitsi:network must be"),
    "dns zone without domain": (
        {"jitsi__dnsZone": "example-org"},
        "jitsi:dnsZone needs jitsi:domain",
    ),
    "no project": ({"gcp__project": None}, "gcp:project is not set"),
    "mirror without key": (
        {"jitsi__jitsiAptSource": "https://mirror.example.org/jitsi stable/"},
        "jitsi:jitsiAptSource and jitsi:jitsiAptKey go together",
    ),
    "mirror without suite": (
        {
            "jitsi__jitsiAptSource": "https://mirror.example.org/jitsi",
            "jitsi__jitsiAptKey": "https://mirror.example.org/key.gpg",
        },
        "jitsi:jitsiAptSource must be 'URL SUITE [COMPONENT...]'",
    ),
    "mirror with options": (
        {
            "jitsi__jitsiAptSource": "[trusted=yes] http://mirror.example.org/jitsi stable/",
            "jitsi__jitsiAptKey": "https://mirror.example.org/key.gpg",
        },
        "jitsi:jitsiAptSource must be 'URL SUITE [COMPONENT...]'",
    ),
    "key not a url": (
        {
            "jitsi__jitsiAptSource": "https://mirror.example.org/jitsi stable/",
            "jitsi__jitsiAptKey": "/etc/apt/key.gpg",
        },
        "jitsi:jitsiAptKey must be the http(s) URL",
    ),
    "prosody mirror without key": (
        {"jitsi__prosodyAptSource": "http://mirror.example.org/prosody bookworm main"},
        "jitsi:prosodyAptKey must be the http(s) URL",
    ),
    "prosody key without mirror": (
        {"jitsi__prosodyAptSource": "system", "jitsi__prosodyAptKey": "https://x.example/k"},
        "jitsi:prosodyAptKey is set but jitsi:prosodyAptSource is not a repository",
    ),
    "zone outside region": (
        {"gcp__region": "europe-west1", "gcp__zone": "us-central1-a"},
        "gcp:zone must be a zone of region 'europe-west1'",
    ),
}


@pytest.mark.parametrize("overrides,expected", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_fails_with_its_message_before_any_resource(run, overrides, expected):
    result = run(**overrides)
    assert isinstance(result.error, config.ConfigError), result.error
    message = str(result.error)
    assert expected in message
    # One line that names the key and what to do; never a password.
    assert "\n" not in message
    assert PASSWORD not in message and "first-line-ok" not in message
    assert result.resources == []


def test_plaintext_moderators_are_refused_with_the_command_that_encrypts_them(run):
    result = run(
        secret_keys=[],
        jitsi__moderators=_moderators(alice=PASSWORD, bob="bob-secret-password-2"),
    )
    assert isinstance(result.error, config.ConfigError)
    message = str(result.error)
    assert "stored in plain text" in message
    assert "pulumi config set --secret --path 'jitsi:moderators.alice' '<password>'" in message
    assert "bob" in message
    assert PASSWORD not in message and "bob-secret-password-2" not in message
    assert result.resources == []


def test_a_valid_stack_runs_once_the_bad_value_is_fixed(run):
    assert run(jitsi__domain="Meet.Example.org").error is not None
    fixed = run(jitsi__domain="meet.example.org")
    assert fixed.error is None
    assert fixed.exports["url"] == "https://meet.example.org/"
    assert fixed.exports["guestDomain"] == "guest.meet.example.org"


def test_apt_sources_reach_the_installer_and_the_defaults_add_nothing(run):
    install = run().named("setup-install").inputs["create"]
    assert "apt-source" not in install and "apt-key" not in install
    mirror = (
        run(
            jitsi__jitsiAptSource="https://mirror.example.org/jitsi stable/",
            jitsi__jitsiAptKey="https://mirror.example.org/jitsi-key.gpg.key",
            jitsi__prosodyAptSource="system",
        )
        .named("setup-install")
        .inputs["create"]
    )
    assert shlex.split(mirror)[-6:] == [
        "--jitsi-apt-source",
        "https://mirror.example.org/jitsi stable/",
        "--jitsi-apt-key",
        "https://mirror.example.org/jitsi-key.gpg.key",
        "--prosody-apt-source",
        "system",
    ]
