"""sip-communicator.properties: the legacy `org.jitsi.jicofo.auth.URL=XMPP:DOMAIN`.

jicofo reads this key before jicofo.conf, so a stale value naming another domain would win over
the HOCON setting: every such line is corrected, and the line is added where it is missing.
"""

import re

KEY = "org.jitsi.jicofo.auth.URL"
# A Java properties key ends at the first unescaped '=', ':' or whitespace.
_KEY_SPLIT = re.compile(r"^[ \t\f]*((?:\\.|[^=:\s\\])+)[ \t\f]*[=:]?[ \t\f]*(.*)$", re.S)


def _logical_lines(text: str):
    """(start, end, content) of each logical line; a line ending in an odd number of
    backslashes continues on the next one."""
    pos, n = 0, len(text)
    while pos < n:
        start, parts = pos, []
        while True:
            j = text.find("\n", pos)
            end = n if j < 0 else j
            line = text[pos:end].rstrip("\r")
            pos = end + 1 if j >= 0 else n
            trailing = len(line) - len(line.rstrip("\\"))
            if trailing % 2 == 1 and pos < n:
                parts.append(line[:-1])
                continue
            parts.append(line)
            break
        yield start, end, "".join(p.lstrip() if i else p for i, p in enumerate(parts))


def auth_urls(text: str) -> list[str]:
    """Every value of the legacy key, in file order (jicofo uses the last)."""
    return [value for _, _, _, value in _entries(text)]


def entries(text: str):
    """(start, end, key, value) of every key's logical line, in file order; comments skipped."""
    for start, end, line in _logical_lines(text):
        stripped = line.lstrip()
        if not stripped or stripped[0] in "#!":
            continue
        m = _KEY_SPLIT.match(line)
        if m:
            yield start, end, m.group(1), m.group(2).rstrip()


def _entries(text: str):
    return (entry for entry in entries(text) if entry[2] == KEY)


def secure(text: str, domain: str) -> str:
    wanted = f"{KEY}=XMPP:{domain}"
    entries = list(_entries(text))
    for start, end, _, value in reversed(entries):
        if value != f"XMPP:{domain}":
            text = text[:start] + wanted + text[end:]
    if entries:
        return text
    return text + ("" if text.endswith("\n") or not text else "\n") + wanted + "\n"
