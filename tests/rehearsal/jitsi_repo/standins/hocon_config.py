"""Reading a Jitsi HOCON file the way Jitsi's packaging does: with the `hocon` tool (ruby-hocon).

The stand-ins read their settings once at start, like the Java services; a file the tool cannot
parse is a configuration error, and the service exits with EX_CONFIG so systemd keeps it failed.
"""

import json
import subprocess

EX_CONFIG = 78  # sysexits.h: configuration error
HOCON_TIMEOUT = 60  # seconds; ruby starts in well under one


class ConfigError(Exception):
    """The configuration cannot be read or lacks what the service needs."""


def hocon_get(path: str, key: str) -> object:
    """The value at `key` in the HOCON file `path`, as JSON types."""
    try:
        done = subprocess.run(
            ["hocon", "-j", "-f", path, "get", key],
            capture_output=True,
            text=True,
            timeout=HOCON_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigError(f"cannot run the hocon tool on {path}: {error}") from error
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no message"]
        raise ConfigError(f"{path}: cannot read {key}: {lines[0]}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: the hocon tool printed no JSON for {key}") from error
