"""The one shared bridge account, jvb@auth.DOMAIN, in Prosody: checked, then re-passworded.

Everything Prosody-side is the moderator tool's code (scripts/moderators/prosody.py, sync.py):
the password reaches prosodyctl and the stored-account check on stdin only.
"""

from moderators.prosody import Prosodyctl
from moderators.sync import store_password

from .errors import EXIT_NOT_READY, Refusal

USER = "jvb"
PROVIDER = "internal_hashed"


def _require_host(prosody: Prosodyctl, host: str, why: str) -> None:
    """Refuses (not ready) unless Prosody's own loader serves `host` on internal_hashed."""
    verdict = prosody.host_verdict(host)
    where = prosody.config
    if verdict[0] == "unloadable":
        raise Refusal(f"cannot load {where}: {verdict[-1]}", EXIT_NOT_READY)
    if verdict[0] != "host" or verdict[-1] != PROVIDER:
        state = {"absent": "not configured", "component": "a Component", "disabled": "disabled"}
        found = state.get(verdict[0], f'on authentication = "{verdict[-1]}"')
        raise Refusal(
            f"{host} is {found} in {where}, not a VirtualHost on {PROVIDER}: {why}",
            EXIT_NOT_READY,
        )


def check_install(prosody: Prosodyctl, domain: str) -> str:
    """The bridge account's JID, once the install is a secured Jitsi one."""
    _require_host(prosody, domain, "secure the domain first (scripts/secure_domain)")
    auth = f"auth.{domain}"
    _require_host(prosody, auth, "is this a Jitsi Meet install for --domain?")
    return f"{USER}@{auth}"


def converge(prosody: Prosodyctl, jid: str, password: str) -> str:
    """Gives the account `password` unless it already holds it (then nothing is written)."""
    host = jid.split("@")[1]
    if prosody.holds_password(USER, host, password):
        return f"Kept {jid} (password unchanged)"
    # The install made the account: passwd first; adduser only if it went missing.
    created = store_password(prosody, jid, password, exists=True)
    return f"{'Created' if created else 'Changed password of'} {jid}"
