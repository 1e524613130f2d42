"""jicofo.conf: `jicofo.authentication { enabled = true, type = XMPP, login-url = "DOMAIN" }`.

Edited inside the existing `jicofo` block (a second block would be merged by HOCON, but hides
the setting from the next person reading the file). `type = XMPP` is always written: jicofo from
late 2020 to April 2023 defaulted to SHIBBOLETH. `login-url` is the bare domain: the `XMPP:`
prefix belongs only to the legacy property.
"""

import json
import re
import shutil
import subprocess

from .files import Refusal, line_no
from .hocon import matching_close, object_fields, tokens, unquote, value_index


def wanted(domain: str) -> dict:
    return {"enabled": True, "type": "XMPP", "login-url": domain}


def _rendered(domain: str) -> list[tuple[str, str]]:
    return [("enabled", "true"), ("type", "XMPP"), ("login-url", f'"{domain}"')]


def _indent_at(text: str, offset: int) -> str:
    start = text.rfind("\n", 0, offset) + 1
    return re.match(r"[ \t]*", text[start:offset]).group()


def _insert_fields(text: str, toks: list, open_k: int, lines: list[str]) -> tuple[int, str]:
    """(offset, text) that adds `lines` as the last fields of the object opening at `open_k`."""
    close_k = matching_close(toks, open_k)
    close_at = toks[close_k][1]
    outer = _indent_at(text, toks[open_k][1])
    inner = next(
        (
            _indent_at(text, toks[k][1])
            for k in range(open_k + 1, close_k)
            if toks[k][2] == toks[open_k][2] + 1
        ),
        "",
    )
    step = inner[len(outer) :] if inner.startswith(outer) and len(inner) > len(outer) else "  "
    body = "".join(f"{outer}{step}{line}\n" for line in lines)
    line_start = text.rfind("\n", 0, close_at) + 1
    if line_start > toks[open_k][1] and text[line_start:close_at].strip() == "":
        return line_start, body  # the closing brace has its own line: add lines above it
    return close_at, "\n" + body + outer


def _jicofo_blocks(text: str, toks: list) -> list[int]:
    """Token indexes of the `{` of each top-level `jicofo { ... }`."""
    if toks and toks[0][0] == "{":
        top = object_fields(text, toks, 0)
        shift = 0
    else:
        # The root object's braces are optional in HOCON: scan inside virtual ones.
        toks = [("{", 0, -1), *toks, ("}", len(text), -1)]
        top = object_fields(text, toks, 0)
        shift = 1
    values = [value_index(toks, k) for k in top.get("jicofo", [])]
    return [v - shift for v in values if toks[v][0] == "{"]


def _new_block(domain: str) -> str:
    fields = "".join(f"    {k}: {v}\n" for k, v in _rendered(domain))
    return f"jicofo {{\n  authentication: {{\n{fields}  }}\n}}\n"


def _auth_edits(text: str, toks: list, obj: int, domain: str) -> list[tuple[int, int, str]]:
    """Edits that make the existing authentication object hold the wanted values."""
    if toks[obj][0] != "{":
        raise Refusal(
            f"jicofo.conf: jicofo.authentication at line {line_no(text, toks[obj][1])} is not "
            "an object; set it by hand to { enabled = true, type = XMPP, login-url = DOMAIN }"
        )
    fields = object_fields(text, toks, obj)
    edits, missing = [], []
    for key, rendered in _rendered(domain):
        if key not in fields:
            missing.append(f"{key}: {rendered}")
            continue
        value, start, _ = toks[value_index(toks, fields[key][-1])]
        if unquote(value) != unquote(rendered):
            edits.append((start, start + len(value), rendered))
    if missing:
        offset, new = _insert_fields(text, toks, obj, missing)
        edits.append((offset, offset, new))
    return edits


def secure(text: str, domain: str) -> str:
    toks = tokens(text)
    blocks = _jicofo_blocks(text, toks)
    if not blocks:
        return text + ("" if text.endswith("\n") or not text else "\n") + _new_block(domain)
    auth = [
        value_index(toks, k)
        for b in blocks
        for k in object_fields(text, toks, b).get("authentication", [])
    ]
    if auth:
        edits = _auth_edits(text, toks, auth[-1], domain)
    else:
        lines = ["authentication: {", *(f"  {k}: {v}" for k, v in _rendered(domain)), "}"]
        offset, new = _insert_fields(text, toks, blocks[0], lines)
        edits = [(offset, offset, new)]
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def plainly_set(text: str) -> bool:
    """Whether our scan alone is conclusive: one `authentication` key and nothing (includes,
    dotted paths, substitutions) that could set it elsewhere. Saves the ~0.2 s hocon run on
    an unchanged file."""
    toks = [unquote(t) for t, _, _ in tokens(text)]
    mentions = [t for t in toks if "authentication" in t]
    return (
        mentions == ["authentication"]
        and "include" not in toks
        and not any(t.startswith("${") for t in toks)
    )


def check_with_hocon_tool(text: str, domain: str) -> None:
    """Read the candidate with the `hocon` tool (ruby-hocon, a jicofo dependency) when present:
    the values jicofo will see must be the ones wanted, whatever else the file does."""
    if not shutil.which("hocon"):
        return
    result = subprocess.run(
        ["hocon", "-j", "get", "jicofo.authentication"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise Refusal(f"jicofo.conf would not parse with the hocon tool: {detail}")
    try:
        got = json.loads(result.stdout)
    except ValueError as e:
        raise Refusal("jicofo.conf: the hocon tool printed something that is not JSON") from e
    if not isinstance(got, dict) or any(got.get(k) != v for k, v in wanted(domain).items()):
        raise Refusal(
            "jicofo.conf sets jicofo.authentication in a form this tool cannot edit (dotted keys "
            "or includes?); set enabled = true, type = XMPP, login-url = DOMAIN by hand"
        )
