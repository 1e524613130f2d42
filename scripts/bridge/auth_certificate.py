#!/usr/bin/env python3
"""Print, as PEM, the certificate Prosody presents for auth.DOMAIN, for the bridges to trust.

    sudo python3 -B scripts/bridge/auth_certificate.py --domain DOMAIN

The deployment runs it on the signalling node, over the SSH connection pinned to its host key,
and puts the result in the bridges' instance template: a bridge's XMPP client checks Prosody's
certificate on 5222 (STARTTLS), and this self-signed one is trusted nowhere else. It reads
/etc/prosody/certs/auth.DOMAIN.crt, the file the site's auth VirtualHost names (the
jitsi-meet-prosody package links it to /var/lib/prosody/). Public data: the key stays.
Exit status: 0 printed, 1 no such certificate, 2 bad arguments. Standard library only.
"""

import argparse
import os
import re
import ssl
import sys

# A prefix for the tests; "" on a server.
ROOT = os.environ.get("JITSI_BRIDGE_ROOT", "")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n.+?\n-----END CERTIFICATE-----", re.S)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="auth_certificate", description=__doc__.splitlines()[0])
    parser.add_argument("--domain", required=True, help="the site's domain (not auth.DOMAIN)")
    domain = parser.parse_args(argv).domain
    if not _DOMAIN.fullmatch(domain):
        parser.error(f"--domain {domain!r} is not a lowercase DNS name such as meet.example.com")
    path = f"/etc/prosody/certs/auth.{domain}.crt"
    try:
        with open(ROOT + path) as f:
            found = _PEM.search(f.read())
    except OSError as e:
        print(f"auth_certificate: cannot read {path} ({e.strerror})", file=sys.stderr)
        return 1
    # Through the DER form and back: exactly one certificate is printed, re-encoded, so that
    # nothing else in the file (a key, comments) can travel with it.
    der = ssl.PEM_cert_to_DER_cert(found[0]) if found else b""
    if not der.startswith(b"\x30"):
        print(
            f"auth_certificate: {path} holds no certificate; is Jitsi installed for {domain}?",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(ssl.DER_cert_to_PEM_cert(der))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
