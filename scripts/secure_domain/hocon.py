"""A small HOCON scanner: enough to find objects and keys without misreading strings or comments."""

import re

from .files import Refusal, line_no

# Characters HOCON forbids in unquoted strings (besides whitespace and the start of `//`).
_UNQUOTED = re.compile(r"(?:(?!//)[^\s$\"{}\[\]:=,+#`^?!@*&\\])+")


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(token, start, depth) of each token; quoted strings keep their quotes."""
    out: list[tuple[str, int, int]] = []
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#" or text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith('"""', i):
            j = text.find('"""', i + 3)
            if j < 0:
                raise Refusal(f'jicofo.conf: unfinished """ string at line {line_no(text, i)}')
            while text.startswith('"', j + 3):  # a """ string may end with extra quotes
                j += 1
            out.append((text[i : j + 3], i, len(stack)))
            i = j + 3
        elif c == '"':
            m = re.compile(r'"(?:\\.|[^"\\\n])*"').match(text, i)
            if not m:
                raise Refusal(f"jicofo.conf: unfinished string at line {line_no(text, i)}")
            out.append((m.group(), i, len(stack)))
            i = m.end()
        elif text.startswith("${", i):
            j = text.find("}", i)
            if j < 0:
                raise Refusal(f"jicofo.conf: unfinished substitution at line {line_no(text, i)}")
            out.append((text[i : j + 1], i, len(stack)))
            i = j + 1
        elif c in "{[":
            out.append((c, i, len(stack)))
            stack.append((c, i))
            i += 1
        elif c in "}]":
            if not stack or {"{": "}", "[": "]"}[stack[-1][0]] != c:
                raise Refusal(f"jicofo.conf: unbalanced '{c}' at line {line_no(text, i)}")
            stack.pop()
            out.append((c, i, len(stack)))
            i += 1
        elif m := _UNQUOTED.match(text, i):
            out.append((m.group(), i, len(stack)))
            i = m.end()
        else:
            out.append((c, i, len(stack)))
            i += 1
    if stack:
        raise Refusal(
            f"jicofo.conf: '{stack[-1][0]}' at line {line_no(text, stack[-1][1])} is never closed"
        )
    return out


def unquote(token: str) -> str:
    return token[1:-1] if token.startswith('"') and not token.startswith('"""') else token


def object_fields(text: str, toks: list, open_k: int) -> dict[str, list[int]]:
    """Keys directly inside the object opening at token `open_k`: key -> token indexes of the
    key (a key may repeat: HOCON merges objects and lets the last plain value win).

    A key is the first token after the object's `{`, after a `,`, or on a new line: HOCON
    separates fields with commas or newlines.
    """
    depth = toks[open_k][2] + 1
    fields: dict[str, list[int]] = {}
    for k in range(open_k + 1, matching_close(toks, open_k)):
        tok, start, d = toks[k]
        if d != depth or tok in ("}", "]", ",", ":", "="):
            continue
        prev, prev_start, _ = toks[k - 1]
        new_line = "\n" in text[prev_start + len(prev) : start] and prev not in (":", "=")
        if k - 1 == open_k or prev == "," or new_line:
            fields.setdefault(unquote(tok), []).append(k)
    return fields


def value_index(toks: list, key_k: int) -> int:
    """Token index of the value of the key at `key_k` (after an optional `:` or `=`)."""
    return key_k + 1 + (toks[key_k + 1][0] in (":", "="))


def matching_close(toks: list, open_k: int) -> int:
    depth = toks[open_k][2]
    return next(
        c for c in range(open_k + 1, len(toks)) if toks[c][2] == depth and toks[c][0] in "}]"
    )
