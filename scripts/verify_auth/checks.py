"""Checks 1 to 4 of the probe: who may log in where, and what the web client is told.

Each check returns Results; a server that breaks the protocol fails the check it broke. Only an
unusable endpoint (EndpointError) escapes, because then no later check can say anything either.
"""

import contextlib
import secrets
from dataclasses import dataclass, field

from shared.configjs import NotJitsiConfig, anonymous_domain

from .bosh import Deadline, Endpoint, EndpointError, SessionTerminated
from .sasl import Anonymous, Plain, SaslError, ScramSha1
from .xmpp import ProtocolError, XmppClient

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass
class Result:
    status: str
    check: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.status} {self.check}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Probe:
    """What to probe and how; passwords stay out of the repr."""

    endpoint: Endpoint
    domain: str
    guest: str
    moderators: dict[str, str] = field(repr=False)
    run: Deadline
    timeout: float
    # Seconds check 5 keeps asking while no focus answers; 0: ask once, and SKIP without one.
    focus_wait: float = 0.0

    def session(self, host: str, extra: float = 0) -> XmppClient:
        """A client session to `host`, with its own time budget (plus `extra`) inside the run's."""
        return XmppClient(self.endpoint, host, Deadline(3 * self.timeout + extra, self.run))

    def password_mechanism(self, client: XmppClient, user: str, password: str):
        """SCRAM-SHA-1 when offered; PLAIN only where TLS is verified; else None."""
        offered = client.mechanisms()
        if "SCRAM-SHA-1" in offered:
            return ScramSha1(user, password)
        if "PLAIN" in offered and self.endpoint.secure:
            return Plain(user, password)
        return None


@contextlib.contextmanager
def guarded(check: str, results: list[Result]):
    """Runs a check body; a server that breaks the protocol or ends the session fails the check."""
    try:
        yield
    except SessionTerminated as error:
        results.append(Result(FAIL, check, f"{error}; is the host served by this server?"))
    except (ProtocolError, SaslError) as error:
        results.append(Result(FAIL, check, str(error)))


def anonymous_refused(probe: Probe) -> list[Result]:
    check = f"1 anonymous login to {probe.domain} is refused"
    results: list[Result] = []
    with guarded(check, results), probe.session(probe.domain) as client:
        offered = ", ".join(client.mechanisms()) or "none"
        accepted, condition = client.authenticate(Anonymous())
        if accepted:
            seen = f"SASL ANONYMOUS succeeded (offered: {offered}): anyone can open rooms"
            results.append(Result(FAIL, check, seen))
        else:
            results.append(Result(PASS, check, f"{condition} (offered: {offered})"))
    return results


def guest_allowed(probe: Probe) -> list[Result]:
    check = f"2 anonymous login to {probe.guest} succeeds"
    results: list[Result] = []
    with guarded(check, results), probe.session(probe.guest) as client:
        accepted, condition = client.authenticate(Anonymous())
        if accepted:
            results.append(Result(PASS, check, f"bound as {client.bind()}"))
        else:
            results.append(Result(FAIL, check, f"refused ({condition}): guests cannot join"))
    return results


def moderator_login(probe: Probe, user: str, password: str) -> tuple[bool, str]:
    """Logs one account in on DOMAIN: (accepted, what the server said)."""
    with probe.session(probe.domain) as client:
        mechanism = probe.password_mechanism(client, user, password)
        if mechanism is None:
            offered = ", ".join(client.mechanisms()) or "none"
            raise ProtocolError(
                f"the server offers {offered}; the probe needs SCRAM-SHA-1 (PLAIN only over https"
                " with a verified certificate)"
            )
        accepted, condition = client.authenticate(mechanism)
        if not accepted:
            return False, condition
        return True, f"bound as {client.bind()} ({mechanism.name})"


def moderators_authenticate(probe: Probe) -> list[Result]:
    if not probe.moderators:
        return [Result(SKIP, "3 moderator login", "no moderator credentials on stdin")]
    results: list[Result] = []
    for user, password in probe.moderators.items():
        check = f"3 moderator {user} authenticates on {probe.domain}"
        with guarded(check, results):
            accepted, seen = moderator_login(probe, user, password)
            results.append(Result(PASS if accepted else FAIL, check, seen))
    user, password = next(iter(probe.moderators.items()))
    wrong = secrets.token_urlsafe(16)
    while wrong == password:
        wrong = secrets.token_urlsafe(16)
    check = f"3 a wrong password for {user} is refused"
    with guarded(check, results):
        accepted, seen = moderator_login(probe, user, wrong)
        if accepted:
            results.append(Result(FAIL, check, "the server accepted a wrong password"))
        else:
            results.append(Result(PASS, check, seen))
    return results


def config_js_names_guest(probe: Probe) -> list[Result]:
    url = probe.endpoint.url
    where = f"{url.scheme}://{url.netloc}/config.js"
    check = f"4 {where} sets hosts.anonymousdomain to {probe.guest}"
    try:
        status, body = probe.endpoint.get("/config.js", Deadline(probe.timeout, probe.run))
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
