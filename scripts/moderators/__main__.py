#!/usr/bin/env python3
"""Create, re-password or remove Jitsi moderators: accounts on the secured main XMPP host.

    moderators set USER --domain DOMAIN [--prosody-config FILE]   (password: one line on stdin)
    moderators remove USER --domain DOMAIN [--record FILE] [--prosody-config FILE]
    moderators sync --domain DOMAIN --names A,B,... [--record FILE] [--prosody-config FILE]
        (stdin: one JSON object {"A": "password", ...}; the accounts it manages become exactly
        these, and accounts it did not make are left alone)

Passwords go only to prosodyctl's stdin (adduser / passwd read them there, typed twice) and to
the stored-account check's stdin: never into an argument, the environment, a file or this tool's
output. Exit codes: 0 done (or nothing to do), 1 Prosody failed, 2 bad input, 3 DOMAIN (or the
record of managed names) not ready; on 2 and 3 nothing changed.
"""

import argparse
import os
import re
import sys

# Run from a checkout too, it must leave no byte code in scripts/: the deployment ships
# that folder whole.
sys.dont_write_bytecode = True
if not __package__:
    # Run as `python3 scripts/moderators`: import this folder and scripts/shared as packages of
    # scripts/, so no module of this folder can shadow another one's by name.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from shared.launch import forget_cached_main

    forget_cached_main(__file__)

from moderators.prosody import Prosodyctl, ProsodyError  # noqa: E402
from moderators.sync import (  # noqa: E402
    EXIT_CONFIG,
    EXIT_INPUT,
    EXIT_PROSODY,
    RECORD,
    USER_RULE,
    Incomplete,
    Record,
    Refusal,
    delete_account,
    invalid_user,
    read_credentials,
    store_password,
    sync,
)

DOMAIN_RULE = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
PROVIDER = "internal_hashed"
DEFAULT_TIMEOUT = 30.0


class OneLineErrors(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other refusal of this tool."""

    def error(self, message: str):
        self.exit(EXIT_INPUT, f"moderators: {message} (see --help)\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = OneLineErrors(prog="moderators", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["set", "remove", "sync"])
    parser.add_argument(
        "user", metavar="USER", nargs="?", help="account name (lowercase local part); not for sync"
    )
    parser.add_argument("--domain", required=True, help="the Jitsi domain (main XMPP host)")
    parser.add_argument(
        "--names", metavar="A,B,...", help="sync: every moderator, comma-separated ('' for none)"
    )
    parser.add_argument(
        "--record", metavar="FILE", default=RECORD, help=f"names sync manages (default {RECORD})"
    )
    parser.add_argument("--prosody-config", metavar="FILE", help="default: prosodyctl's own")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="limit per Prosody command (s)"
    )
    # Intermixed: USER is optional (sync has none), and may still follow the options after --.
    args = parser.parse_intermixed_args(argv)
    if args.action == "sync" and (args.user is not None or args.names is None):
        parser.error("sync takes no USER and needs --names (comma-separated, '' for none)")
    if args.action != "sync" and (args.user is None or args.names is not None):
        parser.error(f"{args.action} needs USER and takes no --names")
    return args


def check_names(user: str | None, domain: str) -> None:
    if user is not None and not USER_RULE.fullmatch(user):
        raise invalid_user(user)
    if not DOMAIN_RULE.fullmatch(domain):
        raise Refusal(
            f"invalid --domain {domain!r}: give the lowercase Jitsi domain, e.g. meet.example.com",
            EXIT_INPUT,
        )


def read_password(stream) -> str:
    """One line from `stream`: its line ending removed; empty or several lines are refused."""
    try:
        text = stream.read().decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refusal("the password on stdin is not UTF-8 text", EXIT_INPUT) from e
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise Refusal("empty password: write the password as one line on stdin", EXIT_INPUT)
    if "\n" in password or "\r" in password:
        raise Refusal("the password on stdin has more than one line: give exactly one", EXIT_INPUT)
    return password


def check_host(prosody: Prosodyctl, domain: str) -> None:
    """Refuses unless Prosody's config serves `domain` as a VirtualHost on internal_hashed."""
    if domain.startswith("auth."):
        # Jitsi's internal host (jicofo, jvb log in there); a moderator there cannot open rooms.
        raise Refusal(
            f"{domain} is Jitsi's internal host for its own components: moderators belong on "
            f"the main domain (--domain {domain.removeprefix('auth.')})",
            EXIT_CONFIG,
        )
    verdict = prosody.host_verdict(domain)
    where = prosody.config
    if verdict[0] == "unloadable":
        raise Refusal(f"cannot load {where}: {verdict[-1]}", EXIT_CONFIG)
    if verdict[0] == "absent":
        raise Refusal(
            f"{domain} is not configured in {where}: check --domain, or --prosody-config",
            EXIT_CONFIG,
        )
    if verdict[0] == "component":
        raise Refusal(f"{domain} is a Component in {where}, not a VirtualHost", EXIT_CONFIG)
    if verdict[0] == "disabled":
        raise Refusal(f"{domain} is disabled (enabled = false) in {where}", EXIT_CONFIG)
    if verdict[-1] != PROVIDER:
        raise Refusal(
            f'{domain} uses authentication = "{verdict[-1]}", not "{PROVIDER}": secure the '
            "domain first (scripts/secure_domain), then add moderators",
            EXIT_CONFIG,
        )


def set_password(prosody: Prosodyctl, jid: str, password: str) -> str:
    user, host = jid.split("@")
    if prosody.holds_password(user, host, password):
        # Nothing to write: a re-run must not rewrite the account (new salt, new file).
        return f"Kept {jid} (password unchanged)"
    # The account may exist or not: creating is the common case, so adduser goes first.
    if store_password(prosody, jid, password):
        return f"Created {jid}"
    return f"Changed password of {jid}"


def remove(prosody: Prosodyctl, jid: str) -> str:
    if delete_account(prosody, jid):
        return f"Removed {jid}"
    return f"{jid} was already absent"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        check_names(args.user, args.domain)
        if args.action == "sync":
            wanted = read_credentials(sys.stdin.buffer, args.names)
        password = read_password(sys.stdin.buffer) if args.action == "set" else ""
        record = Record(args.record)
        managed = record.managed() if args.action != "set" else set()
        jid = f"{args.user}@{args.domain}"
        if args.action == "remove" and args.user in managed:
            # An old per-account Pulumi resource's delete may run after sync listed the name.
            print(
                f"Kept {jid}: it is one of the stack's moderators (jitsi:moderators); "
                "remove it there"
            )
            return 0
        prosody = Prosodyctl(args.prosody_config, args.timeout)
        check_host(prosody, args.domain)
        if args.action == "sync":
            sync(prosody, args.domain, wanted, record, managed)
            return 0
        done = (
            set_password(prosody, jid, password) if args.action == "set" else remove(prosody, jid)
        )
    except Refusal as e:
        message, code = e.args
        print(f"moderators: {message}", file=sys.stderr)
        return code
    except (ProsodyError, Incomplete) as e:
        print(f"moderators: {e}", file=sys.stderr)
        return EXIT_PROSODY
    print(done)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
