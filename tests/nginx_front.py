"""A real nginx in front of a test Prosody, as on a Jitsi server: TLS for the domain, config.js,
and /http-bind and /xmpp-websocket proxied with the location blocks of upstream's own site file.

Each front is its own process tree, on 127.0.0.1 and a free port, with its configuration,
certificates, logs and temporary files in a directory of its own, removed by stop(). Its default
server presents a certificate for another name, so a client that does not send the domain as
TLS server name (SNI) gets a certificate it cannot verify.
"""

import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time

from prosody_server import end_process_group, free_port
from support import require, upstream_dir
from tls_certs import self_signed

NGINX = "/usr/sbin/nginx"
START_TIMEOUT = 10.0
# A free port may be taken by another test run before nginx binds it: nginx then exits, and the
# start is tried again on a new port.
START_ATTEMPTS = 3
UPSTREAM_SITE = "2026-07_master-abf901a/etc/nginx/sites-available/meet.example.com.conf"
DECOY = "decoy.probe.invalid"


def _upstream_block(site: str, head: str) -> str:
    """One `head { ... }` block of upstream's site file, verbatim (its blocks do not nest)."""
    found = re.search(rf"^[ \t]*{re.escape(head)} \{{.*?^[ \t]*\}}", site, re.M | re.S)
    assert found, f"upstream's site file has no `{head}` block any more"
    return found.group(0)


def jitsi_locations(prosody_http_port: int, websocket: bool) -> tuple[str, str]:
    """(http-level blocks, server-level locations) that route XMPP to Prosody as Jitsi does."""
    site = (upstream_dir(UPSTREAM_SITE.split("/")[0]) / UPSTREAM_SITE.partition("/")[2]).read_text()
    upstream = _upstream_block(site, "upstream prosody")
    assert "server 127.0.0.1:5280;" in upstream, upstream
    upstream = upstream.replace("127.0.0.1:5280", f"127.0.0.1:{prosody_http_port}")
    http_level = upstream + "\n" + _upstream_block(site, "map $arg_vnode $prosody_node")
    locations = [_upstream_block(site, "location = /http-bind")]
    if websocket:
        locations.append(_upstream_block(site, "location = /xmpp-websocket"))
    return http_level, "\n".join(locations)


class NginxFront:
    def __init__(
        self, prosody_http_port: int, domain: str, config_js: str | None, websocket: bool = True
    ):
        require(os.path.exists(NGINX), f"{NGINX} is missing (Debian's nginx-light)")
        self.domain = domain
        # Not pytest's tmp_path: nginx's workers run as nobody and read config.js from here.
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="nginx-test-"))
        self.dir.chmod(0o755)
        self.certificate, key = self_signed(self.dir, domain)
        self.decoy_certificate, decoy_key = self_signed(self.dir, DECOY)
        if config_js is not None:
            (self.dir / "config.js").write_text(config_js)
            (self.dir / "config.js").chmod(0o644)
        http_level, locations = jitsi_locations(prosody_http_port, websocket)
        self._template = f"""# Written by the test harness: everything under {self.dir}.
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    log_format sni '$ssl_server_name "$request" $status';
    access_log {self.dir}/access.log sni;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    types {{ application/javascript js; }}
{http_level}
    server {{
        listen 127.0.0.1:@PORT@ ssl default_server;
        ssl_certificate {self.decoy_certificate};
        ssl_certificate_key {decoy_key};
        return 421;
    }}
    server {{
        listen 127.0.0.1:@PORT@ ssl;
        server_name {domain};
        ssl_certificate {self.certificate};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        set $prefix "";
        location = /config.js {{
            alias {self.dir}/config.js;
        }}
{locations}
    }}
}}
"""
        self.port = 0
        self.process: subprocess.Popen | None = None

    def url(self, path: str, scheme: str = "https") -> str:
        """The URL of `path` on this front, by the domain's name (which need not resolve)."""
        return f"{scheme}://{self.domain}:{self.port}{path}"

    def certificate_pem(self) -> str:
        return self.certificate.read_text()

    def start(self) -> "NginxFront":
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            conf = self.dir / "nginx.conf"
            conf.write_text(self._template.replace("@PORT@", str(self.port)))
            (self.dir / "nginx.pid").unlink(missing_ok=True)
            self.process = subprocess.Popen(
                [NGINX, "-p", f"{self.dir}/", "-c", str(conf), "-e", f"{self.dir}/error.log"]
                + ["-g", f"daemon off; pid {self.dir}/nginx.pid;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # so stop() ends the master and its workers together
            )
            if self._listening():
                return self
            self._end_process()
        self.stop()
        raise RuntimeError(f"nginx did not start {START_ATTEMPTS} times: {self.error_log()}")

    def _listening(self) -> bool:
        """Whether this nginx, and not another process, listens on the port. nginx writes its
        pid file only once it holds its ports: one that could not bind never writes it."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # most likely the port was taken: the caller tries another
            if (self.dir / "nginx.pid").exists():
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    return True
                except OSError:
                    pass
            time.sleep(0.05)
        return False

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    def access_log(self) -> str:
        path = self.dir / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _end_process(self) -> None:
        end_process_group(self.process)

    def stop(self) -> None:
        self._end_process()
        shutil.rmtree(self.dir, ignore_errors=True)
