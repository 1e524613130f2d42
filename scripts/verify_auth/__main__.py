#!/usr/bin/env python3
"""Proves a Jitsi Meet server is secured, by logging in over XMPP as its web client does.

    verify_auth --domain DOMAIN [--guest-domain GUEST] [--transports bosh,websocket]
                   [--bosh-url URL] [--websocket-url URL] [--connect ADDRESS]
                   [--ca-file FILE | --ca-env NAME | --insecure] [--closed-ports LIST]
                   [--expect-address ADDRESS] [--timeout SECONDS] [--focus-wait SECONDS]
                   [--bridges N [--bridges-wait SECONDS] [--jicofo-url URL]] < moderators.json

stdin: {"user": "password", ...} (empty: no moderator checks). One line per check: PASS, FAIL,
SKIP or WARN, the check, and what the server said. Exit 0 when no check failed, 1 when one did or
an endpoint is unusable, 2 for bad arguments. Python 3 standard library only: it runs on the VM.
"""

import os
import sys
import urllib.parse

# Run from a checkout too, it must leave no byte code in scripts/: the deployment ships
# that folder whole.
sys.dont_write_bytecode = True
if not __package__:
    # Run as `python3 scripts/verify_auth`: import this folder and scripts/shared as packages of
    # scripts/, so no module of this folder can shadow another one's by name.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from shared.launch import forget_cached_main

    forget_cached_main(__file__)

from verify_auth import args as cli  # noqa: E402
from verify_auth import credentials, trust  # noqa: E402
from verify_auth.bridges import bridges_serve_only_jicofo  # noqa: E402
from verify_auth.checks import (  # noqa: E402
    anonymous_refused,
    config_js_names_guest,
    guest_allowed,
    moderators_authenticate,
)
from verify_auth.focus import focus_requires_login  # noqa: E402
from verify_auth.net import Deadline, Dialer, EndpointError  # noqa: E402
from verify_auth.ports import ports_closed  # noqa: E402
from verify_auth.probe import FAIL, STATUSES, Probe, Transport  # noqa: E402
from verify_auth.resolve import address_expected  # noqa: E402

# In the order of their numbers; True: the check runs once over each transport.
CHECKS = [
    (anonymous_refused, True),
    (guest_allowed, True),
    (moderators_authenticate, True),
    (config_js_names_guest, False),
    (focus_requires_login, True),
    (ports_closed, False),
    (address_expected, False),
    (bridges_serve_only_jicofo, False),
]
# The budget of each transport's checks, in --timeout steps (150 s by default): far more than a
# working server needs, and a bound however slow one is. --focus-wait comes on top, once; checks
# 6 and 7 bound themselves by --timeout; check 8 gets RUN_BUDGET_STEPS more, plus --bridges-wait.
RUN_BUDGET_STEPS = 15


def probe_from(argv: list[str]) -> Probe:
    args = cli.parse(argv)
    accounts = credentials.moderators(credentials.read_stdin(), args.domain)
    dialer = Dialer(trust.tls_context(args), args.timeout, args.connect)
    urls = {"bosh": args.bosh_url, "websocket": args.websocket_url}
    transports = [
        Transport(name, urllib.parse.urlsplit(urls[name]), dialer) for name in args.transports
    ]
    budget = RUN_BUDGET_STEPS * args.timeout * len(transports) + args.focus_wait
    if args.bridges is not None:
        budget += RUN_BUDGET_STEPS * args.timeout + args.bridges_wait
    return Probe(
        transports=transports,
        dialer=dialer,
        config_url=urllib.parse.urlsplit(urllib.parse.urljoin(args.bosh_url, "/config.js")),
        domain=args.domain,
        guest=args.guest_domain,
        moderators=accounts,
        run=Deadline(budget),
        timeout=args.timeout,
        focus_wait=args.focus_wait,
        closed_ports=args.closed_ports,
        expect_address=args.expect_address,
        bridges=args.bridges,
        bridges_wait=args.bridges_wait,
        jicofo_url=urllib.parse.urlsplit(args.jicofo_url),
    )


def run(probe: Probe) -> dict[str, int]:
    """Runs every check, printing one line per result; returns how many of each kind."""
    counts = dict.fromkeys(STATUSES, 0)
    unusable: set[str] = set()
    for number, (check, per_transport) in enumerate(CHECKS, start=1):
        for transport in probe.transports if per_transport else [None]:
            if transport is None:
                results = check(probe)
            elif transport.name in unusable:
                continue
            else:
                try:
                    results = check(probe, transport)
                except EndpointError as error:
                    # Nothing later can reach the server this way either: say so once.
                    where = transport.url.geturl()
                    print(f"{FAIL} {number} {where} is unusable: {error}", flush=True)
                    print(f"verify_auth: {where}: its later checks did not run", file=sys.stderr)
                    unusable.add(transport.name)
                    counts[FAIL] += 1
                    continue
            for result in results:
                counts[result.status] += 1
                print(result.line(), flush=True)
    return counts


def main(argv: list[str]) -> int:
    try:
        probe = probe_from(argv)
    except cli.UsageError as error:
        print(f"verify_auth: error: {error}", file=sys.stderr)
        return 2
    counts = run(probe)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    print(f"verify_auth: {summary}", file=sys.stderr)
    return 1 if counts[FAIL] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
