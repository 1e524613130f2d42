"""The local bridge's password in /etc/jitsi/videobridge/jvb.conf (HOCON).

The bridge package writes `videobridge.apis.xmpp-client.configs.<id>` with the XMPP login; the
value of each PASSWORD of an id that logs in as jvb@auth.DOMAIN is replaced in place, so the
rest of the file (comments, order, other settings) stays byte-identical. The edit uses
secure_domain's HOCON scanner; the result is read back with the `hocon` tool (ruby-hocon, a
dependency of the bridge package), which also sees includes, substitutions and later keys.
"""

import json
import shutil
import subprocess

from secure_domain import files
from secure_domain.hocon import object_fields, tokens, unquote, value_index

from .errors import EXIT_NOT_READY, Refusal

CLIENTS = ("videobridge", "apis", "xmpp-client", "configs")


def _key_path(key: str) -> list[str]:
    """A HOCON key as path elements: dots separate them, except inside a quoted key."""
    return [key[1:-1]] if key.startswith('"') else key.split(".")


def _values(text: str, toks: list, open_k: int, prefix: list[str]):
    """(path, value token index) of every plain value under the object opening at `open_k`."""
    for key_indexes in object_fields(text, toks, open_k).values():
        for k in key_indexes:
            path = prefix + _key_path(toks[k][0])
            v = value_index(toks, k)
            if toks[v][0] == "{":
                yield from _values(text, toks, v, path)
            else:
                yield path, v


def _client_values(text: str) -> tuple[list[tuple[str, str, int]], list]:
    """(client id, setting, value token index) of every setting of every XMPP client, and the
    tokens."""
    try:
        toks = tokens(text)
    except files.Refusal as e:
        # The scanner was written for jicofo.conf and names it.
        raise Refusal(f"jvb.conf: {str(e).removeprefix('jicofo.conf: ')}", EXIT_NOT_READY) from e
    if not toks or toks[0][0] != "{":
        # The root object's braces are optional in HOCON: scan inside virtual ones.
        toks = [("{", 0, -1), *toks, ("}", len(text), -1)]
    found = []
    for path, v in _values(text, toks, 0, []):
        if tuple(path[:4]) == CLIENTS and len(path) == 6:
            found.append((path[4], path[5], v))
    return found, toks


def logs_in(text: str, login: tuple[str, str]) -> bool:
    """True when some client of the file logs in as `login` (user, domain)."""
    found, toks = _client_values(text)
    settings: dict[str, dict[str, str]] = {}
    for client, name, v in found:
        settings.setdefault(client, {})[name] = unquote(toks[v][0])
    return any((s.get("USERNAME"), s.get("DOMAIN")) == login for s in settings.values())


def with_password(text: str, login: tuple[str, str], password: str) -> str:
    """`text` with PASSWORD = `password` in every client that logs in as `login` (user,
    domain); refuses a file whose clients it cannot read or that has none for that login."""
    found, toks = _client_values(text)
    settings: dict[str, dict[str, int]] = {}
    for client, name, v in found:
        settings.setdefault(client, {})[name] = v  # the last one wins, as in HOCON
    ours = [
        s
        for s in settings.values()
        if tuple(unquote(toks[s[k]][0]) if k in s else None for k in ("USERNAME", "DOMAIN"))
        == login
    ]
    if not ours or not all("PASSWORD" in s for s in ours):
        raise Refusal(
            f"jvb.conf has no {'.'.join(CLIENTS)}.<id> with USERNAME, DOMAIN and PASSWORD for "
            f"{login[0]}@{login[1]}: is the local bridge installed for this domain?",
            EXIT_NOT_READY,
        )
    edits = sorted((toks[s["PASSWORD"]][1], len(toks[s["PASSWORD"]][0])) for s in ours)
    # JSON's quoting is HOCON's; the password itself is letters, digits and punctuation.
    for start, length in reversed(edits):
        text = text[:start] + json.dumps(password) + text[start + length :]
    return text


def check_with_hocon_tool(text: str, login: tuple[str, str], password: str) -> None:
    """What the bridge will read: every client for `login` has `password`. Refuses otherwise;
    the message never shows a value."""
    if not shutil.which("hocon"):
        return
    result = subprocess.run(
        ["hocon", "-j", "get", ".".join(CLIENTS)],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise Refusal("jvb.conf would not parse with the hocon tool", EXIT_NOT_READY)
    try:
        clients = json.loads(result.stdout)
    except ValueError as e:
        raise Refusal("jvb.conf: the hocon tool printed something not JSON", EXIT_NOT_READY) from e
    ours = [
        c
        for c in (clients.values() if isinstance(clients, dict) else [])
        if isinstance(c, dict) and (c.get("USERNAME"), c.get("DOMAIN")) == login
    ]
    if not ours or any(c.get("PASSWORD") != password for c in ours):
        raise Refusal(
            "jvb.conf sets the bridge's XMPP password in a form this tool cannot edit "
            "(includes, substitutions?); set it by hand",
            EXIT_NOT_READY,
        )
