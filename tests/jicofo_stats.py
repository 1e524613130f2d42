"""A stand-in for jicofo's REST API, as far as check 8 reads it: `GET /stats`, whose JSON holds
`bridge_selector.operational_bridge_count`. The test sets what it answers, and may let the count
grow from a given question on (bridges still booting): counted in questions, not seconds, so a
busy machine that starts the probe late does not change what the probe is told.
Loopback only, a free port, stopped by the test."""

import http.server
import json
import threading


class JicofoStats:
    def __init__(self, operational: int | None = 0, status: int = 200, body: bytes | None = None):
        self.operational = operational
        self.status = status
        # Sent as it is instead of the stats JSON, when given.
        self.body = body
        # (n, count): from the n-th question on, jicofo says this count.
        self.later: tuple[int, int] | None = None
        self.asked = 0
        self._server: http.server.ThreadingHTTPServer | None = None

    def _answer(self) -> tuple[int, bytes]:
        self.asked += 1
        if self.body is not None:
            return self.status, self.body
        count = self.operational
        if self.later and self.asked >= self.later[0]:
            count = self.later[1]
        stats = {"participants": 0, "bridge_selector": {"bridge_count": count}}
        if count is not None:
            stats["bridge_selector"]["operational_bridge_count"] = count
        return self.status, json.dumps(stats).encode()

    def start(self) -> "JicofoStats":
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                status, body = outer._answer() if self.path == "/stats" else (404, b"")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
