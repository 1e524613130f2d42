"""Checks for single config values: each returns the clean value or raises ConfigError.

Every message names the key, says what is wrong and shows a value that would work, so a
user can fix the stack from the message alone. Passwords are never part of a message.
"""

import ipaddress
import re

import pulumi

# One DNS label: letters, digits and inner hyphens, at most 63 characters (RFC 1035).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_FQDN = re.compile(rf"^(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?$")
# The account names scripts/moderator.py accepts (a lowercase XMPP local part).
MODERATOR_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD_LENGTH = 12
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")
# Names of Compute Engine and Cloud DNS objects (RFC 1035 style, as the APIs require).
_GCE_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PROJECT_ID = re.compile(r"^(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
# A Compute Engine machine type: a family, a shape and, for some, a local-SSD or bare-metal suffix.
# Checked here so that a typo fails before anything exists, not at VM creation after the address
# and the firewall rules. A family added after late 2026 belongs in this list.
_MACHINE_FAMILIES = (
    "a2|a3|a4|a4x|c2|c2d|c3|c3d|c4|c4a|c4d|e2|f1|g1|g2|g4|h3|h4d|m1|m2|m3|m4|n1|n2|n2d|n4|n4a|"
    "n4d|t2a|t2d|x4|z3"
)
_MACHINE_SHAPE = (
    r"(?:standard|highmem|highcpu|ultramem|megamem|hypermem)-\d+"
    r"|(?:highgpu|megagpu|ultragpu|edgegpu)-\d+g|micro|small|medium|\d+-\d+t"
    r"|custom-(?:(?:micro|small|medium)-\d+|\d+-\d+)(?:-ext)?"
)
_MACHINE_TYPE = re.compile(
    rf"^(?:{_MACHINE_FAMILIES})-(?:{_MACHINE_SHAPE})"
    r"(?:-lssd|-nolssd|-standardlssd|-highlssd|-metal)?$"
)
_ZONE = re.compile(r"^([a-z]+-[a-z]+[0-9]+)-[a-z]$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_UNIX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class ConfigError(pulumi.RunError):
    """A bad stack setting. RunError makes Pulumi print the message without a traceback."""


def fqdn(key: str, value: object, example: str) -> str:
    if not isinstance(value, str) or len(value) > 253 or not _FQDN.match(value):
        raise ConfigError(
            f"{key} must be a lowercase fully qualified domain name such as {example!r} "
            f"(got {value!r}): pulumi config set {key} {example}"
        )
    return value


def moderator_name(key: str, name: object) -> str:
    if not isinstance(name, str) or not MODERATOR_NAME.match(name):
        raise ConfigError(
            f"{key}: {name!r} is not a valid moderator name: use 1-64 characters of a-z, 0-9, "
            "'.', '_' or '-', starting with a letter or digit, for example 'alice'"
        )
    return name


def password(key: str, name: str, value: object) -> str:
    """Refuses weak or unusable passwords; the message names the user, never the password."""
    fix = (
        f"pulumi config set --secret --path '{key}.{name}' "
        "(it asks for a password of 12+ characters)"
    )
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}.{name}: the password is empty or not text: {fix}")
    if len(value) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"{key}.{name}: the password is shorter than {MIN_PASSWORD_LENGTH} characters: {fix}"
        )
    # The password travels as one line on stdin: a newline would cut it short.
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigError(
            f"{key}.{name}: the password contains a newline or another control character: {fix}"
        )
    return value


def email(key: str, value: object) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value):
        raise ConfigError(
            f"{key} must be an e-mail address such as 'admin@example.org' (got {value!r}): "
            f"pulumi config set {key} admin@example.org"
        )
    return value


def gce_name(key: str, value: object, example: str) -> str:
    if not isinstance(value, str) or not _GCE_NAME.match(value):
        raise ConfigError(
            f"{key} must be a Google Cloud resource name (lowercase letters, digits and "
            f"hyphens, starting with a letter) such as {example!r} (got {value!r})"
        )
    return value


def project_id(value: object) -> str:
    if value is None:
        raise ConfigError("gcp:project is not set: pulumi config set gcp:project my-project-id")
    if not isinstance(value, str) or not _PROJECT_ID.match(value):
        raise ConfigError(
            f"gcp:project must be a Google Cloud project ID such as 'my-project-id' "
            f"(got {value!r}): pulumi config set gcp:project my-project-id"
        )
    return value


def region(value: object) -> str:
    if not isinstance(value, str) or not _REGION.match(value):
        raise ConfigError(
            f"gcp:region must be a Compute Engine region such as 'europe-west1' (got {value!r})"
        )
    return value


def zone(value: object, in_region: str, region_set: bool) -> str:
    """`region_set`: gcp:region was given; if not, a zone elsewhere means the region is missing."""
    shape = _ZONE.match(value) if isinstance(value, str) else None
    if shape is None:
        raise ConfigError(
            f"gcp:zone must be a Compute Engine zone such as '{in_region}-b' (got {value!r}): "
            f"pulumi config set gcp:zone {in_region}-b"
        )
    if shape.group(1) == in_region:
        return value
    if not region_set:
        raise ConfigError(
            f"gcp:zone {value!r} is outside gcp:region, which is unset and so {in_region!r}: "
            f"set the zone's region: pulumi config set gcp:region {shape.group(1)}"
        )
    raise ConfigError(
        f"gcp:zone must be a zone of region {in_region!r} (got {value!r}): set the zone's region "
        f"(pulumi config set gcp:region {shape.group(1)}) or a zone of {in_region} "
        f"(pulumi config set gcp:zone {in_region}-b)"
    )


def machine_type(key: str, value: object) -> str:
    if not isinstance(value, str) or not _MACHINE_TYPE.match(value):
        raise ConfigError(
            f"{key} must be a Compute Engine machine type: a family such as e2, n2 or c3, then a "
            "shape such as -standard-4, -highcpu-8, -micro or -custom-4-8192 (got "
            f"{value!r}): pulumi config set {key} e2-standard-2"
        )
    return value


def ipv4_ranges(key: str, value: object) -> tuple[str, ...]:
    example = f"pulumi config set --path '{key}[0]' 203.0.113.0/24"
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key} must be a non-empty list of IPv4 CIDRs: {example}")
    ranges = []
    for item in value:
        try:
            network = ipaddress.ip_network(item, strict=True) if isinstance(item, str) else None
        except ValueError:
            network = None
        # The VM has an IPv4 address only, so an IPv6 range could never reach it.
        if not isinstance(network, ipaddress.IPv4Network):
            raise ConfigError(
                f"{key}: {item!r} is not an IPv4 CIDR such as '203.0.113.0/24' (host bits "
                f"must be zero; a single address is '203.0.113.7/32'): {example}"
            )
        ranges.append(str(network))
    return tuple(ranges)


def integer(key: str, value: object, low: int, high: int, example: int) -> int:
    try:
        number = int(value) if isinstance(value, (int, str)) and value != "" else None
    except ValueError:
        number = None
    if number is None or isinstance(value, bool) or not low <= number <= high:
        raise ConfigError(
            f"{key} must be a whole number from {low} to {high} (got {value!r}): "
            f"pulumi config set {key} {example}"
        )
    return number


def boolean(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ConfigError(f"{key} must be true or false (got {value!r}): pulumi config set {key} true")


def labels(key: str, value: object) -> dict[str, str]:
    example = f"pulumi config set --path '{key}.team' video"
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be an object of label names to values: {example}")
    for name, text in value.items():
        if not _LABEL_KEY.match(name) or not isinstance(text, str) or not _LABEL_VALUE.match(text):
            raise ConfigError(
                f"{key}.{name}: labels need a lowercase name starting with a letter and a value "
                f"of lowercase letters, digits, '_' or '-' (at most 63 each): {example}"
            )
    return dict(value)


def unix_user(key: str, value: object) -> str:
    if not isinstance(value, str) or not _UNIX_USER.match(value) or value == "root":
        raise ConfigError(
            f"{key} must be a lowercase Linux user name other than root, such as "
            f"'jitsi-deploy' (got {value!r})"
        )
    return value


# What follows `deb [signed-by=...]` in a sources line: a URL, a suite, maybe components.
_APT_SOURCE = re.compile(r"^https?://[A-Za-z0-9.:/_~%+-]+(?: [A-Za-z0-9._/~+-]+)+$")
_KEY_URL = re.compile(r"^https?://[A-Za-z0-9.:/_~%+-]+$")


def apt_source(key: str, value: str, example: str) -> str:
    if not _APT_SOURCE.match(value):
        raise ConfigError(
            f"{key} must be 'URL SUITE [COMPONENT...]' as in an apt sources line (got "
            f"{value!r}): pulumi config set {key} '{example}'"
        )
    return value


def key_url(key: str, value: object, source_key: str) -> str:
    example = "https://mirror.example.org/jitsi/jitsi-key.gpg.key"
    if not isinstance(value, str) or not _KEY_URL.match(value):
        raise ConfigError(
            f"{key} must be the http(s) URL of the signing key of {source_key} (got {value!r}): "
            f"pulumi config set {key} {example}"
        )
    return value


# A jitsi-meet package version as apt shows it ([epoch:]upstream[-revision]); the installer
# (scripts/install_jitsi/version.sh) accepts the same.
_JITSI_VERSION = re.compile(r"(?:[0-9]+:)?[0-9](?:[A-Za-z0-9.+~-]*[A-Za-z0-9.+~])?")


def jitsi_version(key: str, value: object) -> str:
    if value == "stable" or (isinstance(value, str) and _JITSI_VERSION.fullmatch(value)):
        return value
    raise ConfigError(
        f"{key} must be a jitsi-meet package version such as '2.0.10590-1' (on the VM: "
        f"apt-cache madison jitsi-meet), or 'stable' (got {value!r}): "
        f"pulumi config set {key} 2.0.10590-1"
    )
