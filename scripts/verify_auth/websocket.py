"""A WebSocket client (RFC 6455), standard library only.

After the opening handshake (websocket_upgrade.py): masked frames from us, unmasked frames from
the server, fragmented messages, ping/pong and the closing handshake. Every read is bounded in time
(the Dialer's per-step limit and a Deadline) and in size.
"""

import secrets
import struct
import urllib.parse

from .net import Deadline, Dialer, EndpointError, describe
from .websocket_upgrade import upgrade

MAX_MESSAGE_BYTES = 1_000_000
CONTINUATION, TEXT, CLOSE, PING, PONG = 0x0, 0x1, 0x8, 0x9, 0xA
NORMAL_CLOSURE = 1000


class Closed(Exception):
    """The server closed the WebSocket (its close frame's code and reason)."""

    def __init__(self, code: int | None, reason: str):
        super().__init__(f"WebSocket closed by the server ({code or 'no code'}{reason})")
        self.code = code


def _mask(data: bytes, key: bytes) -> bytes:
    """RFC 6455 section 5.3: XOR with the 4-byte key, repeated (one big-integer XOR is fast)."""
    if not data:
        return b""
    stream = (key * (len(data) // 4 + 1))[: len(data)]
    masked = int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")
    return masked.to_bytes(len(data), "big")


class WebSocket:
    """One client WebSocket; `receive` gives whole text messages, `close` ends it cleanly."""

    def __init__(self, sock, timeout: float, buffered: bytes):
        self._sock = sock
        self._timeout = timeout
        self._buffer = bytearray(buffered)
        self._close_sent = False

    @classmethod
    def connect(
        cls, dialer: Dialer, url: urllib.parse.SplitResult, protocol: str, deadline: Deadline
    ) -> "WebSocket":
        sock = dialer.open(url, deadline)
        try:
            return cls(sock, dialer.timeout, upgrade(sock, dialer.timeout, url, protocol, deadline))
        except BaseException:
            sock.close()
            raise

    def send_text(self, text: str) -> None:
        self._send_frame(TEXT, text.encode())

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        header = bytes([0x80 | opcode])  # FIN: we never fragment
        # Every client frame is masked (RFC 6455 section 5.1), with a fresh random key.
        if size < 126:
            header += bytes([0x80 | size])
        elif size < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", size)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", size)
        key = secrets.token_bytes(4)
        try:
            self._sock.settimeout(self._timeout)
            self._sock.sendall(header + key + _mask(payload, key))
        except OSError as error:
            raise EndpointError(f"the WebSocket connection broke ({describe(error)})") from None

    def receive(self, wait: float, deadline: Deadline) -> bytes | None:
        """The next text message, or None when no frame starts within `wait` seconds.

        Answers pings on the way; raises Closed when the server closes the WebSocket.
        """
        first = Deadline(wait, deadline)
        fragments: list[bytes] = []
        while True:
            frame = self._frame(None if fragments else first, deadline)
            if frame is None:
                return None
            fin, opcode, payload = frame
            if opcode == PING:
                self._send_frame(PONG, payload)
            elif opcode == CLOSE:
                self._closed_by_server(payload)
            elif opcode in (TEXT, CONTINUATION):
                if (opcode == CONTINUATION) != bool(fragments):
                    raise EndpointError("the server's WebSocket fragments are out of order")
                fragments.append(payload)
                if sum(map(len, fragments)) > MAX_MESSAGE_BYTES:
                    raise EndpointError("the server's WebSocket message is larger than 1 MB")
                if fin:
                    return b"".join(fragments)
            elif opcode != PONG:
                raise EndpointError(f"the server sent a WebSocket frame of opcode {opcode:#x}")

    def _closed_by_server(self, payload: bytes) -> None:
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        reason = payload[2:].decode("utf-8", errors="replace")
        if not self._close_sent:
            # RFC 6455 section 5.5.1: answer a close with a close, echoing the code if it sent
            # one (a body is empty or starts with a two-byte code: one byte alone is no code).
            self._close_sent = True
            self._send_frame(CLOSE, payload[:2] if code is not None else b"")
        raise Closed(code, f": {reason}" if reason else "")

    def _frame(self, first: Deadline | None, deadline: Deadline):
        """(fin, opcode, payload) of the next frame; None if none starts before `first` ends."""
        if not self._fill(2, first, deadline):
            return None
        head, size_code = self._buffer[0], self._buffer[1]
        if head & 0x70:
            raise EndpointError("the server set reserved WebSocket bits (an unasked extension)")
        if size_code & 0x80:
            raise EndpointError("the server masked its WebSocket frame, which RFC 6455 forbids")
        fin, opcode, size, start = bool(head & 0x80), head & 0x0F, size_code & 0x7F, 2
        if size == 126:
            self._fill(4, None, deadline)
            size, start = struct.unpack("!H", self._buffer[2:4])[0], 4
        elif size == 127:
            self._fill(10, None, deadline)
            size, start = struct.unpack("!Q", self._buffer[2:10])[0], 10
        if opcode >= CLOSE and (not fin or size > 125):
            raise EndpointError("the server sent a malformed WebSocket control frame")
        if size > MAX_MESSAGE_BYTES:
            raise EndpointError("the server's WebSocket frame is larger than 1 MB")
        self._fill(start + size, None, deadline)
        payload = bytes(self._buffer[start : start + size])
        del self._buffer[: start + size]
        return fin, opcode, payload

    def _fill(self, count: int, first: Deadline | None, deadline: Deadline) -> bool:
        """Reads until `count` bytes are buffered. With `first`, waiting for a frame to start may
        end (False) when `first` does; once a frame has started, it must finish in time."""
        while len(self._buffer) < count:
            waiting = first is not None and not self._buffer
            if waiting and first.left() <= 0:
                return False
            limit = first.left() if waiting else min(self._timeout, deadline.remaining())
            try:
                self._sock.settimeout(limit)
                data = self._sock.recv(65536)
            except TimeoutError:
                if waiting:
                    return False
                raise EndpointError(
                    "the server stopped in the middle of a WebSocket frame"
                ) from None
            except OSError as error:
                raise EndpointError(f"the WebSocket connection broke ({describe(error)})") from None
            if not data:
                raise EndpointError("the server dropped the connection without a WebSocket close")
            self._buffer += data
        return True

    def close(self) -> None:
        """The closing handshake, bounded by one --timeout; best effort, never raises."""
        try:
            if not self._close_sent:
                self._close_sent = True
                self._send_frame(CLOSE, struct.pack("!H", NORMAL_CLOSURE))
            # Read (and drop) what is still in flight until the server's close frame.
            deadline = Deadline(self._timeout)
            while self.receive(deadline.left(), deadline) is not None:
                pass
        except (Closed, EndpointError):
            pass
        finally:
            self._sock.close()
