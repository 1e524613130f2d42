"""The stack's settings, read once and validated into a frozen object before any resource.

Reading is synchronous (plain values, no Outputs) so that every mistake stops the program
before anything is registered, with a message that names the key and shows a good value.
"""

import dataclasses
import difflib
import json
import types
from collections.abc import Mapping

import pulumi

import config_rules as rules
from config_ingress import IngressRule, extra_ingress
from config_rules import ConfigError
from config_videobridges import BridgePool, videobridges

MODERATORS = "jitsi:moderators"

# Public image families, so a new VM always starts from the current patched image.
IMAGES = {
    "debian-12": "debian-cloud/debian-12",
    "debian-13": "debian-cloud/debian-13",
    "ubuntu-2204": "ubuntu-os-cloud/ubuntu-2204-lts",
    "ubuntu-2404": "ubuntu-os-cloud/ubuntu-2404-lts-amd64",
}

# The same defaults Pulumi.yaml declares (a test keeps the two equal); they apply here too
# because tests and `pulumi` runs without the project file see no declared defaults.
# Pulumi treats a declared key without a default as required, so optional text settings
# default to "", which means unset.
DEFAULTS: dict[str, object] = {
    "gcp:region": "us-central1",
    "jitsi:domain": "",
    "jitsi:guestDomain": "",
    MODERATORS: {},
    "jitsi:letsEncryptEmail": "",
    "jitsi:dnsZone": "",
    "jitsi:sshSourceRanges": ["0.0.0.0/0"],
    "jitsi:machineType": "e2-standard-2",
    "jitsi:image": "debian-12",
    "jitsi:diskSizeGb": 20,
    "jitsi:spot": False,
    "jitsi:network": "default",
    "jitsi:labels": {},
    "jitsi:sshUser": "jitsi-deploy",
    "jitsi:generatedModerators": [],
    "jitsi:jitsiAptSource": "",
    "jitsi:jitsiAptKey": "",
    "jitsi:prosodyAptSource": "",
    "jitsi:prosodyAptKey": "",
    "jitsi:version": "stable",
    "jitsi:extraIngress": [],
    "jitsi:outsideProof": True,
    "jitsi:videobridges": {},
}

# Keys whose values are JSON (objects and lists) rather than plain text, each with the command
# that sets it the right way: `[0]` for a list, `.NAME` for an object (`--secret` for passwords).
_STRUCTURED = {
    MODERATORS: (
        f"pulumi config set --secret --path '{MODERATORS}.alice' (it asks for the password)"
    ),
    "jitsi:generatedModerators": "pulumi config set --path 'jitsi:generatedModerators[0]' bob",
    "jitsi:sshSourceRanges": "pulumi config set --path 'jitsi:sshSourceRanges[0]' 203.0.113.7/32",
    "jitsi:labels": "pulumi config set --path 'jitsi:labels.team' video",
    "jitsi:extraIngress": "pulumi config set --path 'jitsi:extraIngress[0].name' monitoring",
    "jitsi:videobridges": "pulumi config set --path 'jitsi:videobridges.max' 4",
}
KEYS = (
    "gcp:project",
    "gcp:region",
    "gcp:zone",
    "jitsi:domain",
    "jitsi:guestDomain",
    MODERATORS,
    "jitsi:generatedModerators",
    "jitsi:letsEncryptEmail",
    "jitsi:dnsZone",
    "jitsi:sshSourceRanges",
    "jitsi:machineType",
    "jitsi:image",
    "jitsi:diskSizeGb",
    "jitsi:spot",
    "jitsi:network",
    "jitsi:labels",
    "jitsi:sshUser",
    "jitsi:jitsiAptSource",
    "jitsi:jitsiAptKey",
    "jitsi:prosodyAptSource",
    "jitsi:prosodyAptKey",
    "jitsi:version",
    "jitsi:extraIngress",
    "jitsi:outsideProof",
    "jitsi:videobridges",
)


@dataclasses.dataclass(frozen=True)
class AptSources:
    """A mirror or pinned snapshot of Jitsi's repository, and which Prosody to use."""

    # "URL SUITE [COMPONENT...]" and its key's URL, or both None for Jitsi's own repository.
    jitsi_source: str | None = None
    jitsi_key: str | None = None
    # None: Prosody's own repository where the system lacks Prosody 13; "system": the
    # system's Prosody; else "URL SUITE COMPONENT..." with prosody_key.
    prosody_source: str | None = None
    prosody_key: str | None = None

    def installer_options(self) -> list[str]:
        """The install_jitsi.sh options that say this (none for the defaults)."""
        options = []
        if self.jitsi_source:
            options += ["--jitsi-apt-source", self.jitsi_source, "--jitsi-apt-key", self.jitsi_key]
        if self.prosody_source:
            options += ["--prosody-apt-source", self.prosody_source]
        if self.prosody_key:
            options += ["--prosody-apt-key", self.prosody_key]
        return options


@dataclasses.dataclass(frozen=True)
class StackConfig:
    project: str
    region: str
    zone: str
    # None: derived from the reserved address (`<ip-with-dashes>.sslip.io`).
    domain: str | None
    # None: `guest.<domain>`.
    guest_domain: str | None
    # name -> password; kept out of repr so a printed config never shows a password.
    moderators: Mapping[str, str] = dataclasses.field(repr=False)
    generated_moderators: tuple[str, ...]
    lets_encrypt_email: str | None
    dns_zone: str | None
    ssh_source_ranges: tuple[str, ...]
    machine_type: str
    image: str
    disk_size_gb: int
    spot: bool
    network: str
    labels: Mapping[str, str]
    ssh_user: str
    # Where apt gets Jitsi and Prosody; None: the installer's defaults (the projects' own).
    apt: AptSources = dataclasses.field(default_factory=AptSources)
    # The jitsi-meet release to have installed, or "stable": the newest at the first install.
    jitsi_version: str = "stable"
    # Openings beyond the program's own (web, media, TURN, SSH); everything else is denied.
    extra_ingress: tuple[IngressRule, ...] = ()
    # Prove the deployment from the deployer's machine too, at the end of `up`.
    outside_proof: bool = True
    # A pool of videobridges beside this VM; None: this VM's own bridge alone.
    videobridges: BridgePool | None = None

    @property
    def image_family(self) -> str:
        return IMAGES[self.image]

    @property
    def moderator_names(self) -> tuple[str, ...]:
        return tuple(sorted([*self.moderators, *self.generated_moderators]))


def load() -> StackConfig:
    """Reads the stack config of the running program and validates it."""
    for warning in unknown_keys(_stack_keys()):
        pulumi.log.warn(warning)
    raw = {key: _read(key) for key in KEYS}
    return validate(raw, moderators_secret=pulumi.runtime.is_config_secret(MODERATORS))


def _stack_keys() -> set[str]:
    # The language host hands the program the whole stack config (PULUMI_CONFIG) and puts it
    # in the SDK's store; tests fill the store with set_all_config.
    return set(pulumi.runtime.get_config_env()) | set(pulumi.runtime.config.CONFIG.get())


def unknown_keys(stack_keys: set[str]) -> list[str]:
    """One warning per `jitsi:` key the program does not read (a typo is otherwise silently
    ignored), naming the closest key it does read. Values are never shown: some are secret."""
    # Names compared without the shared "jitsi:", which would make any two keys look alike.
    known = {key[6:].lower(): key for key in KEYS if key.startswith("jitsi:")}
    warnings = []
    for key in sorted(k for k in stack_keys if k.startswith("jitsi:") and k not in KEYS):
        close = difflib.get_close_matches(key[6:].lower(), known, n=1, cutoff=0.6)
        hint = f"did you mean {known[close[0]]}? " if close else ""
        warnings.append(
            f"{key} is not a setting of this program and is ignored; {hint}"
            f"remove it: pulumi config rm {key}"
        )
    return warnings


def _read(key: str) -> object:
    namespace, name = key.split(":")
    text = pulumi.Config(namespace).get(name)
    if text is None or key not in _STRUCTURED:
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise ConfigError(
            f"{key} holds plain text but must be structured config: "
            f"pulumi config rm {key} && {_STRUCTURED[key]}"
        ) from None


def validate(raw: Mapping[str, object], moderators_secret: bool) -> StackConfig:
    """Turns raw values (None = unset) into a StackConfig, or raises the first ConfigError."""
    value = {key: DEFAULTS.get(key) if raw.get(key) is None else raw[key] for key in KEYS}
    value = {key: None if v == "" else v for key, v in value.items()}
    region = rules.region(value["gcp:region"])
    region_set = raw.get("gcp:region") not in (None, "")
    zone = rules.zone(value["gcp:zone"] or f"{region}-b", region, region_set)
    domain = value["jitsi:domain"]
    if domain is not None:
        domain = rules.fqdn("jitsi:domain", domain, "meet.example.org")
    guest = value["jitsi:guestDomain"]
    if guest is not None:
        guest = rules.fqdn("jitsi:guestDomain", guest, "guest.meet.example.org")
        if guest == domain:
            raise ConfigError(
                f"jitsi:guestDomain must differ from jitsi:domain ({domain!r}); "
                f"leave it unset for 'guest.{domain}'"
            )
    moderators = _moderators(value[MODERATORS], moderators_secret)
    generated = _generated(value["jitsi:generatedModerators"], moderators)
    dns_zone = value["jitsi:dnsZone"]
    if dns_zone is not None:
        dns_zone = rules.gce_name("jitsi:dnsZone", dns_zone, "example-org")
        if domain is None:
            raise ConfigError(
                "jitsi:dnsZone needs jitsi:domain (a name inside that zone): "
                "pulumi config set jitsi:domain meet.example.org"
            )
    email = value["jitsi:letsEncryptEmail"]
    image = value["jitsi:image"]
    if image not in IMAGES:
        raise ConfigError(
            f"jitsi:image must be one of {', '.join(IMAGES)} (got {image!r}): "
            "pulumi config set jitsi:image debian-12"
        )
    return StackConfig(
        project=rules.project_id(value["gcp:project"]),
        region=region,
        zone=zone,
        domain=domain,
        guest_domain=guest,
        moderators=types.MappingProxyType(moderators),
        generated_moderators=generated,
        lets_encrypt_email=None if email is None else rules.email("jitsi:letsEncryptEmail", email),
        dns_zone=dns_zone,
        ssh_source_ranges=rules.ipv4_ranges(
            "jitsi:sshSourceRanges", value["jitsi:sshSourceRanges"]
        ),
        machine_type=rules.machine_type("jitsi:machineType", value["jitsi:machineType"]),
        image=image,
        disk_size_gb=rules.integer("jitsi:diskSizeGb", value["jitsi:diskSizeGb"], 10, 65536, 20),
        spot=rules.boolean("jitsi:spot", value["jitsi:spot"]),
        network=rules.gce_name("jitsi:network", value["jitsi:network"], "default"),
        labels=types.MappingProxyType(rules.labels("jitsi:labels", value["jitsi:labels"])),
        ssh_user=rules.unix_user("jitsi:sshUser", value["jitsi:sshUser"]),
        apt=_apt_sources(value),
        jitsi_version=rules.jitsi_version("jitsi:version", value["jitsi:version"]),
        extra_ingress=extra_ingress(value["jitsi:extraIngress"]),
        outside_proof=rules.boolean("jitsi:outsideProof", value["jitsi:outsideProof"]),
        videobridges=videobridges(value["jitsi:videobridges"]),
    )


def _apt_sources(value: Mapping[str, object]) -> AptSources:
    jitsi, jitsi_key = value["jitsi:jitsiAptSource"], value["jitsi:jitsiAptKey"]
    if (jitsi is None) != (jitsi_key is None):
        raise ConfigError(
            "jitsi:jitsiAptSource and jitsi:jitsiAptKey go together (a mirror and its signing "
            "key): pulumi config set jitsi:jitsiAptSource 'https://mirror.example.org/jitsi "
            "stable/' && pulumi config set jitsi:jitsiAptKey "
            "https://mirror.example.org/jitsi/jitsi-key.gpg.key"
        )
    if jitsi is not None:
        jitsi = rules.apt_source(
            "jitsi:jitsiAptSource", jitsi, "https://mirror.example.org/jitsi stable/"
        )
        jitsi_key = rules.key_url("jitsi:jitsiAptKey", jitsi_key, "jitsi:jitsiAptSource")
    prosody, prosody_key = value["jitsi:prosodyAptSource"], value["jitsi:prosodyAptKey"]
    if prosody not in (None, "system"):
        prosody = rules.apt_source(
            "jitsi:prosodyAptSource", prosody, "http://packages.prosody.im/debian bookworm main"
        )
        prosody_key = rules.key_url("jitsi:prosodyAptKey", prosody_key, "jitsi:prosodyAptSource")
    elif prosody_key is not None:
        raise ConfigError(
            "jitsi:prosodyAptKey is set but jitsi:prosodyAptSource is not a repository: set "
            "both, or remove the key: pulumi config rm jitsi:prosodyAptKey"
        )
    return AptSources(jitsi, jitsi_key, prosody, prosody_key)


def _moderators(value: object, is_secret: bool) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(
            f"{MODERATORS} must be an object of user names to passwords: "
            f"pulumi config set --secret --path '{MODERATORS}.alice' (it asks for the password)"
        )
    names = [rules.moderator_name(MODERATORS, name) for name in value]
    if value and not is_secret:
        again = f" (then the same for {', '.join(names[1:])})" if len(names) > 1 else ""
        raise ConfigError(
            f"{MODERATORS} is stored in plain text; store the passwords encrypted: "
            f"pulumi config rm {MODERATORS} && pulumi config set --secret --path "
            f"'{MODERATORS}.{names[0]}' (it asks for the password){again}"
        )
    return {name: rules.password(MODERATORS, name, value[name]) for name in names}


def _generated(value: object, moderators: Mapping[str, str]) -> tuple[str, ...]:
    key = "jitsi:generatedModerators"
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list of names: pulumi config set --path '{key}[0]' bob")
    names = [rules.moderator_name(key, name) for name in value]
    for name in names:
        if names.count(name) > 1 or name in moderators:
            raise ConfigError(
                f"{key}: {name!r} is listed twice (here or in {MODERATORS}); "
                "give each moderator one entry"
            )
    if not names and not moderators:
        raise ConfigError(
            f"no moderator is configured, so nobody could open a room: "
            f"pulumi config set --secret --path '{MODERATORS}.alice' (it asks for the password) "
            f"or pulumi config set --path '{key}[0]' alice"
        )
    return tuple(sorted(names))
