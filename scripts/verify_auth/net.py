"""Reaching the server: time budgets, TCP (to --connect or the URL's host), TLS, and HTTP on top.

Every network step is bounded by the Dialer's per-step limit and by a Deadline, so a dead or silent
server costs seconds, never a hang. TLS always names and verifies the URL's host, even when the
TCP connection goes to an address given with --connect.
"""

import http.client
import socket
import ssl
import time
import urllib.parse

MAX_RESPONSE_BYTES = 1_000_000
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
TLS_SCHEMES = ("https", "wss")


class EndpointError(Exception):
    """The endpoint cannot be used at all: unreachable, not what it should be, or too slow."""


class SessionTerminated(Exception):
    """The server ended the XMPP session; `condition` says why (a stream error or BOSH's own)."""

    def __init__(self, transport: str, condition: str):
        super().__init__(f"the server ended the {transport} session ({condition})")
        self.condition = condition


class Deadline:
    """A budget of seconds for one operation, never past its parent's (the whole run's)."""

    def __init__(self, seconds: float, parent: "Deadline | None" = None):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.parent = parent

    def left(self) -> float:
        own = self.end - time.monotonic()
        return own if self.parent is None else min(own, self.parent.left())

    def remaining(self) -> float:
        """Seconds left; raises once the budget (or the parent's) is spent."""
        left = self.left()
        if left <= 0:
            limit = self.seconds if self.parent is None else min(self.seconds, self.parent.seconds)
            raise EndpointError(f"no answer within {limit:g} s")
        return left


def describe(error: BaseException) -> str:
    """A short reason for a network error, without Python's class names where they add nothing."""
    if isinstance(error, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
        return "timed out"
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate not trusted ({error.verify_message});"
            " see --ca-file / --ca-env / --insecure"
        )
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


class Dialer:
    """How every connection is made: where TCP goes, the TLS policy, the per-step time limit."""

    def __init__(self, tls: ssl.SSLContext | None, timeout: float, address: str | None = None):
        self.tls = tls
        self.timeout = timeout
        # --connect: this address instead of the URL host's DNS answer.
        self.address = address

    def secure(self, url: urllib.parse.SplitResult) -> bool:
        """True only for TLS with a verified certificate (the only place PLAIN may go)."""
        verified = self.tls is not None and self.tls.verify_mode == ssl.CERT_REQUIRED
        return url.scheme in TLS_SCHEMES and verified

    def open(self, url: urllib.parse.SplitResult, deadline: Deadline) -> socket.socket:
        """A connected socket to the URL's server, TLS done for https/wss; EndpointError if not."""
        host = url.hostname or ""
        port = url.port or DEFAULT_PORTS[url.scheme]
        limit = min(self.timeout, deadline.remaining())
        try:
            sock = socket.create_connection((self.address or host, port), timeout=limit)
        except OSError as error:
            raise EndpointError(f"cannot connect ({describe(error)})") from None
        if url.scheme not in TLS_SCHEMES:
            return sock
        if self.tls is None:
            sock.close()
            raise EndpointError(f"{url.scheme} needs a TLS context")
        try:
            # The server name (SNI) and the certificate check are the URL's host, never the
            # --connect address: that is what a browser would check.
            return self.tls.wrap_socket(sock, server_hostname=host)
        except OSError as error:
            sock.close()
            raise EndpointError(f"cannot connect ({describe(error)})") from None


class HttpConnection(http.client.HTTPConnection):
    """http.client over a socket the Dialer opens, so --connect and the TLS policy apply."""

    def __init__(self, dialer: Dialer, url: urllib.parse.SplitResult, deadline: Deadline):
        port = url.port or DEFAULT_PORTS[url.scheme]
        super().__init__(url.hostname or "", port, timeout=dialer.timeout)
        # The Host header leaves out the scheme's own port, as a browser's does.
        self.default_port = DEFAULT_PORTS[url.scheme]
        self._dialer, self._url, self._deadline = dialer, url, deadline

    def connect(self) -> None:
        self.sock = self._dialer.open(self._url, self._deadline)


def get(
    dialer: Dialer,
    url: urllib.parse.SplitResult,
    deadline: Deadline,
    limit: int = MAX_RESPONSE_BYTES,
) -> tuple[int, bytes]:
    """A bounded GET of `url`: (HTTP status, body); EndpointError if the body is over `limit`
    bytes (never a body cut short, which could lose what its end says)."""
    conn = HttpConnection(dialer, url, deadline)
    try:
        conn.connect()
        conn.request("GET", url.path or "/")
        response = conn.getresponse()
        status, body = response.status, response.read(limit + 1)
    except (OSError, http.client.HTTPException) as error:
        raise EndpointError(f"GET {url.path}: {describe(error)}") from None
    finally:
        conn.close()
    if len(body) > limit:
        raise EndpointError(f"GET {url.path}: the answer is larger than {limit:,} bytes")
    return status, body
