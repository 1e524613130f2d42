"""scripts/bridge/auth_certificate.py: the signalling node's auth certificate, and nothing else.

It runs on the signalling node and its output goes into the bridges' instance template (public
metadata): it must print the certificate Prosody's auth host uses, re-encoded, and never a key
that shares its file or sits beside it.
"""

import ssl
import subprocess
import sys

import pytest
from support import SCRIPTS

DOMAIN = "meet.example.org"
TOOL = SCRIPTS / "bridge" / "auth_certificate.py"


@pytest.fixture
def root(tmp_path):
    """A signalling node's Prosody certificates, laid out as jitsi-meet-prosody does."""
    lib = tmp_path / "var/lib/prosody"
    lib.mkdir(parents=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN=auth.{DOMAIN}",
         "-keyout", str(lib / f"auth.{DOMAIN}.key"), "-out", str(lib / f"auth.{DOMAIN}.crt")],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    certs = tmp_path / "etc/prosody/certs"
    certs.mkdir(parents=True)
    for kind in ("crt", "key"):
        (certs / f"auth.{DOMAIN}.{kind}").symlink_to(lib / f"auth.{DOMAIN}.{kind}")
    return tmp_path


def _run(root, *args):
    env = {"JITSI_BRIDGE_ROOT": str(root), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-B", str(TOOL), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)


def test_prints_the_certificate_the_auth_host_uses(root):
    done = _run(root, "--domain", DOMAIN)
    assert done.returncode == 0, done.stderr
    served = (root / f"var/lib/prosody/auth.{DOMAIN}.crt").read_text()
    assert ssl.PEM_cert_to_DER_cert(done.stdout) == ssl.PEM_cert_to_DER_cert(served)
    assert done.stdout.count("BEGIN CERTIFICATE") == 1


def test_a_key_in_the_same_file_never_travels_with_it(root):
    crt = root / f"var/lib/prosody/auth.{DOMAIN}.crt"
    key = (root / f"var/lib/prosody/auth.{DOMAIN}.key").read_text()
    crt.write_text(key + "# a comment\n" + crt.read_text())
    done = _run(root, "--domain", DOMAIN)
    assert done.returncode == 0, done.stderr
    assert "PRIVATE KEY" not in done.stdout and "comment" not in done.stdout
    assert done.stdout.startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read /etc/prosody/certs/auth.meet.example.org.crt"),
        ("not a certificate\n", "holds no certificate"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "holds no certificate"),
    ],
)
def test_a_missing_or_broken_certificate_fails_with_one_line(root, content, message):
    crt = root / f"var/lib/prosody/auth.{DOMAIN}.crt"
    if content is None:
        crt.unlink()
    else:
        crt.write_text(content)
    done = _run(root, "--domain", DOMAIN)
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert message in line


def test_a_bad_domain_is_refused_before_reading_anything(root):
    done = _run(root, "--domain", "../../etc/shadow")
    assert done.returncode == 2 and "is not a lowercase DNS name" in done.stderr
