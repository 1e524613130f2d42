"""`jitsi:extraIngress`: the openings a user adds to the VM (monitoring, a bastion), validated.

The program denies every other ingress to its VM, so anything more must be declared here, where
`pulumi preview` shows it, never as a hand-made rule that the deny would beat anyway.
"""

import dataclasses
import re

from config_rules import ConfigError, ipv4_ranges

KEY = "jitsi:extraIngress"
EXAMPLE = (
    f"pulumi config set --path '{KEY}[0].name' monitoring && "
    f"pulumi config set --path '{KEY}[0].protocol' tcp && "
    f"pulumi config set --path '{KEY}[0].ports[0]' 9100 && "
    f"pulumi config set --path '{KEY}[0].sourceRanges[0]' 10.0.0.5/32"
)
_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,18}[a-z0-9])?$")
_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
_FIELDS = {"name", "protocol", "ports", "sourceRanges", "description"}


@dataclasses.dataclass(frozen=True)
class IngressRule:
    # Part of the firewall rule's name: `<site>-net-extra-<name>`.
    name: str
    protocol: str
    # "9100" or "9100-9102"; empty for icmp.
    ports: tuple[str, ...]
    source_ranges: tuple[str, ...]
    description: str


def extra_ingress(value: object) -> tuple[IngressRule, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{KEY} must be a list of rules: {EXAMPLE}")
    rules = tuple(_rule(i, item) for i, item in enumerate(value))
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{KEY}: the name {twice[0]!r} is used twice; give each rule its own")
    return rules


def _rule(index: int, item: object) -> IngressRule:
    where = f"{KEY}[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be an object with name, protocol, ports, sourceRanges")
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]} is not a rule field (name, protocol, ports, sourceRanges, "
            "description)"
        )
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{where}.name must be lowercase letters, digits and '-', starting with a letter, at "
            f"most 20 characters (got {name!r}): pulumi config set --path '{where}.name' monitoring"
        )
    protocol = item.get("protocol")
    if protocol not in ("tcp", "udp", "icmp"):
        raise ConfigError(
            f"{where}.protocol must be tcp, udp or icmp (got {protocol!r}): "
            f"pulumi config set --path '{where}.protocol' tcp"
        )
    ports = _ports(where, protocol, item.get("ports", []))
    description = item.get("description", "")
    if not isinstance(description, str) or len(description) > 200:
        raise ConfigError(f"{where}.description must be text of at most 200 characters")
    sources = ipv4_ranges(f"{where}.sourceRanges", item.get("sourceRanges"))
    return IngressRule(name, protocol, ports, sources, description)


def _ports(where: str, protocol: str, ports: object) -> tuple[str, ...]:
    example = f"pulumi config set --path '{where}.ports[0]' 9100"
    if protocol == "icmp":
        if ports:
            raise ConfigError(f"{where}.ports: icmp has no ports; remove them")
        return ()
    if not isinstance(ports, list) or not ports:
        raise ConfigError(f"{where}.ports must list the {protocol} ports to open: {example}")
    out = []
    for port in ports:
        match = _PORTS.match(str(port)) if isinstance(port, (str, int)) else None
        low, high = (int(match[1]), int(match[2] or match[1])) if match else (0, 0)
        if not match or not 1 <= low <= high <= 65535:
            raise ConfigError(
                f"{where}.ports: {port!r} is not a port (1-65535) or a range such as "
                f"'9100-9102': {example}"
            )
        out.append(str(port))
    return tuple(out)
