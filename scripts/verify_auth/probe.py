"""What every check shares: the result kinds, the transports, and the Probe (what to probe, how).

PASS and FAIL prove something either way; SKIP says a check could not judge (and why); WARN points
at something to fix that does not make the server insecure (a DNS record not created yet), so it
never changes the exit code.
"""

import contextlib
import time
import urllib.parse
from dataclasses import dataclass, field

from .bosh import BoshSession
from .net import Deadline, Dialer, SessionTerminated
from .sasl import Plain, SaslError, ScramSha1
from .xmpp import ProtocolError, XmppClient
from .xmpp_websocket import WebSocketSession

PASS, FAIL, SKIP, WARN = "PASS", "FAIL", "SKIP", "WARN"
STATUSES = (PASS, FAIL, SKIP, WARN)
SESSIONS = {BoshSession.name: BoshSession, WebSocketSession.name: WebSocketSession}


@dataclass
class Result:
    status: str
    check: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.status} {self.check}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class Transport:
    """One way to speak XMPP to the server: `bosh` or `websocket`, at its URL."""

    name: str
    url: urllib.parse.SplitResult
    dialer: Dialer

    def session(self, domain: str):
        return SESSIONS[self.name](self.url, self.dialer, domain)

    @property
    def secure(self) -> bool:
        return self.dialer.secure(self.url)


@dataclass
class Probe:
    """What to probe and how; passwords stay out of the repr."""

    transports: list[Transport]
    dialer: Dialer
    # config.js is read from this URL's origin (the BOSH URL's).
    config_url: urllib.parse.SplitResult
    domain: str
    guest: str
    moderators: dict[str, str] = field(repr=False)
    run: Deadline
    timeout: float
    # Seconds check 5 keeps asking while no focus answers; 0: ask once, and SKIP without one.
    focus_wait: float = 0.0
    # Check 6: TCP ports that must refuse (or drop) a connection from here; check 7: the address
    # the domain should resolve to. Empty / None: the check does not run.
    closed_ports: tuple[int, ...] = ()
    expect_address: str | None = None
    # Check 8: how many operational bridges jicofo must count (None: the check does not run),
    # how long to wait for them, and where jicofo's REST API is.
    bridges: int | None = None
    bridges_wait: float = 0.0
    jicofo_url: urllib.parse.SplitResult | None = None
    _focus_give_up: float | None = field(default=None, repr=False)

    def session(self, transport: Transport, host: str, extra: float = 0) -> XmppClient:
        """A client session to `host`, with its own time budget (plus `extra`) inside the run's."""
        deadline = Deadline(3 * self.timeout + extra, self.run)
        return XmppClient(transport.session(host), deadline)

    def focus_give_up(self) -> float:
        """When check 5 stops waiting for a focus: --focus-wait from its first ask, shared by
        every transport, so a focus that never comes costs --focus-wait once, not per transport."""
        if self._focus_give_up is None:
            self._focus_give_up = time.monotonic() + self.focus_wait
        return self._focus_give_up

    @staticmethod
    def password_mechanism(client: XmppClient, transport: Transport, user: str, password: str):
        """SCRAM-SHA-1 when offered; PLAIN only where TLS is verified; else None."""
        offered = client.mechanisms()
        if "SCRAM-SHA-1" in offered:
            return ScramSha1(user, password)
        if "PLAIN" in offered and transport.secure:
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
