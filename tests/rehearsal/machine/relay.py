"""The rehearsal VM's only way out: an HTTP relay to Debian's package archive.

The VM resolves deb.debian.org to the host end of its veth, where this relay listens on port 80.
It forwards GET and HEAD for `Host: deb.debian.org` under /debian/ and /debian-security/ to the
real deb.debian.org (resolved by the host), streaming the body, and refuses anything else with
403. Files under /pool/ never change once published, so whole 200 answers for them are kept in
a cache folder (written to a temporary name, then renamed) and served from it on later runs.
"""

import http.client
import os
import pathlib
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = "deb.debian.org"
PREFIXES = ("/debian/", "/debian-security/")
# Hop-by-hop headers belong to one connection and are never forwarded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
}
CHUNK = 256 * 1024


class Relay:
    """Listens on (address, port) in threads of this process until stop()."""

    def __init__(self, address: str, cache_dir: pathlib.Path | None = None, port: int = 80):
        self.cache_dir = cache_dir
        # (method, host, path, status) of every request, in the order they came
        self.requests: list[tuple[str, str, str, int]] = []
        self._lock = threading.Lock()
        relay = self

        class Handler(_Handler):
            owner = relay

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def record(self, method: str, host: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, host, path, status))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    owner: Relay
    protocol_version = "HTTP/1.1"  # keep-alive and pipelining, as apt uses them
    timeout = 120  # an idle client connection is closed after this long
    upstream: http.client.HTTPConnection | None = None

    def log_message(self, *args):
        pass  # the record in Relay.requests replaces the stderr log

    def do_GET(self):
        self.relay(send_body=True)

    def do_HEAD(self):
        self.relay(send_body=False)

    def refuse(self, status: int, host: str) -> None:
        self.owner.record(self.command, host, self.path, status)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def relay(self, send_body: bool) -> None:
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        path = self.path
        if host != UPSTREAM or not path.startswith(PREFIXES) or "/../" in path or "\\" in path:
            self.refuse(403, host)
            return
        cached = self.cache_path(path)
        if send_body and cached is not None and cached.is_file():
            self.serve_cached(cached)
            return
        try:
            response = self.forward(path)
        except (OSError, http.client.HTTPException):
            self.refuse(502, host)
            return
        self.owner.record(self.command, host, path, response.status)
        self.send_response(response.status)
        length = response.getheader("Content-Length")
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        if length is None and send_body and response.status not in (204, 304):
            # No length to frame the body with: it ends when this connection closes.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not send_body:
            response.read()
            return
        keep = cached is not None and response.status == 200 and length is not None
        self.stream(response, cached if keep and "Range" not in self.headers else None)

    def forward(self, path: str) -> http.client.HTTPResponse:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        # One upstream connection per client connection, opened again when the CDN closed it.
        for attempt in (1, 2):
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(UPSTREAM, 80, timeout=60)
            try:
                self.upstream.request(self.command, path, headers=headers)
                return self.upstream.getresponse()
            except (http.client.HTTPException, OSError):
                self.upstream.close()
                self.upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def stream(self, response: http.client.HTTPResponse, cache_to: pathlib.Path | None) -> None:
        partial = None
        if cache_to is not None:
            cache_to.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=cache_to.parent, prefix=".partial-")
            partial = os.fdopen(fd, "wb")
        complete = False
        try:
            while chunk := response.read(CHUNK):
                self.wfile.write(chunk)
                if partial is not None:
                    partial.write(chunk)
            complete = True
        finally:
            if partial is not None:
                partial.close()
                if complete and response.length == 0:
                    os.replace(name, cache_to)  # atomic: readers see all of it or nothing
                else:
                    os.unlink(name)
            if not complete:
                self.close_connection = True

    def cache_path(self, path: str) -> pathlib.Path | None:
        if self.owner.cache_dir is None or "/pool/" not in path or "?" in path:
            return None
        return self.owner.cache_dir / path.lstrip("/")

    def serve_cached(self, cached: pathlib.Path) -> None:
        self.owner.record(self.command, UPSTREAM, self.path, 200)
        with cached.open("rb") as f:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(os.fstat(f.fileno()).st_size))
            self.end_headers()
            shutil.copyfileobj(f, self.wfile, CHUNK)

    def finish(self):
        super().finish()
        if self.upstream is not None:
            self.upstream.close()
