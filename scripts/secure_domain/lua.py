"""A small Lua lexer and the section structure of a Prosody config file.

Enough Lua to find statements safely: strings, long strings and comments are tokens of their own,
so a `VirtualHost` or `authentication` inside a comment or a string is never mistaken for code.
"""

import re
from dataclasses import dataclass, field

from .files import Refusal, line_no

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]*(?:\.[0-9a-fA-F]*)?(?:[pP][+-]?\d+)?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
)
_LONG_OPEN = re.compile(r"\[(=*)\[")
_OPS = ("...", "..", "==", "~=", "<=", ">=", "<<", ">>", "//", "::")
_PAIRS = {"(": ")", "{": "}", "[": "]"}
# Prosody's config loader declares a section with these; `Host` is an alias of `VirtualHost`.
_SECTION_WORDS = {"VirtualHost": "VirtualHost", "Host": "VirtualHost", "Component": "Component"}


@dataclass
class Token:
    kind: str  # name, string, number, op
    text: str  # for strings: the value, without quotes
    start: int
    end: int
    depth: int = 0  # bracket depth before the token


@dataclass
class Section:
    kind: str  # "global", "VirtualHost" or "Component"
    name: str
    start: int  # offset of the section keyword (0 for the global section)
    header_end: int  # offset just past the header's last token
    tokens: list[Token] = field(default_factory=list)  # code tokens of the body


def _long_bracket(text: str, pos: int, what: str) -> int:
    """End offset of the long bracket opening at `pos` ([[ or [==[)."""
    m = _LONG_OPEN.match(text, pos)
    close = "]" + m.group(1) + "]"
    end = text.find(close, m.end())
    if end < 0:
        raise Refusal(f"unfinished long {what} starting at line {line_no(text, pos)}")
    return end + len(close)


def _short_string(text: str, pos: int) -> tuple[str, int]:
    quote, i, out = text[pos], pos + 1, []
    while i < len(text):
        c = text[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\n":
            break
        if c == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        out.append(c)
        i += 1
    raise Refusal(f"unfinished string at line {line_no(text, pos)}")


def tokenize(text: str) -> list[Token]:
    """Code tokens (comments dropped), each with its bracket depth; checks bracket balance."""
    tokens: list[Token] = []
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n\f\v":
            i += 1
        elif text.startswith("--", i):
            if _LONG_OPEN.match(text, i + 2):
                i = _long_bracket(text, i + 2, "comment")
            else:
                j = text.find("\n", i)
                i = n if j < 0 else j
        elif c in "\"'":
            value, j = _short_string(text, i)
            tokens.append(Token("string", value, i, j, len(stack)))
            i = j
        elif c == "[" and _LONG_OPEN.match(text, i):
            j = _long_bracket(text, i, "string")
            tokens.append(Token("string", text[i:j], i, j, len(stack)))
            i = j
        elif m := _NAME.match(text, i):
            tokens.append(Token("name", m.group(), i, m.end(), len(stack)))
            i = m.end()
        elif (m := _NUMBER.match(text, i)) and m.group():
            tokens.append(Token("number", m.group(), i, m.end(), len(stack)))
            i = m.end()
        else:
            op = next((o for o in _OPS if text.startswith(o, i)), c)
            if op in _PAIRS:
                tokens.append(Token("op", op, i, i + 1, len(stack)))
                stack.append((op, i))
            elif op in ")}]":
                if not stack or _PAIRS[stack[-1][0]] != op:
                    raise Refusal(f"unbalanced '{op}' at line {line_no(text, i)}")
                stack.pop()
                tokens.append(Token("op", op, i, i + 1, len(stack)))
            elif op in "+-*/%^#&~|<>=;:,." or op in _OPS:
                tokens.append(Token("op", op, i, i + len(op), len(stack)))
            else:
                raise Refusal(f"unexpected character {op!r} at line {line_no(text, i)}")
            i += len(op)
    if stack:
        raise Refusal(f"'{stack[-1][0]}' at line {line_no(text, stack[-1][1])} is never closed")
    return tokens


def _header_at(tokens: list[Token], k: int) -> tuple[str, str, int] | None:
    """(kind, name, index past the header) when tokens[k] starts a section header."""
    t = tokens[k]
    if t.kind != "name" or t.depth != 0 or t.text not in _SECTION_WORDS:
        return None
    if k > 0 and tokens[k - 1].text in (".", ":"):
        return None
    j = k + 1
    paren = j < len(tokens) and tokens[j].text == "("
    j += paren
    if j >= len(tokens) or tokens[j].kind != "string":
        return None
    name, j = tokens[j].text, j + 1
    if paren and j < len(tokens) and tokens[j].text == ")":
        j += 1
    # Component "name" "module": the module name belongs to the header.
    if t.text == "Component" and j < len(tokens) and tokens[j].kind == "string":
        j += 1
    return _SECTION_WORDS[t.text], name, j


def sections(text: str) -> list[Section]:
    """The file as Prosody reads it: a global section, then one per header, in order."""
    tokens = tokenize(text)
    result = [Section("global", "*", 0, 0)]
    k = 0
    while k < len(tokens):
        header = _header_at(tokens, k)
        if header:
            kind, name, k_end = header
            result.append(Section(kind, name, tokens[k].start, tokens[k_end - 1].end))
            k = k_end
            continue
        result[-1].tokens.append(tokens[k])
        k += 1
    return result


def assignments(section: Section, key: str) -> list[Token]:
    """The value tokens of `key = value` statements at the top level of a section."""
    toks = section.tokens
    found = []
    for k, t in enumerate(toks[:-2]):
        is_key = t.kind == "name" and t.text == key and t.depth == 0
        is_field = k > 0 and toks[k - 1].text in (".", ":")
        if is_key and not is_field and toks[k + 1].text == "=":
            found.append(toks[k + 2])
    return found
