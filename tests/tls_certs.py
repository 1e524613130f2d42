"""Certificates made at test time with openssl: a self-signed one per name, like the one Jitsi's
installer makes when it is not asked for Let's Encrypt (subjectAltName = the domain)."""

import pathlib
import subprocess

OPENSSL_TIMEOUT = 30


def self_signed(directory: pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path]:
    """(certificate, key) PEM files for `name`, valid for two days, written in `directory`."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=OPENSSL_TIMEOUT,
    )
    return cert, key
