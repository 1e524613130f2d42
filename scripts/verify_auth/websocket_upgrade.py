"""The opening handshake of a WebSocket (RFC 6455 section 4.1): an HTTP/1.1 upgrade with one
subprotocol, whose answer must prove the server read our key and agreed to the subprotocol."""

import base64
import hashlib
import secrets
import urllib.parse

from .net import Deadline, EndpointError, describe

# RFC 6455 section 1.3: the server proves it read our key by hashing it with this GUID.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEADER_BYTES = 16_384


class UpgradeRefused(EndpointError):
    """The server answered the opening handshake with something other than 101."""


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324


def upgrade(
    sock, timeout: float, url: urllib.parse.SplitResult, protocol: str, deadline: Deadline
) -> bytes:
    """The opening handshake (RFC 6455 section 4.1); returns bytes read past the headers."""
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {url.netloc.rpartition('@')[2]}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
    )
    data = b""
    try:
        sock.settimeout(min(timeout, deadline.remaining()))
        sock.sendall(request.encode())
        while b"\r\n\r\n" not in data:
            if len(data) > MAX_HEADER_BYTES:
                raise EndpointError("the server's upgrade answer has over 16 KB of headers")
            sock.settimeout(min(timeout, deadline.remaining()))
            chunk = sock.recv(4096)
            if not chunk:
                raise EndpointError("the server closed the connection during the upgrade")
            data += chunk
    except OSError as error:
        raise EndpointError(f"no usable upgrade answer ({describe(error)})") from None
    head, _, rest = data.partition(b"\r\n\r\n")
    status, headers = _parse_head(head.decode("latin-1"))
    if status[0] != "101":
        raise UpgradeRefused(f"it answered HTTP {' '.join(status)} to the WebSocket upgrade")
    if headers.get("upgrade", "").lower() != "websocket" or "upgrade" not in [
        token.strip() for token in headers.get("connection", "").lower().split(",")
    ]:
        raise EndpointError("the server's 101 answer does not switch to websocket")
    if headers.get("sec-websocket-accept") != accept_key(key):
        raise EndpointError("the server's Sec-WebSocket-Accept does not match our key")
    if headers.get("sec-websocket-protocol") != protocol:
        raise EndpointError(f"the server did not agree to the WebSocket subprotocol {protocol!r}")
    if headers.get("sec-websocket-extensions"):
        raise EndpointError("the server chose WebSocket extensions the probe did not offer")
    return rest


def _parse_head(text: str) -> tuple[list[str], dict[str, str]]:
    """(['101', 'Switching Protocols'], {lower-case name: value}) of an HTTP answer's head."""
    status_line, *lines = text.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise EndpointError("the server's upgrade answer is not HTTP")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    return parts[1:], headers
