"""scripts/certificate against a real TLS server on 127.0.0.1 that presents one certificate per
server name, as nginx does for its virtual hosts."""

import socket
import ssl
import subprocess
import sys
import threading

import pytest
from support import SCRIPTS

DOMAIN, OTHER = "meet.example.org", "other.example.org"


def _self_signed(folder, name: str) -> tuple[str, str]:
    key, crt = folder / f"{name}.key", folder / f"{name}.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", f"/CN={name}", "-keyout", key, "-out", crt],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return str(crt), str(key)


@pytest.fixture
def server(tmp_path):
    """A TLS listener that picks its certificate by SNI (the default one for other names)."""
    contexts = {}
    for name in (DOMAIN, OTHER):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*_self_signed(tmp_path, name))
        contexts[name] = context
    default = contexts[OTHER]
    default.sni_callback = lambda tls, name, _: setattr(tls, "context", contexts.get(name, default))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                with default.wrap_socket(raw, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], {n: (tmp_path / f"{n}.crt").read_text() for n in contexts}
    stop.set()
    thread.join(timeout=5)
    listener.close()


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "certificate"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("name", [DOMAIN, OTHER])
def test_prints_the_certificate_served_for_the_name(server, name):
    port, certificates = server
    done = _run("--domain", name, "--port", str(port), "--timeout", "5")
    assert done.returncode == 0, done.stderr
    served = ssl.PEM_cert_to_DER_cert(done.stdout)
    assert served == ssl.PEM_cert_to_DER_cert(certificates[name])


def test_nothing_listening_is_one_clear_line_and_exit_1(unused_port):
    done = _run("--domain", DOMAIN, "--port", str(unused_port), "--timeout", "2")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"certificate: no TLS answer for {DOMAIN} on 127.0.0.1:")
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args", [["--domain", "Meet.Example"], ["--domain", DOMAIN, "--port", "0"], []]
)
def test_bad_arguments_exit_2_before_any_connection(args):
    done = _run(*args)
    assert done.returncode == 2 and done.stdout == ""


@pytest.fixture
def unused_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
