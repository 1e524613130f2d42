#!/usr/bin/env python3
"""Give the videobridges' shared account its generated password; keep others out of their room.

    bridge_account --domain DOMAIN [--prosody-config FILE] [--root DIR]
        (stdin: the password, one line)

Sets the password of jvb@auth.DOMAIN in Prosody (prosodyctl passwd, on stdin), writes the same
value into the local bridge's jvb.conf, and lets only auth.DOMAIN accounts into the internal MUC
(muc_filter_access). Validates everything first, writes only what differs, and with --root /
restarts only what reads a changed file. Exit codes: 0 done (or nothing to do), 1 Prosody or a
service failed, 2 bad input, 3 not ready (not a secured Jitsi install); on 2 and 3 nothing changed.
"""

import argparse
import os
import pathlib
import re
import sys

# Run from a checkout too, it must leave no byte code in scripts/: the deployment ships
# that folder whole.
sys.dont_write_bytecode = True
if not __package__:
    # Run as `python3 scripts/bridge_account`: import this folder and the ones it borrows from
    # (moderators, secure_domain, shared) as packages of scripts/.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from shared.launch import forget_cached_main

    forget_cached_main(__file__)

from moderators.prosody import ProsodyError  # noqa: E402

from bridge_account.errors import EXIT_FAILED, EXIT_INPUT, Refusal  # noqa: E402
from bridge_account.plan import run  # noqa: E402

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN_RULE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+")
# Printable ASCII without spaces: one line for prosodyctl, one quoted string for HOCON.
PASSWORD_RULE = re.compile(r"[!-~]{32,256}")
DEFAULT_TIMEOUT = 30.0


class OneLineErrors(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other refusal of this tool."""

    def error(self, message: str):
        self.exit(EXIT_INPUT, f"bridge_account: {message} (see --help)\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = OneLineErrors(prog="bridge_account", description=__doc__.split("\n")[0])
    parser.add_argument("--domain", required=True, help="the Jitsi domain, e.g. meet.example.com")
    parser.add_argument("--prosody-config", metavar="FILE", help="default: prosodyctl's own")
    parser.add_argument("--root", default="/", help="the root the Jitsi files are under")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="limit per Prosody command (s)"
    )
    args = parser.parse_args(argv)
    if not DOMAIN_RULE.fullmatch(args.domain):
        parser.error(f"--domain {args.domain!r} is not a lowercase DNS name like meet.example.com")
    args.root = pathlib.Path(args.root)
    if not args.root.is_dir():
        parser.error(f"--root {args.root} is not a directory")
    return args


def read_password(stream) -> str:
    """One line: 32-256 printable ASCII characters, no spaces. Messages never show it."""
    try:
        text = stream.read().decode("ascii")
    except UnicodeDecodeError as e:
        raise Refusal("the password on stdin is not ASCII text", EXIT_INPUT) from e
    password = text.removesuffix("\n").removesuffix("\r")
    if not PASSWORD_RULE.fullmatch(password):
        raise Refusal(
            "stdin must be one line: the bridge password, 32-256 printable ASCII characters "
            "without spaces",
            EXIT_INPUT,
        )
    return password


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        password = read_password(sys.stdin.buffer)
        run(args, password, print)
    except Refusal as e:
        message, code = e.args
        print(f"bridge_account: {message}", file=sys.stderr)
        return code
    except ProsodyError as e:
        print(f"bridge_account: {e}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
