"""Logging in to a test Prosody as a real XMPP client would (slixmpp), synchronously.

Each attempt runs in an event loop of its own, so tests stay plain functions. An attempt answers
True (the session started) or False (the server's SASL refused it, or offered no mechanism the
client may use); anything else (no connection, no answer in time) raises LoginError, so a test
that expects a refusal cannot pass because the server was down.
"""

import asyncio
import logging

import slixmpp

# slixmpp logs every refused login at ERROR; the tests report outcomes themselves.
logging.getLogger("slixmpp").setLevel(logging.CRITICAL)

DEFAULT_TIMEOUT = 10.0


class LoginError(Exception):
    """The attempt ended without an answer from the server's authentication."""


class _Attempt(slixmpp.ClientXMPP):
    def __init__(self, jid: str, password: str, loop: asyncio.AbstractEventLoop):
        # SCRAM-SHA-1 is what a Jitsi client uses on the main host, allowed here without TLS as
        # c2s_require_encryption = false permits; without a local part slixmpp picks ANONYMOUS.
        mechanisms = {"unencrypted_scram": True, "use_mech": "SCRAM-SHA-1" if password else None}
        super().__init__(jid, password, plugin_config={"feature_mechanisms": mechanisms}, loop=loop)
        # The test port is plaintext: no direct TLS, no STARTTLS (the test hosts have no
        # certificates).
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        self.outcome: asyncio.Future = loop.create_future()
        self.add_event_handler("session_start", lambda _: self._settle(True))
        self.add_event_handler("failed_all_auth", lambda _: self._settle(False))
        self.add_event_handler("connection_failed", self._connection_failed)

    def _settle(self, logged_in: bool) -> None:
        if not self.outcome.done():
            self.outcome.set_result(logged_in)

    def _connection_failed(self, error) -> None:
        if not self.outcome.done():
            self.outcome.set_exception(LoginError(f"cannot connect: {error}"))


async def _attempt(jid: str, password: str, port: int, timeout: float) -> bool:
    client = _Attempt(jid, password, asyncio.get_running_loop())
    client.connect("127.0.0.1", port)
    try:
        return await asyncio.wait_for(client.outcome, timeout)
    except asyncio.TimeoutError as e:
        raise LoginError(f"no authentication result for {jid} within {timeout}s") from e
    finally:
        client.cancel_connection_attempt()
        client.abort()


def _run(jid: str, password: str, port: int, timeout: float) -> bool:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_attempt(jid, password, port, timeout))
    finally:
        # slixmpp leaves background tasks (output filters, stream-end waits): end them here, or
        # they complain on a closed loop when garbage-collected.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


def password_login(port: int, jid: str, password: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether USER@HOST may log in with `password` (SCRAM-SHA-1 on the plaintext port)."""
    return _run(jid, password, port, timeout)


def anonymous_login(port: int, host: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether an anonymous client may log in to `host`."""
    return _run(host, "", port, timeout)
