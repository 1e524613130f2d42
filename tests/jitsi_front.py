"""A tiny stand-in for Jitsi's nginx site: serves config.js and forwards /http-bind to Prosody.

Like nginx, it passes BOSH requests on with `Host: <domain>`, so the probe reads config.js and
talks BOSH through one origin, exactly as it does against a real server.
"""

import http.client
import http.server
import threading

from prosody_server import free_port


class JitsiFront:
    def __init__(self, prosody_http_port: int, domain: str, config_js: str | None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/http-bind"

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/config.js" or config_js is None:
                    self._answer(404, b"not found", "text/plain")
                else:
                    self._answer(200, config_js.encode(), "application/javascript")

            def do_POST(self):
                if self.path != "/http-bind":
                    self._answer(404, b"not found", "text/plain")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                upstream = http.client.HTTPConnection("127.0.0.1", prosody_http_port, timeout=30)
                try:
                    headers = {"Host": domain, "Content-Type": "text/xml; charset=utf-8"}
                    upstream.request("POST", "/http-bind", body, headers)
                    reply = upstream.getresponse()
                    self._answer(reply.status, reply.read(), "text/xml; charset=utf-8")
                finally:
                    upstream.close()

            def _answer(self, status: int, data: bytes, kind: str):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass  # keep test output clean

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "JitsiFront":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
