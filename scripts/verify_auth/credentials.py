"""The moderators' credentials, from stdin only: never argv, never the environment.

stdin holds one JSON object, {"user": "password", ...}; empty stdin means no moderators. Messages
name the bad entry, never a password.
"""

import json
import re
import sys

from .args import UsageError

MAX_STDIN_BYTES = 1_000_000
# RFC 7622 section 3.3.1: characters a localpart may not contain.
_BAD_LOCALPART = re.compile(r"[\"&'/:<>@\s]")


def moderators(text: str, domain: str) -> dict[str, str]:
    """{"user": "password"} from stdin text; "" or only whitespace means no moderators."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        # The decoder's message gives a position, never the document.
        raise UsageError(f"stdin is not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise UsageError('stdin must be a JSON object: {"user": "password"}')
    accounts = {}
    for name, password in data.items():
        user, _, host = name.partition("@")
        if not user or _BAD_LOCALPART.search(user) or (host and host.lower() != domain):
            raise UsageError(f'moderator name {name!r} is not a user of {domain} (e.g. "alice")')
        if not isinstance(password, str) or not password:
            raise UsageError(f"moderator {name!r}: the password must be a non-empty JSON string")
        accounts[user] = password
    return accounts


def read_stdin() -> str:
    # A terminal would wait for typing (and echo the password): treat it as no moderators.
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise UsageError("stdin is larger than 1 MB; it should hold a small JSON object")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("stdin is not UTF-8 text") from None
