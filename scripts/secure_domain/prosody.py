"""The Prosody side of securing a Jitsi domain: main host on passwords, a guest host after it."""

import pathlib
import re

from .files import Refusal, line_no
from .lua import Section, Token, assignments, sections

TARGET_PROVIDER = "internal_hashed"
# Both offer anonymous SASL; "jitsi-anonymous" is Jitsi's plugin (mod_auth_jitsi-anonymous.lua).
ANONYMOUS_PROVIDERS = ("anonymous", "jitsi-anonymous")
JITSI_ANON_PLUGIN = "usr/share/jitsi-meet/prosody-plugins/mod_auth_jitsi-anonymous.lua"
# Prosody 0.12+ ships mod_smacks; 0.11 needed it from prosody-modules. Listing a module Prosody
# cannot find makes every start log an error, so the guest host enables it only where it exists.
SMACKS_FILES = (
    "usr/lib/prosody/modules/mod_smacks.lua",
    "usr/local/lib/prosody/modules/mod_smacks.lua",
    "usr/share/jitsi-meet/prosody-plugins/mod_smacks.lua",
)
_INDENTED_COMMENT = re.compile(r"[ \t]+--(?!\[=*\[)[^\n]*")


def _line_end(text: str, offset: int) -> int:
    j = text.find("\n", offset)
    return len(text) if j < 0 else j


def _indent_of(text: str, section: Section) -> str | None:
    """The indentation of the section's first setting, as the file's author wrote it."""
    for t in section.tokens:
        start = text.rfind("\n", 0, t.start) + 1
        return re.match(r"[ \t]*", text[start : t.start]).group()
    return None


def _string_value(text: str, tok: Token, host: str) -> str:
    if tok.kind != "string" or tok.text.startswith("["):
        raise Refusal(
            f"{host}: authentication at line {line_no(text, tok.start)} is not a plain string; "
            "set it by hand"
        )
    return tok.text


def _end_of_section(text: str, section: Section) -> int:
    """Where a following section may start: after the section's last code line and any indented
    comment lines right below it (those belong to it; a column-0 comment introduces the next)."""
    last = section.tokens[-1].end if section.tokens else section.header_end
    pos = _line_end(text, last)
    while pos < len(text):
        m = _INDENTED_COMMENT.fullmatch(text, pos + 1, _line_end(text, pos + 1))
        if not m:
            break
        pos = m.end()
    return pos


def _guest_block(guest: str, provider: str, indent: str, smacks: bool) -> str:
    lines = [
        "",
        f'VirtualHost "{guest}"',
        f'{indent}authentication = "{provider}"',
        f"{indent}c2s_require_encryption = false",
    ]
    if smacks:
        lines.append(f'{indent}modules_enabled = {{ "smacks" }}')
    return "\n".join(["", *lines])


def _has_smacks(root: pathlib.Path, text_sections: list[Section]) -> bool:
    if any((root / p).is_file() for p in SMACKS_FILES):
        return True
    # A file that already loads smacks on some host proves this Prosody has it.
    return any(t.kind == "string" and t.text == "smacks" for s in text_sections for t in s.tokens)


def _main_host_edits(text: str, mains: list[Section], domain: str) -> tuple[list, bool]:
    """Edits that put the main host on internal_hashed; and whether it used jitsi-anonymous."""
    values = [(s, v) for s in mains for v in assignments(s, "authentication")]
    edits, used_jitsi_anon = [], False
    for _, tok in values:
        provider = _string_value(text, tok, domain)
        if provider == "jitsi-anonymous":
            used_jitsi_anon = True
        if provider in ANONYMOUS_PROVIDERS:
            edits.append((tok.start + 1, tok.end - 1, TARGET_PROVIDER))
        elif provider != TARGET_PROVIDER:
            raise Refusal(
                f'{domain} uses authentication = "{provider}" (line {line_no(text, tok.start)}); '
                "refusing to replace it: switch it back to anonymous by hand first, "
                "or keep that provider and do not use this tool"
            )
    if not values:
        indent = _indent_of(text, mains[0]) or "    "
        pos = _line_end(text, mains[0].header_end)
        edits.append((pos, pos, f'\n{indent}authentication = "{TARGET_PROVIDER}"'))
    return edits, used_jitsi_anon


def _existing_guest_edits(text: str, guests: list[Section], guest: str, provider: str) -> list:
    """Edits that make an existing guest host anonymous and unencrypted-c2s friendly."""
    edits = []
    auth = [v for s in guests for v in assignments(s, "authentication")]
    for tok in auth:
        value = _string_value(text, tok, guest)
        if value not in ANONYMOUS_PROVIDERS:
            raise Refusal(
                f'guest host {guest} uses authentication = "{value}" (line '
                f"{line_no(text, tok.start)}); a guest host must be anonymous: choose another "
                "--guest-domain or fix that host by hand"
            )
    indent = _indent_of(text, guests[0]) or "    "
    header_eol = _line_end(text, guests[0].header_end)
    if not auth:
        edits.append((header_eol, header_eol, f'\n{indent}authentication = "{provider}"'))
    c2s = [v for s in guests for v in assignments(s, "c2s_require_encryption")]
    for tok in c2s:
        if tok.text != "false":
            edits.append((tok.start, tok.end, "false"))
    if not c2s:
        edits.append((header_eol, header_eol, f"\n{indent}c2s_require_encryption = false"))
    return edits


def apply_edits(text: str, edits: list) -> str:
    """Applies (start, end, new) edits from the end backwards; insertions at the same offset
    land in the order given (a main host with no settings: its line, then the guest host)."""
    order = sorted(range(len(edits)), key=lambda k: (edits[k][0], edits[k][1], k), reverse=True)
    for start, end, new in (edits[k] for k in order):
        text = text[:start] + new + text[end:]
    return text


def secure(text: str, domain: str, guest: str, root: pathlib.Path) -> tuple[str, str]:
    """The secured file and the guest host's provider. Raises Refusal when it must not edit."""
    parsed = sections(text)
    hosts = [s for s in parsed if s.kind == "VirtualHost"]
    mains = [s for s in hosts if s.name == domain]
    if not mains:
        raise Refusal(f'no VirtualHost "{domain}" in the Prosody config; check --domain')
    if any(s.kind == "Component" and s.name == guest for s in parsed):
        raise Refusal(
            f"{guest} is a Component in the Prosody config; choose another --guest-domain"
        )
    guests = [s for s in hosts if s.name == guest]
    if guests and parsed.index(guests[0]) < parsed.index(mains[-1]):
        raise Refusal(
            f'VirtualHost "{guest}" comes before VirtualHost "{domain}" (line '
            f"{line_no(text, guests[0].start)}), which breaks logins: move it below the main "
            "host's section, then run again"
        )
    edits, used_jitsi_anon = _main_host_edits(text, mains, domain)
    has_plugin = (root / JITSI_ANON_PLUGIN).is_file()
    provider = "jitsi-anonymous" if used_jitsi_anon or has_plugin else "anonymous"
    if guests:
        edits += _existing_guest_edits(text, guests, guest, provider)
    else:
        indent = _indent_of(text, mains[-1]) or "    "
        pos = _end_of_section(text, mains[-1])
        edits.append((pos, pos, _guest_block(guest, provider, indent, _has_smacks(root, parsed))))
    return apply_edits(text, edits), provider
