"""Jitsi's config.js, read and edited without running any JavaScript: `hosts.anonymousdomain`.

One reader for the tool that sets the value (secure_domain) and the probe that checks what a
browser gets (verify_auth), so the two cannot disagree. A small scanner (strings, comments,
template literals, regular expressions; brackets must balance) splits the file into tokens with
their nesting depth. The value counts in two places, as in a browser: `anonymousdomain: ...`
directly inside `hosts: { ... }` of `var config = { ... }`, and any later statement
`config.hosts.anonymousdomain = ...`, which wins. Nested objects, strings and comments never match.
"""

import re

MAX_CONFIG_BYTES = 2_000_000
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_PAIRS = {"(": ")", "{": "}", "[": "]"}
# After these a `/` starts a regular expression, not a division.
_REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^") | {"return", "typeof", "case", "do", "else", "in"}
_COMMENTED_KEY = re.compile(r"(?m)^([ \t]*)//[ \t]*anonymousdomain[ \t]*:[^\n]*$")
_ASSIGNED = ["config", ".", "hosts", ".", "anonymousdomain", "="]


class NotJitsiConfig(ValueError):
    """The text is not a config.js this reader can trust (an HTML page, broken JavaScript)."""


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


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
    raise NotJitsiConfig(f"unfinished string at line {_line(text, i)}")


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
    raise NotJitsiConfig(f"unfinished regular expression at line {_line(text, i)}")


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(token, start offset, bracket depth) for every code token; brackets must balance."""
    if len(text) > MAX_CONFIG_BYTES:
        raise NotJitsiConfig("it is larger than 2 MB")
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
                raise NotJitsiConfig(f"unfinished comment at line {_line(text, i)}")
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
                    raise NotJitsiConfig(f"unbalanced '{c}' at line {_line(text, i)}")
                stack.pop()
                out.append((c, i, len(stack)))
            else:
                out.append((c, i, len(stack)))
            i += 1
    if stack:
        raise NotJitsiConfig(f"'{stack[-1][0]}' at line {_line(text, stack[-1][1])} never closed")
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
                    and tok.strip("'\"") == "hosts"
                    and toks[h + 1][0] == ":"
                    and toks[h + 2][0] == "{"
                ):
                    close = next(
                        c
                        for c in range(h + 3, len(toks))
                        if toks[c][2] == depth and toks[c][0] == "}"
                    )
                    return h + 2, close
    raise NotJitsiConfig("no `hosts: { ... }` inside `var config = { ... }`")


def _in_hosts(toks: list, open_k: int, close_k: int) -> int | None:
    """Token index of the value of `anonymousdomain:` directly inside the hosts object."""
    depth = toks[open_k][2] + 1
    for k in range(open_k + 1, close_k - 1):
        tok, _, d = toks[k]
        if d == depth and tok.strip("'\"") == "anonymousdomain" and toks[k + 1][0] == ":":
            return k + 2
    return None


def _assigned(toks: list) -> list[int]:
    """Token indexes of the values of later `config.hosts.anonymousdomain = ...` statements."""
    return [
        k + len(_ASSIGNED)
        for k in range(len(toks) - len(_ASSIGNED))
        if [t[0] for t in toks[k : k + len(_ASSIGNED)]] == _ASSIGNED
    ]


def _string(token: str) -> str | None:
    """A string literal's text (quotes off); None for anything else (a variable, a call)."""
    if len(token) >= 2 and token[0] in "'\"`" and token[-1] == token[0]:
        return token[1:-1]
    return None


def anonymous_domain(text: str) -> str | None:
    """What a browser gets as config.hosts.anonymousdomain: None when unset or commented out,
    or set to something that is not a plain string."""
    toks = tokens(text)
    in_hosts = _in_hosts(toks, *_hosts_object(toks))
    values = ([in_hosts] if in_hosts is not None else []) + _assigned(toks)
    return _string(toks[values[-1]][0]) if values else None


def secure(text: str, guest: str) -> str:
    """`text` with hosts.anonymousdomain set to `guest`, as one line inside the hosts object;
    later assignments, which would override it in a browser, get the same value."""
    toks = tokens(text)
    _hosts_object(toks)
    assigned = _assigned(toks)
    # From the end backwards, so the offsets still to edit stay right.
    for k in reversed(assigned):
        text = _replace_value(text, toks[k], guest)
    if assigned:
        toks = tokens(text)
    open_k, close_k = _hosts_object(toks)
    found = _in_hosts(toks, open_k, close_k)
    if found is not None:
        if toks[found][0] in ("}", ","):
            line_no = _line(text, toks[found - 2][1])
            raise NotJitsiConfig(f"hosts.anonymousdomain has no value at line {line_no}")
        return _replace_value(text, toks[found], guest)
    body_start, body_end = toks[open_k][1] + 1, toks[close_k][1]
    if "\n" not in text[body_start:body_end]:
        # `hosts: { ... }` on one line: ours goes first inside it, on that line.
        return text[:body_start] + f" anonymousdomain: '{guest}'," + text[body_start:]
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


def _replace_value(text: str, token: tuple[str, int, int], guest: str) -> str:
    value, start, _ = token
    if _string(value) == guest and value[0] in "'\"":
        return text
    return text[:start] + f"'{guest}'" + text[start + len(value) :]
