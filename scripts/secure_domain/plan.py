"""What secure_domain would change: every file found, edited in memory, and validated."""

import pathlib
from dataclasses import dataclass

from shared import configjs

from . import jicofo, loader, properties, prosody
from .files import Refusal, read_text, resolve_in_root
from .lua import assignments, sections


@dataclass
class Change:
    path: pathlib.Path  # the real file (a symlink's target)
    shown: str  # its path on the server, for messages
    what: str
    service: str | None  # what must restart to read it
    old: str
    new: str


def _shown(root: pathlib.Path, path: pathlib.Path) -> str:
    try:
        return "/" + str(path.relative_to(root)).lstrip("/")
    except ValueError:
        return str(path)


def _find(root: pathlib.Path, domain: str) -> dict[str, pathlib.Path | None]:
    linked = root / f"etc/prosody/conf.d/{domain}.cfg.lua"
    found = {
        # Prosody loads conf.d; its entry is usually a link to conf.avail: edit what it loads.
        "prosody": resolve_in_root(root, linked)
        if linked.is_symlink() or linked.exists()
        else None,
        "configjs": root / f"etc/jitsi/meet/{domain}-config.js",
        "jicofo": root / "etc/jitsi/jicofo/jicofo.conf",
        "properties": root / "etc/jitsi/jicofo/sip-communicator.properties",
    }
    if found["prosody"] is None:
        found["prosody"] = root / f"etc/prosody/conf.avail/{domain}.cfg.lua"
    missing = [_shown(root, found[k]) for k in ("prosody", "configjs") if not found[k].is_file()]
    if not found["jicofo"].is_file() and not found["properties"].is_file():
        missing.append("/etc/jitsi/jicofo/jicofo.conf (or sip-communicator.properties)")
    if missing:
        raise Refusal(
            f"files missing under {root}: {', '.join(missing)}; "
            f"is Jitsi Meet installed for {domain}?"
        )
    return {k: (p if p.is_file() else None) for k, p in found.items()}


def _check_prosody(path: pathlib.Path, text: str, domain: str, guest: str) -> None:
    """Refuses unless the result reads as intended, by our parser and by Prosody's own loader."""
    parsed = sections(text)
    main = [v.text for s in parsed if s.name == domain for v in assignments(s, "authentication")]
    if main[-1:] != [prosody.TARGET_PROVIDER]:
        raise Refusal(f"internal error: {domain} would not be internal_hashed; nothing written")
    if not loader.available():
        return
    queries = [
        (domain, "authentication"),
        (guest, "authentication"),
        (guest, "c2s_require_encryption"),
    ]
    got = loader.read_values(str(path), text, queries)
    if got is None:
        return
    ok = (
        got[(domain, "authentication")] == prosody.TARGET_PROVIDER
        and got[(guest, "defined")] == "true"
        and got[(guest, "authentication")] in prosody.ANONYMOUS_PROVIDERS
        and got[(guest, "c2s_require_encryption")] == "false"
    )
    if not ok:
        raise Refusal(
            f"Prosody's loader reads {path.name} otherwise than intended (another file or a global "
            f"setting overriding {domain} or {guest}?); nothing written"
        )


def plan(root: pathlib.Path, domain: str, guest: str) -> list[Change]:
    """Every change to make, all validated; raises Refusal before anything is written."""
    files = _find(root, domain)
    changes = []
    path = files["prosody"]
    old = read_text(path)
    new, provider = prosody.secure(old, domain, guest, root)
    _check_prosody(path, new, domain, guest)
    what = f"{domain} on internal_hashed, anonymous guest host {guest}"
    if new != old:
        what += f' ("{provider}")'
    changes.append(Change(path, _shown(root, path), what, "prosody", old, new))

    path = files["configjs"]
    old = read_text(path)
    try:
        new = configjs.secure(old, guest)
    except configjs.NotJitsiConfig as e:
        raise Refusal(f"config.js: {e}; is this a Jitsi config.js?") from None
    try:
        named = configjs.anonymous_domain(new)
    except configjs.NotJitsiConfig as e:
        raise Refusal(f"config.js once edited: {e}; nothing written") from None
    if named != guest:
        raise Refusal(f"internal error: config.js would not name {guest}; nothing written")
    changes.append(
        Change(path, _shown(root, path), f"hosts.anonymousdomain = '{guest}'", None, old, new)
    )

    if path := files["jicofo"]:
        old = read_text(path)
        new = jicofo.secure(old, domain)
        if new != old or not jicofo.plainly_set(new):
            jicofo.check_with_hocon_tool(new, domain)
        what = f'jicofo.authentication {{ enabled = true, type = XMPP, login-url = "{domain}" }}'
        changes.append(Change(path, _shown(root, path), what, "jicofo", old, new))

    if path := files["properties"]:
        old = read_text(path)
        new = properties.secure(old, domain)
        if set(properties.auth_urls(new)) != {f"XMPP:{domain}"}:
            raise Refusal(
                f"internal error: {path.name} would not say XMPP:{domain}; nothing written"
            )
        changes.append(
            Change(path, _shown(root, path), f"{properties.KEY}=XMPP:{domain}", "jicofo", old, new)
        )
    return changes
