"""Command line and stdin of verify_auth, validated before any network traffic.

Every problem becomes one UsageError line (exit 2). Messages name the bad value, except
passwords, which no message ever contains.
"""

import argparse
import json
import os
import re
import ssl
import sys
import urllib.parse

MAX_STDIN_BYTES = 1_000_000
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# RFC 7622 section 3.3.1: characters a localpart may not contain.
_BAD_LOCALPART = re.compile(r"[\"&'/:<>@\s]")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="verify_auth",
        description="Prove a Jitsi Meet server is secured, over its public BOSH endpoint. "
        'Moderator credentials come on stdin as JSON: {"user": "password", ...}.',
    )
    p.add_argument("--domain", required=True, help="the Jitsi Meet domain, e.g. meet.example.com")
    p.add_argument("--guest-domain", help="the anonymous guest domain (default: guest.DOMAIN)")
    p.add_argument("--bosh-url", help="BOSH endpoint (default: https://DOMAIN/http-bind)")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--ca-file", help="PEM file of CAs to trust instead of the system's")
    tls.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    p.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds for each network step (default 10); the run takes at most 12 times it + 30 s",
    )
    p.add_argument(
        "--focus-wait",
        type=float,
        default=0.0,
        help="seconds to wait for the conference focus to answer (jicofo starting after a "
        "restart); with it, a focus that never answers fails check 5 instead of skipping it",
    )
    return p


def fqdn(value: str, option: str) -> str:
    name = value.strip().rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise UsageError(
            f"{option} {value!r} is not a fully qualified domain name (meet.example.com)"
        )
    return name


def bosh_url(value: str | None, domain: str) -> str:
    url = value or f"https://{domain}/http-bind"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--bosh-url {url!r} is not an http(s) URL (https://{domain}/http-bind)")
    return url


def tls_context(args: argparse.Namespace) -> ssl.SSLContext:
    if args.ca_file and not os.path.isfile(args.ca_file):
        raise UsageError(f"--ca-file {args.ca_file!r} is not a readable file")
    try:
        context = ssl.create_default_context(cafile=args.ca_file)
    except (OSError, ssl.SSLError) as error:
        raise UsageError(f"--ca-file {args.ca_file!r} is not a PEM CA file ({error})") from None
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def moderators(text: str, domain: str) -> dict[str, str]:
    """{"user": "password"} from stdin text; "" or only whitespace means no moderators."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        # The decoder's message gives a position, never the document.
        raise UsageError(f"stdin is not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise UsageError('stdin must be a JSON object: {"user": "password"}')
    accounts = {}
    for name, password in data.items():
        user, _, host = name.partition("@")
        if not user or _BAD_LOCALPART.search(user) or (host and host.lower() != domain):
            raise UsageError(f'moderator name {name!r} is not a user of {domain} (e.g. "alice")')
        if not isinstance(password, str) or not password:
            raise UsageError(f"moderator {name!r}: the password must be a non-empty JSON string")
        accounts[user] = password
    return accounts


def read_stdin() -> str:
    # A terminal would wait for typing (and echo the password): treat it as no moderators.
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise UsageError("stdin is larger than 1 MB; it should hold a small JSON object")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("stdin is not UTF-8 text") from None


def parse(argv: list[str]) -> argparse.Namespace:
    args = parser().parse_args(argv)
    args.domain = fqdn(args.domain, "--domain")
    # The name every Jitsi guide and secure_domain use unless told otherwise.
    args.guest_domain = fqdn(args.guest_domain or f"guest.{args.domain}", "--guest-domain")
    args.bosh_url = bosh_url(args.bosh_url, args.domain)
    if not 0.5 <= args.timeout <= 300:
        raise UsageError(f"--timeout {args.timeout:g} is out of range (0.5 to 300 seconds)")
    if not 0 <= args.focus_wait <= 600:
        raise UsageError(f"--focus-wait {args.focus_wait:g} is out of range (0 to 600 seconds)")
    return args
