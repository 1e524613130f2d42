"""Reads `hosts.anonymousdomain` out of Jitsi's config.js without running any JavaScript.

A bounded, linear read: comments are removed (strings respected), the rest is split into tokens,
and `anonymousdomain: '...'` counts only directly inside `hosts: { ... }` (tracked by brace depth,
so nested objects and string contents never match). A later assignment
`config.hosts.anonymousdomain = '...'` (some installs append one) wins, as it would in a browser.
"""

import re

MAX_CONFIG_BYTES = 2_000_000
_TOKEN = re.compile(
    r"""\s+|(?P<string>'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`)"""
    r"|(?P<name>[A-Za-z_$][\w$]*)|(?P<other>.)",
    re.S,
)
_LOOKS_LIKE_CONFIG = re.compile(r"\bvar\s+config\s*=|\bconfig\s*=\s*\{")


class NotJitsiConfig(Exception):
    """The text is not a Jitsi Meet config.js (for example an HTML page)."""


def strip_comments(text: str) -> str:
    """The JavaScript source with // and /* */ comments blanked, string literals kept."""
    out: list[str] = []
    i, n = 0, len(text)
    quote = ""
    while i < n:
        ch = text[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
            i += 1
        elif ch in "'\"`":
            quote = ch
            out.append(ch)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _tokens(code: str) -> list[str]:
    """Names, string literals (quotes kept) and single punctuation characters, in order."""
    return [m.group() for m in _TOKEN.finditer(code) if not m.group().isspace()]


def _key(word: str) -> str:
    return word[1:-1] if word[:1] in "'\"" else word


def _string(word: str) -> str | None:
    return word[1:-1] if len(word) >= 2 and word[0] in "'\"`" and word[-1] == word[0] else None


def anonymous_domain(text: str) -> str | None:
    """The configured `hosts.anonymousdomain`, or None when it is unset or commented out."""
    if len(text) > MAX_CONFIG_BYTES:
        raise NotJitsiConfig("it is larger than 2 MB")
    code = strip_comments(text)
    if not _LOOKS_LIKE_CONFIG.search(code):
        raise NotJitsiConfig("it has no `config` object")
    tokens = _tokens(code)
    value, seen_hosts, depth = None, False, 0  # depth inside the hosts object, 0 outside it
    for i, word in enumerate(tokens):
        if depth == 0 and _key(word) == "hosts" and tokens[i + 1 : i + 3] == [":", "{"]:
            seen_hosts, depth = True, -1  # the "{" two tokens on opens it
        elif depth == -1 and word == "{":
            depth = 1
        elif depth > 0 and word in "{}":
            depth += 1 if word == "{" else -1
        elif depth == 1 and _key(word) == "anonymousdomain" and tokens[i + 1 : i + 2] == [":"]:
            value = _string(tokens[i + 2]) if i + 2 < len(tokens) else None
        # A later `config.hosts.anonymousdomain = '...'` wins, as it would in the browser.
        if tokens[i : i + 6] == ["config", ".", "hosts", ".", "anonymousdomain", "="]:
            seen_hosts = True
            value = _string(tokens[i + 6]) if i + 6 < len(tokens) else None
    if not seen_hosts:
        raise NotJitsiConfig("its `config` has no `hosts`")
    return value
