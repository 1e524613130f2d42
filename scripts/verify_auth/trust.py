"""Which TLS certificates the probe trusts: the system's, --ca-file's instead, the system's plus
--ca-env's, or none (--insecure).

--ca-env exists for the proof from outside: `pulumi up` reads the certificate the VM serves over
the SSH connection pinned to the VM's host key and hands it over in the environment, so the probe
verifies the server without a file on disk and without --insecure. The certificate is public; it
is never printed.
"""

import argparse
import os
import re
import ssl

from .args import UsageError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _pem_from_env(name: str) -> str:
    if not _ENV_NAME.match(name):
        raise UsageError(f"--ca-env {name!r} is not an environment variable name (e.g. JITSI_CA)")
    pem = os.environ.get(name, "")
    if not pem.strip():
        raise UsageError(
            f"--ca-env {name}: the variable is not set or empty; put the server's PEM"
            " certificate in it"
        )
    return pem


def tls_context(args: argparse.Namespace) -> ssl.SSLContext:
    if args.ca_file and not os.path.isfile(args.ca_file):
        raise UsageError(f"--ca-file {args.ca_file!r} is not a readable file")
    if args.ca_env:
        pem = _pem_from_env(args.ca_env)
        # The system's authorities still count (a Let's Encrypt certificate verifies through
        # them); the served certificate is trusted as it is, as its own anchor, even where it is
        # not self-signed and this machine's store lacks its root.
        context = ssl.create_default_context()
        try:
            context.load_verify_locations(cadata=pem)
        except (ssl.SSLError, ValueError):
            raise UsageError(
                f"--ca-env {args.ca_env}: the variable does not hold a PEM certificate"
                " (-----BEGIN CERTIFICATE----- ...)"
            ) from None
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        return context
    try:
        context = ssl.create_default_context(cafile=args.ca_file)
    except (OSError, ssl.SSLError) as error:
        raise UsageError(f"--ca-file {args.ca_file!r} is not a PEM CA file ({error})") from None
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
