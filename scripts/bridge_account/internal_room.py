"""The bridges' room, on the internal MUC `internal.auth.DOMAIN`: only auth.DOMAIN may join it.

The stock component lets any session send presence to its rooms, and jicofo trusts whatever
joins JvbBrewery as a bridge; jitsi-meet's module `muc_filter_access` with
`muc_filter_whitelist = "auth.DOMAIN"` keeps everyone else out (as docker-jitsi-meet sets it).
The edit uses secure_domain's Lua lexer, so comments and strings are never mistaken for code.
"""

import re

from secure_domain import loader
from secure_domain.files import line_no
from secure_domain.lua import Section, assignments, sections
from secure_domain.prosody import apply_edits

from .errors import EXIT_NOT_READY, Refusal

MODULE = "muc_filter_access"
WHITELIST = "muc_filter_whitelist"


def _component(text: str, name: str) -> Section:
    found = [s for s in sections(text) if s.kind == "Component" and s.name == name]
    if not found:
        raise Refusal(
            f'no Component "{name}" in the site file: is this a Jitsi Meet install for --domain?',
            EXIT_NOT_READY,
        )
    return found[-1]


def _line_indent(text: str, offset: int) -> str:
    """The whitespace that starts the line holding `offset`."""
    start = text.rfind("\n", 0, offset) + 1
    return re.match(r"[ \t]*", text[start:offset]).group()


def _after_header(text: str, room: Section) -> tuple[int, str]:
    """Where a new setting goes (the end of the header's line), and its indentation."""
    end = text.find("\n", room.header_end)
    indent = _line_indent(text, room.tokens[0].start) if room.tokens else "    "
    return (len(text) if end < 0 else end), indent


def _module_edits(text: str, room: Section) -> list:
    tables = assignments(room, "modules_enabled")
    listed = [t.text for t in room.tokens if t.kind == "string"]
    if tables and MODULE in listed:
        return []
    if not tables:
        at, indent = _after_header(text, room)
        return [(at, at, f'\n{indent}modules_enabled = {{ "{MODULE}" }}')]
    brace = tables[-1]
    if brace.text != "{":
        raise Refusal(
            f"{room.name}: modules_enabled at line {line_no(text, brace.start)} is not a table; "
            f'add "{MODULE}" by hand',
            EXIT_NOT_READY,
        )
    # First in the table, ended by ";": valid Lua whatever separator the others use.
    after = next(t for t in room.tokens if t.start > brace.start)
    if "\n" in text[brace.end : after.start]:
        entry = f'\n{_line_indent(text, after.start)}"{MODULE}";'
    else:
        entry = f' "{MODULE}";'
    return [(brace.end, brace.end, entry)]


def _whitelist_edits(text: str, room: Section, auth: str) -> list:
    values = assignments(room, WHITELIST)
    for value in values:
        if value.kind != "string" or value.text != auth:
            raise Refusal(
                f'{room.name}: {WHITELIST} at line {line_no(text, value.start)} is not "{auth}"; '
                "refusing to replace it: remove it by hand, then run again",
                EXIT_NOT_READY,
            )
    if values:
        return []
    at, indent = _after_header(text, room)
    return [(at, at, f'\n{indent}{WHITELIST} = "{auth}"')]


def filtered(text: str, domain: str) -> str:
    """The site file with the internal room filtered; refuses what it must not edit."""
    room = _component(text, f"internal.auth.{domain}")
    edits = _module_edits(text, room) + _whitelist_edits(text, room, f"auth.{domain}")
    return apply_edits(text, edits)


def check(path: str, text: str, domain: str) -> None:
    """Refuses unless the result reads as intended: by the lexer, then by Prosody's own loader
    (where this machine has it), which also catches a later setting that would override it."""
    name, auth = f"internal.auth.{domain}", f"auth.{domain}"
    room = _component(text, name)
    listed = [t.text for t in room.tokens if t.kind == "string"]
    whitelist = [v.text for v in assignments(room, WHITELIST)]
    if MODULE not in listed or whitelist != [auth]:
        raise Refusal(f"internal error: {name} would not be filtered; nothing written", 1)
    if not loader.available():
        return
    got = loader.read_values(path, text, [(name, WHITELIST)])
    if got is not None and got[(name, WHITELIST)] != auth:
        raise Refusal(
            f"Prosody's loader does not read {WHITELIST} = {auth!r} for {name} in {path} "
            "(overridden elsewhere?); nothing written",
            EXIT_NOT_READY,
        )
