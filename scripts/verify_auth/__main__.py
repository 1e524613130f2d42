#!/usr/bin/env python3
"""Proves a Jitsi Meet server is secured, by logging in over its public BOSH endpoint.

    verify_auth --domain DOMAIN [--guest-domain GUEST] [--bosh-url URL]
                   [--ca-file FILE | --insecure] [--timeout SECONDS] [--focus-wait SECONDS]
                   < moderators.json

stdin: {"user": "password", ...} (empty: no moderator checks). One line per check: PASS, FAIL or
SKIP, the check, and what the server said. Exit 0 when no check failed, 1 when one did or the
endpoint is unusable, 2 for bad arguments. Python 3 standard library only: it runs on the VM.
"""

import os
import sys

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
from verify_auth.bosh import Deadline, Endpoint, EndpointError  # noqa: E402
from verify_auth.checks import (  # noqa: E402
    FAIL,
    Probe,
    anonymous_refused,
    config_js_names_guest,
    guest_allowed,
    moderators_authenticate,
)
from verify_auth.focus import focus_requires_login  # noqa: E402

CHECKS = [
    anonymous_refused,
    guest_allowed,
    moderators_authenticate,
    config_js_names_guest,
    focus_requires_login,
]
# The whole run's budget: 12 times --timeout, plus 30 s for the focus check's two waits (for
# its answer as guest and as moderator), plus --focus-wait. Bounded however slow the server is.
RUN_BUDGET_STEPS, RUN_BUDGET_EXTRA = 12, 30


def probe_from(argv: list[str]) -> Probe:
    args = cli.parse(argv)
    accounts = cli.moderators(cli.read_stdin(), args.domain)
    tls = cli.tls_context(args) if args.bosh_url.startswith("https:") else None
    return Probe(
        endpoint=Endpoint(args.bosh_url, tls, args.timeout),
        domain=args.domain,
        guest=args.guest_domain,
        moderators=accounts,
        run=Deadline(RUN_BUDGET_STEPS * args.timeout + RUN_BUDGET_EXTRA + args.focus_wait),
        timeout=args.timeout,
        focus_wait=args.focus_wait,
    )


def main(argv: list[str]) -> int:
    try:
        probe = probe_from(argv)
    except cli.UsageError as error:
        print(f"verify_auth: error: {error}", file=sys.stderr)
        return 2
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for number, check in enumerate(CHECKS, start=1):
        try:
            results = check(probe)
        except EndpointError as error:
            # Nothing later can reach the server either: say so once and stop.
            print(f"{FAIL} {number} {probe.endpoint.url.geturl()} is unusable: {error}", flush=True)
            print("verify_auth: stopped; the remaining checks did not run", file=sys.stderr)
            return 1
        for result in results:
            counts[result.status] += 1
            print(result.line(), flush=True)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    print(f"verify_auth: {summary}", file=sys.stderr)
    return 1 if counts[FAIL] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
