"""Checks 1 to 4 of the probe: who may log in where, and what the web client is told.

Checks 1 to 3 run once per transport and name it. A server that breaks the protocol fails the
check it broke; only an unusable endpoint (EndpointError) escapes, because then no later check
over that transport can say anything either.
"""

import secrets

from shared.configjs import MAX_CONFIG_BYTES, NotJitsiConfig, anonymous_domain

from . import net
from .net import Deadline, EndpointError
from .probe import FAIL, PASS, SKIP, Probe, Result, Transport, guarded
from .sasl import Anonymous
from .xmpp import ProtocolError


def anonymous_refused(probe: Probe, transport: Transport) -> list[Result]:
    check = f"1 anonymous login to {probe.domain} is refused over {transport.name}"
    results: list[Result] = []
    with guarded(check, results), probe.session(transport, probe.domain) as client:
        offered = ", ".join(client.mechanisms()) or "none"
        accepted, condition = client.authenticate(Anonymous())
        if accepted:
            seen = f"SASL ANONYMOUS succeeded (offered: {offered}): anyone can open rooms"
            results.append(Result(FAIL, check, seen))
        else:
            results.append(Result(PASS, check, f"{condition} (offered: {offered})"))
    return results


def guest_allowed(probe: Probe, transport: Transport) -> list[Result]:
    check = f"2 anonymous login to {probe.guest} succeeds over {transport.name}"
    results: list[Result] = []
    with guarded(check, results), probe.session(transport, probe.guest) as client:
        accepted, condition = client.authenticate(Anonymous())
        if accepted:
            results.append(Result(PASS, check, f"bound as {client.bind()}"))
        else:
            results.append(Result(FAIL, check, f"refused ({condition}): guests cannot join"))
    return results


def moderator_login(
    probe: Probe, transport: Transport, user: str, password: str
) -> tuple[bool, str]:
    """Logs one account in on DOMAIN: (accepted, what the server said)."""
    with probe.session(transport, probe.domain) as client:
        mechanism = probe.password_mechanism(client, transport, user, password)
        if mechanism is None:
            offered = ", ".join(client.mechanisms()) or "none"
            raise ProtocolError(
                f"the server offers {offered}; the probe needs SCRAM-SHA-1 (PLAIN only over TLS"
                " with a verified certificate)"
            )
        accepted, condition = client.authenticate(mechanism)
        if not accepted:
            return False, condition
        return True, f"bound as {client.bind()} ({mechanism.name})"


def moderators_authenticate(probe: Probe, transport: Transport) -> list[Result]:
    over = f"over {transport.name}"
    if not probe.moderators:
        return [Result(SKIP, f"3 moderator login {over}", "no moderator credentials on stdin")]
    results: list[Result] = []
    for user, password in probe.moderators.items():
        check = f"3 moderator {user} authenticates on {probe.domain} {over}"
        with guarded(check, results):
            accepted, seen = moderator_login(probe, transport, user, password)
            results.append(Result(PASS if accepted else FAIL, check, seen))
    user, password = next(iter(probe.moderators.items()))
    wrong = secrets.token_urlsafe(16)
    while wrong == password:
        wrong = secrets.token_urlsafe(16)
    check = f"3 a wrong password for {user} is refused {over}"
    with guarded(check, results):
        accepted, seen = moderator_login(probe, transport, user, wrong)
        if accepted:
            results.append(Result(FAIL, check, "the server accepted a wrong password"))
        else:
            results.append(Result(PASS, check, seen))
    return results


def config_js_names_guest(probe: Probe) -> list[Result]:
    url = probe.config_url
    check = f"4 {url.geturl()} sets hosts.anonymousdomain to {probe.guest}"
    try:
        # The reader's limit counts characters; in UTF-8 each takes at most four bytes.
        limit = 4 * MAX_CONFIG_BYTES
        status, body = net.get(probe.dialer, url, Deadline(probe.timeout, probe.run), limit)
    except EndpointError as error:
        return [Result(SKIP, check, f"config.js not readable ({error})")]
    if status != 200:
        return [Result(SKIP, check, f"config.js not served (HTTP {status})")]
    try:
        configured = anonymous_domain(body.decode("utf-8", errors="replace"))
    except NotJitsiConfig as error:
        return [Result(SKIP, check, f"not a Jitsi Meet config.js: {error}")]
    if configured is None:
        seen = "hosts.anonymousdomain is not set (commented out?): guests get a login prompt"
        return [Result(FAIL, check, seen)]
    if configured != probe.guest:
        return [Result(FAIL, check, f"hosts.anonymousdomain is '{configured}'")]
    return [Result(PASS, check)]
