#!/usr/bin/env python3
"""Print, as PEM, the TLS certificate this machine's web server presents for DOMAIN.

    python3 scripts/certificate --domain DOMAIN [--port 443] [--timeout 10]

The deployment runs it on the VM, over the SSH connection that is pinned to the VM's own host
key, so that its proof from outside can trust exactly the certificate the VM serves (the default
one is self-signed) and nothing else that might answer at the address. It connects to 127.0.0.1
with DOMAIN as the TLS server name, as a browser's request for DOMAIN reaches nginx, and reads the
certificate without judging it: judging it is the proof's job. Exit status: 0 printed, 1 no TLS
answer, 2 bad arguments. Python 3 standard library only.
"""

import argparse
import os
import re
import socket
import ssl
import sys

sys.dont_write_bytecode = True
if not __package__:
    # Run as `python3 scripts/certificate`: scripts/shared imports as a package of scripts/.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from shared.launch import forget_cached_main

    forget_cached_main(__file__)

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+")


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="certificate", description=__doc__.splitlines()[0])
    p.add_argument("--domain", required=True, help="the name the certificate is served for")
    p.add_argument("--port", type=int, default=443, help="the HTTPS port (default 443)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (default 10)")
    args = p.parse_args(argv)
    if not _DOMAIN.fullmatch(args.domain):
        p.error(f"--domain {args.domain!r} is not a lowercase DNS name such as meet.example.com")
    if not 1 <= args.port <= 65535 or not 0 < args.timeout <= 300:
        p.error("--port must be 1-65535 and --timeout 0-300 seconds")
    return args


def served_certificate(domain: str, port: int, timeout: float) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=domain) as tls,
    ):
        return ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True))


def main(argv: list[str]) -> int:
    args = _parse(argv)
    try:
        pem = served_certificate(args.domain, args.port, args.timeout)
    except (OSError, ssl.SSLError) as e:
        print(
            f"certificate: no TLS answer for {args.domain} on 127.0.0.1:{args.port} ({e}); "
            "is nginx running? (systemctl status nginx)",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(pem)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
