"""`jitsi:videobridges`: an autoscaled pool of videobridges beside the signalling node, validated.

Absent, or with `max: 0`, there is no pool: the deployment is the single VM it always was, and
the plan does not change by a byte. Every field is still checked, so a typo in a pool that is
switched off fails now rather than on the day `max` is raised.
"""

import dataclasses

import config_rules as rules
from config_rules import ConfigError

KEY = "jitsi:videobridges"
EXAMPLE = f"pulumi config set --path '{KEY}.max' 4"
_FIELDS = ("min", "max", "machineType", "spot", "cpuTarget")
# A regional group spreads its VMs over the region's zones; past a few dozen bridges one
# signalling node (Prosody, jicofo) is the limit, not the pool.
MAX_BRIDGES = 50
# Compute Engine's autoscaler holds the group's average CPU at this fraction. jicofo calls a
# bridge overloaded at 0.8 of its stress (CPU / 0.9), so the target stays well below that.
CPU_TARGET = (0.6, 0.1, 0.9)
# A bridge's JVM takes a 3 GB heap by default: 8 GB leaves the system room.
MACHINE_TYPE = "e2-standard-2"


@dataclasses.dataclass(frozen=True)
class BridgePool:
    # Bridges always running (the autoscaler never goes below), at least 1: with none, CPU
    # gives the autoscaler nothing to scale out on.
    min: int
    max: int
    machine_type: str
    # Spot bridges cost far less, but Google may take one back with 30 s notice.
    spot: bool
    # The average CPU utilisation (0.1-0.9) the autoscaler holds.
    cpu_target: float


def videobridges(value: object) -> BridgePool | None:
    """The pool, or None (no pool: the single VM) when `max` is 0 or the key is unset."""
    if not isinstance(value, dict):
        raise ConfigError(f"{KEY} must be an object ({', '.join(_FIELDS)}): {EXAMPLE}")
    unknown = sorted(set(value) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"{KEY}.{unknown[0]} is not a field of the pool ({', '.join(_FIELDS)}): "
            f"pulumi config rm --path '{KEY}.{unknown[0]}'"
        )
    if value and "max" not in value:
        raise ConfigError(f"{KEY}.max is not set, so there is no pool: {EXAMPLE}")
    top = _number("max", value.get("max", 0), 0, MAX_BRIDGES, 4, int)
    low = _number("min", value.get("min", 1), 1, MAX_BRIDGES, 1, int)
    if top and low > top:
        raise ConfigError(
            f"{KEY}.min ({low}) is more than {KEY}.max ({top}): "
            f"pulumi config set --path '{KEY}.min' {top}"
        )
    default, least, most = CPU_TARGET
    pool = BridgePool(
        min=low,
        max=top,
        machine_type=_machine_type(value.get("machineType", MACHINE_TYPE)),
        spot=_boolean(value.get("spot", False)),
        cpu_target=_number(
            "cpuTarget", value.get("cpuTarget", default), least, most, default, float
        ),
    )
    return pool if pool.max else None


def _fix(field: str, example: object) -> str:
    return f"pulumi config set --path '{KEY}.{field}' {example}"


def _number(field: str, value: object, low, high, example, kind: type) -> int | float:
    # `pulumi config set --path` stores a number as a number or as text, depending on the CLI.
    try:
        number = kind(value) if isinstance(value, (int, float, str)) else None
    except ValueError:
        number = None
    if kind is int and isinstance(value, float) and not value.is_integer():
        number = None
    if number is None or isinstance(value, bool) or not low <= number <= high:
        what = "a whole number" if kind is int else "a fraction"
        raise ConfigError(
            f"{KEY}.{field} must be {what} from {low} to {high} (got {value!r}): "
            f"{_fix(field, example)}"
        )
    return number


def _machine_type(value: object) -> str:
    try:
        return rules.machine_type(f"{KEY}.machineType", value)
    except ConfigError:
        raise ConfigError(
            f"{KEY}.machineType must be a Compute Engine machine type such as {MACHINE_TYPE} or "
            f"c3-highcpu-4 (got {value!r}): {_fix('machineType', MACHINE_TYPE)}"
        ) from None


def _boolean(value: object) -> bool:
    try:
        return rules.boolean(f"{KEY}.spot", value)
    except ConfigError:
        raise ConfigError(
            f"{KEY}.spot must be true or false (got {value!r}): {_fix('spot', 'true')}"
        ) from None
