"""Check 8 (with --bridges): the videobridges' room keeps guests out, and jicofo has its bridges.

Every videobridge logs in as jvb@auth.DOMAIN and joins jicofo's room
JvbBrewery@internal.auth.DOMAIN; jicofo takes whoever joins it and reports bridge stats for a
bridge, and sends it conferences, media included. So a guest who can join that room can be
handed meetings. The probe tries, as a guest: it sends the join, then asks the room for its
disco#info. Prosody handles one session's stanzas in order and a room answers a join at once, so
by the time the second answer comes, a join that worked has sent the guest its own presence.
jitsi-meet's muc_filter_access drops a refused join without a word, other refusals answer with
an error: either way no presence of ours comes.

How many bridges there are is jicofo's to say: on current releases the room hides its occupants
from anyone outside it (muc_hide_all). jicofo's REST API (`/stats`, on the VM only) counts the
bridges it would use, `bridge_selector.operational_bridge_count`.
"""

import json
import secrets
import time
import urllib.parse

from . import net
from .net import Deadline, Dialer, EndpointError
from .probe import FAIL, PASS, Probe, Result, Transport, guarded
from .sasl import Anonymous
from .xmpp import ProtocolError, error_condition, local_name

MUC_NS = "http://jabber.org/protocol/muc"
DISCO_INFO = "<query xmlns='http://jabber.org/protocol/disco#info'/>"
# With --bridges-wait, how long to pause between two asks while too few bridges are operational.
BRIDGES_RETRY = 5.0


def room(domain: str) -> str:
    # Jicofo's bridge.brewery-jid; room names are case-insensitive, Prosody answers in lower case.
    return f"jvbbrewery@internal.auth.{domain}"


def _guest_joins(probe: Probe, transport: Transport) -> tuple[bool, str]:
    """(True, _) when a guest got into the bridges' room; else (False, how it was kept out)."""
    where = f"{room(probe.domain)}/verify-auth-{secrets.token_hex(4)}"
    with probe.session(transport, probe.guest) as client:
        if not client.authenticate(Anonymous())[0]:
            raise ProtocolError(f"anonymous login to {probe.guest} failed (see check 2)")
        client.bind()
        join = f"<presence xmlns='jabber:client' to='{where}'><x xmlns='{MUC_NS}'/></presence>"
        client.send(join)
        # Answered after the join was: see the module's docstring.
        if client.iq("get", DISCO_INFO, to=room(probe.domain), wait=probe.timeout) is None:
            raise ProtocolError(
                f"the room did not answer within {probe.timeout:g} s, so whether it let the"
                " guest in cannot be told"
            )
        ours = client.received(
            lambda el: local_name(el) == "presence" and (el.get("from") or "").lower() == where
        )
        if any(p.get("type") not in ("error", "unavailable") for p in ours):
            client.send(f"<presence xmlns='jabber:client' type='unavailable' to='{where}'/>")
            return True, ""
        refused = [p for p in ours if p.get("type") == "error"]
        if refused:
            return False, f"refused ({error_condition(refused[0])})"
        return False, "its join was dropped"


def _operational(probe: Probe) -> int:
    """jicofo's count of the bridges it would use; EndpointError or ValueError when unreadable."""
    assert probe.jicofo_url is not None
    url = probe.jicofo_url._replace(path=probe.jicofo_url.path.rstrip("/") + "/stats")
    # Straight to jicofo's own host: --connect names the web server's address, not jicofo's.
    dialer = Dialer(probe.dialer.tls, probe.timeout)
    status, body = net.get(dialer, url, Deadline(probe.timeout, probe.run))
    if status != 200:
        raise EndpointError(f"GET {url.path}: HTTP {status}")
    stats = json.loads(body)
    selector = stats.get("bridge_selector") if isinstance(stats, dict) else None
    count = selector.get("operational_bridge_count") if isinstance(selector, dict) else None
    if not isinstance(count, int) or isinstance(count, bool):
        raise ValueError("no bridge_selector.operational_bridge_count in it")
    return count


def _bridges_counted(probe: Probe) -> Result:
    stats = urllib.parse.urlunsplit(probe.jicofo_url)
    check = f"8 jicofo counts at least {probe.bridges} operational bridges ({stats})"
    give_up = time.monotonic() + probe.bridges_wait
    while True:
        try:
            count = _operational(probe)
        except (EndpointError, ValueError) as error:
            seen = f"jicofo's /stats is unreadable ({error}): is jicofo running?"
            return Result(FAIL, check, seen)
        if count >= probe.bridges:
            return Result(PASS, check, f"{count} operational")
        if time.monotonic() + BRIDGES_RETRY >= give_up:
            break
        time.sleep(BRIDGES_RETRY)
    waited = f" within --bridges-wait {probe.bridges_wait:g} s" if probe.bridges_wait else ""
    seen = (
        f"{count} operational{waited}: are the bridges up, and can they reach the VM's"
        " Prosody (5222) with the password and certificate they were given?"
    )
    return Result(FAIL, check, seen)


def bridges_serve_only_jicofo(probe: Probe) -> list[Result]:
    if probe.bridges is None:
        return []
    # The room is the server's, not the transport's: the first one is enough.
    transport = probe.transports[0]
    check = f"8 a guest cannot join the bridges' room {room(probe.domain)} over {transport.name}"
    results: list[Result] = []
    with guarded(check, results):
        try:
            joined, seen = _guest_joins(probe, transport)
        except EndpointError as error:
            raise ProtocolError(f"{transport.url.geturl()} is unusable: {error}") from None
        if joined:
            seen = (
                "a guest joined it: jicofo would take it for a bridge and hand it meetings;"
                " enable muc_filter_access there (scripts/bridge_account)"
            )
            results.append(Result(FAIL, check, seen))
        else:
            results.append(Result(PASS, check, seen))
    results.append(_bridges_counted(probe))
    return results
