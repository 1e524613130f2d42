"""Check 5: the conference focus (jicofo) lets only authenticated users create rooms.

Jitsi's web client asks `focus.DOMAIN` for a room with a `conference` IQ before joining the MUC.
jicofo, with XMPP authentication on, answers `not-authorized` when the requester's JID is not on
the login domain and the room does not exist yet, and needs a `machine-uid` from authenticated
users. The probe sends the same request for a fresh random room, once as a guest and once as a
moderator. Jicofo drops a room nobody joins, so the moderator's request leaves nothing behind.
"""

import secrets
import time

from .probe import FAIL, PASS, SKIP, Probe, Result, Transport, guarded
from .sasl import Anonymous
from .xmpp import ProtocolError, error_condition

FOCUS_NS = "http://jitsi.org/protocol/focus"
# What a server says when no focus answers at focus.DOMAIN: nothing to judge, so SKIP. Prosody
# bounces stanzas for a declared but disconnected component with remote-server-timeout, and for
# an undeclared domain (without server-to-server) with not-allowed; jicofo uses neither here.
NO_FOCUS = {
    "not-allowed",
    "service-unavailable",
    "item-not-found",
    "remote-server-not-found",
    "remote-server-timeout",
    "feature-not-implemented",
}
# With --focus-wait, how long to pause between two asks while no focus answers.
FOCUS_RETRY = 3.0


def _room_request(domain: str) -> tuple[str, str]:
    room = f"verify-auth-{secrets.token_hex(6)}@conference.{domain}"
    request = (
        f"<conference xmlns='{FOCUS_NS}' room='{room}' machine-uid='{secrets.token_hex(16)}'/>"
    )
    return room, request


def ask_focus(probe: Probe, client, wait: float) -> str:
    """'accepted', the error condition, or 'timeout', for one new-room request."""
    room, request = _room_request(probe.domain)
    answer = client.iq("set", request, to=f"focus.{probe.domain}", wait=wait)
    if answer is None:
        return "timeout"
    if answer.get("type") == "result":
        return "accepted"
    return error_condition(answer)


def _as_guest(probe: Probe, transport: Transport, wait: float) -> str:
    with probe.session(transport, probe.guest, extra=2 * wait) as client:
        if not client.authenticate(Anonymous())[0]:
            raise ProtocolError(f"anonymous login to {probe.guest} failed (see check 2)")
        client.bind()
        return ask_focus(probe, client, wait)


def _absent(answer: str) -> bool:
    return answer == "timeout" or answer.partition(":")[0] in NO_FOCUS


def _as_guest_once_focus_answers(probe: Probe, transport: Transport, wait: float) -> str:
    """The guest's answer; with --focus-wait, asks again while no focus answers yet."""
    give_up = probe.focus_give_up()
    answer = _as_guest(probe, transport, wait)
    while _absent(answer) and time.monotonic() + FOCUS_RETRY < give_up:
        time.sleep(FOCUS_RETRY)
        answer = _as_guest(probe, transport, wait)
    return answer


def _as_moderator(probe: Probe, transport: Transport, wait: float) -> tuple[str, str]:
    user, password = next(iter(probe.moderators.items()))
    with probe.session(transport, probe.domain, extra=2 * wait) as client:
        mechanism = probe.password_mechanism(client, transport, user, password)
        if mechanism is None or not client.authenticate(mechanism)[0]:
            return user, "login failed"
        client.bind()
        return user, ask_focus(probe, client, wait)


def focus_requires_login(probe: Probe, transport: Transport) -> list[Result]:
    focus = f"focus.{probe.domain}"
    check = f"5 {focus} refuses a guest's new room and accepts a moderator's over {transport.name}"
    # The focus gets one --timeout to answer each request (plus the poll under way then): a
    # silent focus costs seconds, as --timeout says, not a fixed wait.
    wait = probe.timeout
    results: list[Result] = []
    with guarded(check, results):
        guest = _as_guest_once_focus_answers(probe, transport, wait)
        if _absent(guest):
            said = "no answer" if guest == "timeout" else guest
            seen = f"no conference focus answers at {focus} ({said})"
            if probe.focus_wait:
                # Asked to wait for jicofo: one that never came is a broken deployment.
                seen += f" within --focus-wait {probe.focus_wait:g} s: is jicofo running?"
                return [Result(FAIL, check, seen)]
            return [Result(SKIP, check, seen)]
        if guest == "accepted":
            seen = "a guest was allowed to create a room: jicofo does not require authentication"
            return [Result(FAIL, check, seen)]
        if guest.partition(":")[0] != "not-authorized":
            return [Result(FAIL, check, f"a guest's request got {guest}, not not-authorized")]
        if not probe.moderators:
            seen = "guest refused, but no moderator credentials to show the focus works at all"
            return [Result(SKIP, check, seen)]
        user, moderator = _as_moderator(probe, transport, wait)
        if moderator == "accepted":
            return [Result(PASS, check, f"guest: {guest}; moderator {user}: accepted")]
        if moderator == "login failed":
            return [Result(SKIP, check, f"guest refused; moderator {user} cannot log in (check 3)")]
        seen = f"moderator {user}'s request got {moderator}; is jicofo's login-url {probe.domain}?"
        results.append(Result(FAIL, check, seen))
    return results
