"""The command line of verify_auth, validated before any network traffic.

Every problem becomes one UsageError line (exit 2) that names the option, the bad value and a
good one.
"""

import argparse
import ipaddress
import re
import urllib.parse

TRANSPORTS = ("bosh", "websocket")
# jicofo's REST API listens there on the signalling node (the firewall keeps 8888 closed).
JICOFO_URL = "http://127.0.0.1:8888"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="verify_auth",
        description="Prove a Jitsi Meet server is secured, over XMPP as its web client speaks it. "
        'Moderator credentials come on stdin as JSON: {"user": "password", ...}.',
    )
    p.add_argument("--domain", required=True, help="the Jitsi Meet domain, e.g. meet.example.com")
    p.add_argument("--guest-domain", help="the anonymous guest domain (default: guest.DOMAIN)")
    p.add_argument("--bosh-url", help="BOSH endpoint (default: https://DOMAIN/http-bind)")
    p.add_argument(
        "--websocket-url", help="XMPP WebSocket endpoint (default: wss://DOMAIN/xmpp-websocket)"
    )
    p.add_argument(
        "--transports",
        default="bosh",
        help="comma-separated transports to run checks 1, 2, 3 and 5 over: bosh, websocket "
        "(default: bosh)",
    )
    p.add_argument(
        "--connect",
        metavar="ADDRESS",
        help="open every connection to this IP address instead of resolving the URL's host "
        "(TLS still names and verifies the host)",
    )
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--ca-file", help="PEM file of CAs to trust instead of the system's")
    tls.add_argument(
        "--ca-env", metavar="NAME", help="trust the PEM certificate(s) in environment variable NAME"
    )
    tls.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    p.add_argument(
        "--closed-ports",
        metavar="LIST",
        help="comma-separated TCP ports that must not accept a connection from here (check 6)",
    )
    p.add_argument(
        "--expect-address",
        metavar="ADDRESS",
        help="warn when DOMAIN does not resolve to this address (check 7; never a failure)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds for each network step (default 10); the run takes at most 15 times it "
        "per transport, plus --focus-wait",
    )
    p.add_argument(
        "--focus-wait",
        type=float,
        default=0.0,
        help="seconds to wait for the conference focus to answer (jicofo starting after a "
        "restart); with it, a focus that never answers fails check 5 instead of skipping it",
    )
    p.add_argument(
        "--bridges",
        type=int,
        metavar="N",
        help="check 8: a guest cannot join the videobridges' room, and jicofo counts at least N "
        "operational bridges",
    )
    p.add_argument(
        "--bridges-wait",
        type=float,
        default=0.0,
        help="seconds to keep asking jicofo while fewer than --bridges N are operational "
        "(bridges still booting); default 0: ask once",
    )
    p.add_argument(
        "--jicofo-url",
        default=JICOFO_URL,
        help=f"jicofo's REST API, where check 8 reads /stats (default {JICOFO_URL}: on the VM)",
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


def url(value: str | None, default: str, schemes: tuple[str, str], option: str) -> str:
    chosen = value or default
    parts = urllib.parse.urlsplit(chosen)
    if parts.scheme not in schemes or not parts.hostname:
        kind = f"{schemes[0]}(s)"
        raise UsageError(f"{option} {chosen!r} is not a {kind} URL ({default})")
    return chosen


def ip_address(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not an IPv4 or IPv6 address (e.g. 203.0.113.10)"
        ) from None


def transports(value: str) -> list[str]:
    names = [name.strip().lower() for name in value.split(",")]
    if not all(name in TRANSPORTS for name in names):
        raise UsageError(
            f"--transports {value!r} must list bosh and/or websocket, comma-separated"
            " (e.g. bosh,websocket)"
        )
    return list(dict.fromkeys(names))


def ports(value: str | None) -> tuple[int, ...]:
    if value is None:
        return ()
    items = [item.strip() for item in value.split(",")]
    if not all(item.isdigit() and 1 <= int(item) <= 65535 for item in items):
        raise UsageError(
            f"--closed-ports {value!r} must be TCP port numbers (1 to 65535), comma-separated"
            " (e.g. 5222,5269,5280)"
        )
    return tuple(dict.fromkeys(int(item) for item in items))


def parse(argv: list[str]) -> argparse.Namespace:
    args = parser().parse_args(argv)
    args.domain = fqdn(args.domain, "--domain")
    # The name every Jitsi guide and secure_domain use unless told otherwise.
    args.guest_domain = fqdn(args.guest_domain or f"guest.{args.domain}", "--guest-domain")
    args.transports = transports(args.transports)
    if args.websocket_url and "websocket" not in args.transports:
        raise UsageError("--websocket-url is given but --transports does not name websocket")
    args.bosh_url = url(
        args.bosh_url, f"https://{args.domain}/http-bind", ("http", "https"), "--bosh-url"
    )
    args.websocket_url = url(
        args.websocket_url, f"wss://{args.domain}/xmpp-websocket", ("ws", "wss"), "--websocket-url"
    )
    args.connect = ip_address(args.connect, "--connect")
    args.expect_address = ip_address(args.expect_address, "--expect-address")
    args.closed_ports = ports(args.closed_ports)
    if not 0.5 <= args.timeout <= 300:
        raise UsageError(f"--timeout {args.timeout:g} is out of range (0.5 to 300 seconds)")
    if not 0 <= args.focus_wait <= 600:
        raise UsageError(f"--focus-wait {args.focus_wait:g} is out of range (0 to 600 seconds)")
    bridges(args)
    return args


def bridges(args: argparse.Namespace) -> None:
    """--bridges and its companions, checked only together: without it they would do nothing."""
    if args.bridges is None:
        if args.bridges_wait or args.jicofo_url != JICOFO_URL:
            raise UsageError("--bridges-wait and --jicofo-url need --bridges N")
        return
    if not 1 <= args.bridges <= 1000:
        raise UsageError(f"--bridges {args.bridges} is out of range (1 to 1000 bridges)")
    if not 0 <= args.bridges_wait <= 1800:
        raise UsageError(
            f"--bridges-wait {args.bridges_wait:g} is out of range (0 to 1800 seconds)"
        )
    args.jicofo_url = url(args.jicofo_url, JICOFO_URL, ("http", "https"), "--jicofo-url")
