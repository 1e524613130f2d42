"""The whole step: check everything, then change only what differs, then restart only that."""

import pathlib
from dataclasses import dataclass

from moderators.prosody import Prosodyctl
from secure_domain import files, services

from . import account, internal_room, jvb_conf, legacy
from .errors import EXIT_FAILED, EXIT_NOT_READY, Refusal

JVB_CONF = "etc/jitsi/videobridge/jvb.conf"
LEGACY = "etc/jitsi/videobridge/sip-communicator.properties"
BRIDGE = "jitsi-videobridge2"


@dataclass
class Edit:
    path: pathlib.Path  # the real file (a symlink's target)
    shown: str  # its path on the server, for messages
    what: str
    service: str  # what must restart to read it
    old: str
    new: str


def _site_file(root: pathlib.Path, domain: str) -> pathlib.Path:
    """The file Prosody loads for DOMAIN: conf.d's entry, usually a link into conf.avail."""
    for folder in ("conf.d", "conf.avail"):
        path = files.resolve_in_root(root, root / f"etc/prosody/{folder}/{domain}.cfg.lua")
        if path.is_file():
            return path
    raise Refusal(
        f"no /etc/prosody/conf.d/{domain}.cfg.lua under {root}: is Jitsi Meet installed for "
        f"{domain}?",
        EXIT_NOT_READY,
    )


def _edits(root: pathlib.Path, domain: str, login: tuple[str, str], password: str) -> list[Edit]:
    """Both files, edited in memory and validated; nothing is written here."""
    path = _site_file(root, domain)
    old = files.read_text(path)
    new = internal_room.filtered(old, domain)
    if new != old:
        internal_room.check(str(path), new, domain)
    what = f'internal.auth.{domain} only for auth.{domain} ("{internal_room.MODULE}")'
    site = Edit(path, "/" + str(path.relative_to(root)), what, "prosody", old, new)

    path = root / JVB_CONF
    if not path.is_file():
        raise Refusal(
            f"/{JVB_CONF} not found under {root}: is the local bridge installed?", EXIT_NOT_READY
        )
    old_legacy = files.read_text(root / LEGACY) if (root / LEGACY).is_file() else ""
    old = files.read_text(path)
    if legacy.logs_in(old_legacy, login) and not jvb_conf.logs_in(old, login):
        new = old  # a 2020-era bridge: its login is in the legacy file alone
    else:
        new = jvb_conf.with_password(old, login, password)
    if new != old:
        jvb_conf.check_with_hocon_tool(new, login, password)
    bridge = Edit(path, f"/{JVB_CONF}", "the local bridge's PASSWORD", BRIDGE, old, new)
    if not legacy.logs_in(old_legacy, login):
        return [site, bridge]
    new_legacy = legacy.with_password(old_legacy, login, password)
    what = "the local bridge's legacy PASSWORD, read before jvb.conf"
    return [site, bridge, Edit(root / LEGACY, f"/{LEGACY}", what, BRIDGE, old_legacy, new_legacy)]


def run(args, password: str, say) -> None:
    prosody = Prosodyctl(args.prosody_config, args.timeout)
    jid = account.check_install(prosody, args.domain)
    login = tuple(jid.split("@"))
    try:
        edits = _edits(args.root, args.domain, login, password)
    except files.Refusal as e:  # secure_domain's lexers and loader: the files are not usable
        raise Refusal(str(e), EXIT_NOT_READY) from e
    # Prosody first: it is what most likely fails (Prosody 13 stopped), and then nothing changed.
    say(account.converge(prosody, jid, password))
    changed = set()
    for edit in edits:
        if edit.new == edit.old:
            say(f"Kept {edit.shown}: {edit.what} already set")
            continue
        # Re-read right before writing: refuse rather than overwrite a concurrent edit.
        if files.read_text(edit.path) != edit.old:
            raise Refusal(f"{edit.shown} changed while this tool ran; run it again", EXIT_FAILED)
        backup = files.replace_with_backup(edit.path, edit.old, edit.new)
        say(f"Changed {edit.shown}: {edit.what} (previous version in {backup.name})")
        changed.add(edit.service)
    if args.root.resolve() == pathlib.Path("/"):
        try:
            services.restart(changed, say)
        except files.Refusal as e:
            raise Refusal(str(e), EXIT_FAILED) from e
