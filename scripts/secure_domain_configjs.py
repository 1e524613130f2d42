"""config.js: set `hosts.anonymousdomain` so the web client logs guests in on the guest host.

A small JavaScript scanner (strings, comments, template literals, regular expressions) finds the
`hosts` object of `var config = { ... }`; the edit touches one line of it.
"""

import re

from secure_domain_files import Refusal, line_no

_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_PAIRS = {"(": ")", "{": "}", "[": "]"}
# After these a `/` starts a regular expression, not a division.
_REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^") | {"return", "typeof", "case", "do", "else", "in"}
_COMMENTED_KEY = re.compile(r"(?m)^([ \t]*)//[ \t]*anonymousdomain[ \t]*:[^\n]*$")


def _skip_string(text: str, i: int) -> int:
    quote, i = text[i], i + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == quote:
            return i + 1
        if c == "\n" and quote != "`":
            break
        i += 1
    raise Refusal(f"config.js: unfinished string at line {line_no(text, i)}")


def _skip_regex(text: str, i: int) -> int:
    j, in_class = i + 1, False
    while j < len(text) and text[j] != "\n":
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "/" and not in_class:
            return j + 1
        j += 1
    raise Refusal(f"config.js: unfinished regular expression at line {line_no(text, i)}")


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(token, start, depth) for code tokens; checks that brackets balance."""
    out: list[tuple[str, int, int]] = []
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise Refusal(f"config.js: unfinished comment at line {line_no(text, i)}")
            i = j + 2
        elif c in "'\"`":
            # Template literals with ${...} are rare in config.js and only skipped over here.
            j = _skip_string(text, i)
            out.append((text[i:j], i, len(stack)))
            i = j
        elif c == "/" and (not out or out[-1][0] in _REGEX_AFTER):
            j = _skip_regex(text, i)
            out.append((text[i:j], i, len(stack)))
            i = j
        elif m := _WORD.match(text, i):
            out.append((m.group(), i, len(stack)))
            i = m.end()
        else:
            if c in _PAIRS:
                out.append((c, i, len(stack)))
                stack.append((c, i))
            elif c in ")}]":
                if not stack or _PAIRS[stack[-1][0]] != c:
                    raise Refusal(f"config.js: unbalanced '{c}' at line {line_no(text, i)}")
                stack.pop()
                out.append((c, i, len(stack)))
            else:
                out.append((c, i, len(stack)))
            i += 1
    if stack:
        raise Refusal(
            f"config.js: '{stack[-1][0]}' at line {line_no(text, stack[-1][1])} never closed"
        )
    return out


def _hosts_object(toks: list) -> tuple[int, int]:
    """Token indexes of the `{` and `}` of `var config = { hosts: { ... } }`."""
    for k in range(len(toks) - 3):
        if toks[k][0] == "config" and toks[k + 1][0] == "=" and toks[k + 2][0] == "{":
            depth = toks[k + 2][2] + 1
            for h in range(k + 3, len(toks) - 2):
                tok, _, d = toks[h]
                if d < depth:
                    break
                if (
                    d == depth
                    and tok == "hosts"
                    and toks[h + 1][0] == ":"
                    and toks[h + 2][0] == "{"
                ):
                    close = next(
                        c
                        for c in range(h + 3, len(toks))
                        if toks[c][2] == depth and toks[c][0] == "}"
                    )
                    return h + 2, close
    raise Refusal(
        "config.js: no `hosts: { ... }` inside `var config = { ... }`; is this a Jitsi config.js?"
    )


def _anonymousdomain_value(toks: list, open_k: int, close_k: int) -> tuple[str, int] | None:
    """The value token of `anonymousdomain:` directly inside the hosts object, and its offset."""
    depth = toks[open_k][2] + 1
    for k in range(open_k + 1, close_k - 1):
        tok, _, d = toks[k]
        if d == depth and tok.strip("'\"") == "anonymousdomain" and toks[k + 1][0] == ":":
            return toks[k + 2][0], toks[k + 2][1]
    return None


def anonymousdomain(text: str) -> str | None:
    """The value config.hosts.anonymousdomain has in `text` (None when it is not set)."""
    toks = tokens(text)
    found = _anonymousdomain_value(toks, *_hosts_object(toks))
    if found is None:
        return None
    value = found[0]
    return value[1:-1] if value[:1] in "'\"" else value


def secure(text: str, guest: str) -> str:
    toks = tokens(text)
    open_k, close_k = _hosts_object(toks)
    found = _anonymousdomain_value(toks, open_k, close_k)
    if found is not None:
        value, start = found
        if value[1:-1] == guest and value[:1] in "'\"":
            return text
        return text[:start] + f"'{guest}'" + text[start + len(value) :]
    body_start, body_end = toks[open_k][1] + 1, toks[close_k][1]
    line = _COMMENTED_KEY.search(text, body_start, body_end)
    if line:
        # Upstream keeps `// anonymousdomain: 'guest.example.com',` here: take its place.
        indent, start, end = line.group(1), line.start(), line.end()
    else:
        first = toks[open_k + 1][1] if open_k + 1 < close_k else body_end
        line_start = text.rfind("\n", 0, first) + 1
        indent = re.match(r"[ \t]*", text[line_start:first]).group() or "    "
        start = end = text.find("\n", toks[open_k][1]) + 1
    new_line = f"{indent}anonymousdomain: '{guest}',"
    if line is None:
        new_line += "\n"
    # The property before ours needs a comma now that it is no longer the last one.
    before = max((t for t in toks[open_k:close_k] if t[1] < start), key=lambda t: t[1])
    comma = "" if before[0] in ("{", ",") else ","
    pos_after_before = before[1] + len(before[0])
    return text[:pos_after_before] + comma + text[pos_after_before:start] + new_line + text[end:]
