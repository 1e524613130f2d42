"""A scripted WebSocket server for the probe's client: one connection, on 127.0.0.1 and a free
port, driven by a test's function. It speaks raw RFC 6455, so a test can send what a real server
would not (a bad accept key, a masked frame, a close in the middle of a message) and look at the
exact bytes the client sends.
"""

import base64
import binascii
import hashlib
import socket
import struct
import threading

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# RFC 6455 section 5.2's opcodes, written out here rather than imported from the probe, so that
# a changed constant there is seen.
CONTINUATION, TEXT, CLOSE, PING, PONG = 0x0, 0x1, 0x8, 0x9, 0xA
WAIT = 5.0  # no step of a script may block longer than this


class Peer:
    """The server's side of one connection, for a script to use."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.settimeout(WAIT)
        self._buffer = b""
        self.request: dict[str, str] = {}
        # The second byte's length code of each frame the client sent (126: two length bytes).
        self.size_codes: list[int] = []

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the client closed the connection")
            self._buffer += data
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def read_request(self) -> dict[str, str]:
        """The client's upgrade request: its request line under "", then its headers."""
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self.sock.recv(65536)
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        first, *lines = head.decode().split("\r\n")
        self.request = {"": first}
        for line in lines:
            name, _, value = line.partition(":")
            self.request[name.strip().lower()] = value.strip()
        # RFC 6455 section 4.2.1: the key must be 16 bytes in base64, and a server refuses any
        # other; so does this one, and the test fails on it.
        key = self.request.get("sec-websocket-key", "")
        try:
            size = len(base64.b64decode(key, validate=True))
        except binascii.Error:
            size = None
        if size != 16:
            self.sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            raise AssertionError(f"Sec-WebSocket-Key {key!r} is not 16 bytes in base64")
        return self.request

    def upgrade(
        self,
        protocol: str | None = "xmpp",
        accept: str | None = None,
        extra: tuple = (),
        status: str = "101 Switching Protocols",
    ) -> None:
        """Answers `status`; with the right Sec-WebSocket-Accept unless `accept` is given, and
        `extra` header lines."""
        key = self.request["sec-websocket-key"]
        right = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324
        lines = [f"HTTP/1.1 {status}", "Upgrade: websocket", "Connection: Upgrade"]
        lines += [f"Sec-WebSocket-Accept: {accept or right}", *extra]
        if protocol:
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def read_frame(self) -> tuple[bool, int, bool, bytes]:
        """(fin, opcode, masked, unmasked payload) of the client's next frame."""
        head, size_code = self._read(2)
        size = size_code & 0x7F
        self.size_codes.append(size)
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._read(8))[0]
        masked = bool(size_code & 0x80)
        key = self._read(4) if masked else b"\0\0\0\0"
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(self._read(size)))
        return bool(head & 0x80), head & 0x0F, masked, payload

    def send_frame(self, opcode: int, payload: bytes, fin=True, mask=False, size=None) -> None:
        """A frame as the server sends it; `size` may claim another length than the payload's."""
        size = len(payload) if size is None else size
        head = bytes([(0x80 if fin else 0) | opcode])
        flag = 0x80 if mask else 0
        if size < 126:
            head += bytes([flag | size])
        elif size < 1 << 16:
            head += bytes([flag | 126]) + struct.pack("!H", size)
        else:
            head += bytes([flag | 127]) + struct.pack("!Q", size)
        self.sock.sendall(head + (b"\0\0\0\0" if mask else b"") + payload)


class StandIn:
    """Runs `script(peer)` for the first connection; `errors` holds what the script raised."""

    def __init__(self, script):
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self._listener.settimeout(WAIT)
        self.port = self._listener.getsockname()[1]
        self.errors: list[BaseException] = []
        self._script = script
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        try:
            sock, _ = self._listener.accept()
            with sock:
                self._script(Peer(sock))
        except BaseException as error:  # handed to the test, which fails on it
            self.errors.append(error)

    def start(self) -> "StandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.join(timeout=WAIT * 2)
        self._listener.close()
