#!/usr/bin/env python3
"""Create, re-password or remove a Jitsi moderator: an account on the secured main XMPP host.

    moderator.py set USER --domain DOMAIN [--prosody-config FILE]   (password: one line on stdin)
    moderator.py remove USER --domain DOMAIN [--prosody-config FILE]

The password goes only to prosodyctl's stdin (adduser / passwd read it there, typed twice): never
into an argument, the environment, a file or this tool's output. Exit codes: 0 done (or nothing
to do), 1 Prosody failed, 2 bad input, 3 DOMAIN not ready for accounts; on 2 and 3 nothing changed.
"""

import argparse
import re
import sys

from moderator_prosody import Prosodyctl, ProsodyError, summary

# Lowercase XMPP local part; the Pulumi program validates names with the same rule.
USER_RULE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
DOMAIN_RULE = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
PROVIDER = "internal_hashed"
DEFAULT_TIMEOUT = 30.0
# What prosodyctl deluser says for a missing account: 0.12 and 13 respectively.
ABSENT = re.compile(r"does not exist|No such user")

EXIT_PROSODY, EXIT_INPUT, EXIT_CONFIG = 1, 2, 3


class Refusal(Exception):
    """Bad input or an unready server, found before anything changed; args: message, exit code."""


class OneLineErrors(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other refusal of this tool."""

    def error(self, message: str):
        self.exit(EXIT_INPUT, f"moderator.py: {message} (see --help)\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = OneLineErrors(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["set", "remove"])
    parser.add_argument("user", metavar="USER", help="account name (lowercase local part)")
    parser.add_argument("--domain", required=True, help="the Jitsi domain (main XMPP host)")
    parser.add_argument("--prosody-config", metavar="FILE", help="default: prosodyctl's own")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="limit per Prosody command (s)"
    )
    return parser.parse_args(argv)


def check_names(user: str, domain: str) -> None:
    if not USER_RULE.fullmatch(user):
        raise Refusal(
            f"invalid USER {user!r}: use 1-64 characters of a-z 0-9 . _ - starting with a "
            "letter or digit (for example alice or j.doe)",
            EXIT_INPUT,
        )
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
            "domain first (scripts/secure_domain.py), then add moderators",
            EXIT_CONFIG,
        )


def set_password(prosody: Prosodyctl, jid: str, password: str) -> str:
    user, host = jid.split("@")
    if prosody.holds_password(user, host, password):
        # Nothing to write: a re-run must not rewrite the account (new salt, new file).
        return f"Kept {jid} (password unchanged)"
    # Both commands ask for the password twice; the account may exist or not, so try creating
    # first (the common case), then changing: neither touches any other account.
    typed_twice = f"{password}\n{password}\n"
    created, add_said = prosody.account_command("adduser", jid, typed_twice)
    if created:
        return f"Created {jid}"
    changed, passwd_said = prosody.account_command("passwd", jid, typed_twice)
    if changed:
        return f"Changed password of {jid}"
    reasons = dict.fromkeys(hide(summary(said), password) for said in (add_said, passwd_said))
    raise ProsodyError(f"could not create {jid} nor change its password: {'; '.join(reasons)}")


def remove(prosody: Prosodyctl, jid: str) -> str:
    removed, said = prosody.account_command("deluser", jid)
    if removed:
        return f"Removed {jid}"
    if ABSENT.search(said):
        return f"{jid} was already absent"
    raise ProsodyError(f"could not remove {jid}: {summary(said)}")


def hide(text: str, secret: str) -> str:
    """Prosody does not print passwords; this makes sure a future version cannot make us."""
    return text.replace(secret, "***")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        check_names(args.user, args.domain)
        password = read_password(sys.stdin.buffer) if args.action == "set" else ""
        prosody = Prosodyctl(args.prosody_config, args.timeout)
        check_host(prosody, args.domain)
        jid = f"{args.user}@{args.domain}"
        if args.action == "set":
            done = set_password(prosody, jid, password)
        else:
            done = remove(prosody, jid)
    except Refusal as e:
        message, code = e.args
        print(f"moderator.py: {message}", file=sys.stderr)
        return code
    except ProsodyError as e:
        print(f"moderator.py: {e}", file=sys.stderr)
        return EXIT_PROSODY
    print(done)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
