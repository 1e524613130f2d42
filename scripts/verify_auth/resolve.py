"""Check 7 (--expect-address): the domain resolves to the server's reserved address.

A missing or stale DNS record is worth a WARN, never a FAIL: the other checks reach the server at
--connect whatever DNS says, and a record made a minute ago may not have propagated yet. Also the
bounded lookup check 6 uses when no --connect address is given.
"""

import ipaddress
import socket
import threading

from .net import describe
from .probe import PASS, WARN, Probe, Result


class ResolveError(Exception):
    """The name did not resolve (or not in time); the message says which."""


def addresses(name: str, family: int, limit: float) -> list[str]:
    """The name's addresses, in the resolver's order, within `limit` seconds."""
    answer: dict = {}

    def ask() -> None:
        try:
            answer["infos"] = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
        except OSError as error:
            answer["error"] = error

    # getaddrinfo has no timeout of its own: ask in a thread that the process may leave behind.
    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise ResolveError(f"no DNS answer within {limit:g} s")
    if "error" in answer:
        raise ResolveError(f"it does not resolve: {describe(answer['error'])}")
    # An IPv6 answer may carry a zone ("fe80::1%eth0"): the address is what comes before it.
    found = (str(ipaddress.ip_address(info[4][0].partition("%")[0])) for info in answer["infos"])
    return list(dict.fromkeys(found))


def address_expected(probe: Probe) -> list[Result]:
    if probe.expect_address is None:
        return []
    expected = ipaddress.ip_address(probe.expect_address)
    kind, family = ("A", socket.AF_INET) if expected.version == 4 else ("AAAA", socket.AF_INET6)
    try:
        found = addresses(probe.domain, family, probe.timeout)
    except ResolveError as error:
        seen = str(error)
    else:
        if str(expected) in found:
            return [Result(PASS, f"7 {probe.domain} resolves to {expected}")]
        seen = f"it resolves to {', '.join(found)}"
    check = f"7 {probe.domain} has no {kind} record for {expected} yet ({seen})"
    return [Result(WARN, check, "create or fix it")]
