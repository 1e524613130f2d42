"""Check 6 (--closed-ports): ports that only the server itself may use are closed from here.

Prosody's c2s, s2s, HTTP and component ports, jicofo's and the videobridge's HTTP ports: each must
refuse or drop a connection from outside. All ports are tried at once, with non-blocking
connects, so the whole check takes at most --timeout however many ports are filtered.
"""

import errno
import os
import selectors
import socket
import time

from .probe import FAIL, PASS, Probe, Result
from .resolve import ResolveError, addresses

OPEN, NO_ANSWER = "open", "no answer"
IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN}


def knock(address: str, ports: tuple[int, ...], limit: float) -> dict[int, str]:
    """What a TCP connect to each port found: OPEN, NO_ANSWER, or the refusal's reason."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    found: dict[int, str] = {}
    selector = selectors.DefaultSelector()
    sockets = []
    try:
        for port in ports:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setblocking(False)
            code = sock.connect_ex((address, port))
            if code == 0 or code in IN_PROGRESS:
                # Connected or connecting: it becomes writable once the handshake ends, either
                # way, and SO_ERROR then says how.
                selector.register(sock, selectors.EVENT_WRITE, port)
            else:
                found[port] = os.strerror(code)
        end = time.monotonic() + limit
        while selector.get_map() and (left := end - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                selector.unregister(key.fileobj)
                code = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                found[key.data] = OPEN if code == 0 else os.strerror(code)
    finally:
        selector.close()
        for sock in sockets:
            sock.close()
    return {port: found.get(port, NO_ANSWER) for port in ports}


def ports_closed(probe: Probe) -> list[Result]:
    if not probe.closed_ports:
        return []
    check = f"6 ports {','.join(map(str, probe.closed_ports))} closed from here"
    address = probe.dialer.address
    if address is None:
        try:
            address = addresses(probe.domain, socket.AF_UNSPEC, probe.timeout)[0]
        except ResolveError as error:
            seen = f"cannot tell: {probe.domain}: {error}; give --connect ADDRESS"
            return [Result(FAIL, check, seen)]
    found = knock(address, probe.closed_ports, probe.timeout)
    accepted = [str(port) for port, outcome in found.items() if outcome == OPEN]
    if accepted:
        seen = f"{address} accepts a connection on port {', '.join(accepted)}: firewall it"
        return [Result(FAIL, check, seen)]
    by_outcome: dict[str, list[str]] = {}
    for port, outcome in found.items():
        by_outcome.setdefault(outcome.lower(), []).append(str(port))
    seen = "; ".join(f"{outcome} on {', '.join(ports)}" for outcome, ports in by_outcome.items())
    return [Result(PASS, check, f"{address}: {seen}")]
