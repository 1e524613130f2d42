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
    (disk,) = result.of_type("gcp:compute/disk:Disk")
    assert disk.inputs["image"] == family
    # The disk is named after its family: another jitsi:image is another disk.
    assert disk.name.endswith(f"-disk-{family.split('/')[1]}")
    assert result.named("host-vm").inputs["bootDisk"]["source"].endswith(f"/disks/{disk.name}-disk")


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
    "jitsi version not a version": (
        {"jitsi__version": "latest"},
        "jitsi:version must be a jitsi-meet package version such as '2.0.10590-1'",
    ),
    "jitsi version with a shell word": (
        {"jitsi__version": "2.0.10590-1 --force"},
        "jitsi:version must be a jitsi-meet package version",
    ),
    "jitsi version with a newline": (
        {"jitsi__version": "2.0.10590-1\n"},
        "jitsi:version must be a jitsi-meet package version",
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
    assert (
        "pulumi config set --secret --path 'jitsi:moderators.alice' (it asks for the password)"
        in message
    )
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


@pytest.mark.parametrize("version", ["2.0.10590-1", "2.0.9955-1", "1:2.0.10590-1"])
def test_a_jitsi_version_reaches_the_installer_and_stable_adds_nothing(run, version):
    default = shlex.split(run().named("setup-install").inputs["create"])
    assert "--jitsi-version" not in default
    assert run(jitsi__version="stable").named("setup-install").inputs["create"] == shlex.join(
        default
    )
    pinned = shlex.split(run(jitsi__version=version).named("setup-install").inputs["create"])
    assert pinned[pinned.index("--jitsi-version") + 1] == version
    assert [w for w in pinned if w != "--jitsi-version" and w != version] == default


def test_every_declared_key_has_a_type_that_fits_its_default():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    python_types = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}
    for key, spec in declared.items():
        assert spec.get("type") in python_types, key
        assert isinstance(spec["default"], python_types[spec["type"]]), key
        # The CLI checks `secret` after applying the default: a plain default would refuse
        # every stack that leaves the key unset.
        assert not spec.get("secret"), key
    assert declared["jitsi:moderators"]["type"] == "object"


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("jitsi:moderator", "jitsi:moderators"),
        ("jitsi:machinetype", "jitsi:machineType"),
        ("jitsi:sshSourceRange", "jitsi:sshSourceRanges"),
        ("jitsi:letsencryptEmail", "jitsi:letsEncryptEmail"),
    ],
)
def test_an_unknown_key_is_warned_about_with_the_closest_known_one(run, typo, meant):
    result = run(**{typo.replace(":", "__"): "secret-looking-value"})
    assert result.error is None
    (warning,) = [w for w in result.warnings if "not a setting" in w]
    assert warning == (
        f"{typo} is not a setting of this program and is ignored; did you mean {meant}? "
        f"remove it: pulumi config rm {typo}"
    )


def test_unknown_keys_are_warned_about_one_line_each_even_when_the_config_fails(run):
    # The moderators went to a misspelled key, so none is configured: the warning says why.
    result = run(jitsi__moderators=None, jitsi__moderator='{"alice": "x"}', jitsi__zzz="1")
    assert "no moderator is configured" in str(result.error)
    warnings = [w for w in result.warnings if "not a setting" in w]
    assert len(warnings) == 2
    assert "did you mean jitsi:moderators?" in warnings[0]
    assert warnings[1] == (
        "jitsi:zzz is not a setting of this program and is ignored; remove it: "
        "pulumi config rm jitsi:zzz"
    )


def test_known_keys_and_other_namespaces_are_not_warned_about():
    stack = {*config.KEYS, "gcp:impersonateServiceAccount", "pulumi:tags", "jitsi:domain"}
    assert config.unknown_keys(stack) == []


@pytest.mark.parametrize(
    ("key", "fix"),
    [
        (
            "jitsi:moderators",
            "pulumi config set --secret --path 'jitsi:moderators.alice' (it asks for the password)",
        ),
        (
            "jitsi:generatedModerators",
            "pulumi config set --path 'jitsi:generatedModerators[0]' bob",
        ),
        (
            "jitsi:sshSourceRanges",
            "pulumi config set --path 'jitsi:sshSourceRanges[0]' 203.0.113.7/32",
        ),
        ("jitsi:labels", "pulumi config set --path 'jitsi:labels.team' video"),
    ],
)
def test_plain_text_in_a_structured_key_gets_that_keys_own_command(run, key, fix):
    result = run(**{key.replace(":", "__"): "plain words"})
    assert isinstance(result.error, config.ConfigError)
    message = str(result.error)
    assert message.endswith(f"pulumi config rm {key} && {fix}")
    assert ("[0]" in message) == ("[0]" in fix)
    assert result.resources == []


def test_a_zone_alone_asks_for_its_region_not_for_another_zone(run):
    result = run(gcp__zone="europe-west1-b")
    message = str(result.error)
    assert message.endswith("pulumi config set gcp:region europe-west1")
    assert "gcp:zone us-central1-b" not in message


def test_a_zone_outside_a_chosen_region_offers_both_fixes(run):
    message = str(run(gcp__region="europe-west1", gcp__zone="us-central1-a").error)
    assert "pulumi config set gcp:region us-central1" in message
    assert "pulumi config set gcp:zone europe-west1-b" in message


def test_a_zone_alone_in_the_default_region_is_fine(run):
    result = run(gcp__zone="us-central1-f")
    assert result.error is None
    assert result.named("host-vm").inputs["zone"] == "us-central1-f"


@pytest.mark.parametrize(
    "machine_type",
    ["e2-micro", "e2-standard-2", "n2-custom-4-8192", "c3-highcpu-22", "c3-standard-4-lssd"],
)
def test_compute_engine_machine_types_are_accepted(run, machine_type):
    result = run(jitsi__machineType=machine_type)
    assert result.error is None
    assert result.named("host-vm").inputs["machineType"] == machine_type


@pytest.mark.parametrize(
    "machine_type", ["big", "e2", "standard-2", "x9-standard-4", "e2-standart-2", "E2-STANDARD-2"]
)
def test_what_is_not_a_machine_type_is_refused_before_any_resource(run, machine_type):
    result = run(jitsi__machineType=machine_type)
    assert isinstance(result.error, config.ConfigError)
    message = str(result.error)
    assert message.startswith("jitsi:machineType must be a Compute Engine machine type")
    assert message.endswith("pulumi config set jitsi:machineType e2-standard-2")
    assert "\n" not in message and result.resources == []
