"""SASL mechanisms for the probe: ANONYMOUS, PLAIN and SCRAM-SHA-1 (RFC 5802), stdlib only.

Each mechanism gives the initial response, answers challenges and checks the server's final word.
No mechanism keeps the password in a repr, and no error message carries it.
"""

import base64
import hashlib
import hmac
import secrets

# A server asking for more than this many PBKDF2 rounds is either broken or trying to stall us.
MAX_SCRAM_ITERATIONS = 1_000_000


class SaslError(Exception):
    """The server's SASL messages broke the protocol (not a refusal: that is a <failure/>)."""


class Anonymous:
    name = "ANONYMOUS"

    def initial(self) -> bytes | None:
        return None

    def respond(self, challenge: bytes) -> bytes:
        raise SaslError("the server sent a challenge to ANONYMOUS, which has none")

    def check_success(self, data: bytes) -> None:
        return None


class Plain:
    """RFC 4616. The caller allows it only over verified TLS: the password travels as is."""

    name = "PLAIN"

    def __init__(self, user: str, password: str):
        self._user = user
        self._password = password

    def initial(self) -> bytes:
        return b"\0" + self._user.encode() + b"\0" + self._password.encode()

    def respond(self, challenge: bytes) -> bytes:
        raise SaslError("the server sent a challenge to PLAIN, which has none")

    def check_success(self, data: bytes) -> None:
        return None


def _scram_name(user: str) -> str:
    # RFC 5802 section 5.1: ',' and '=' are escaped in the username.
    return user.replace("=", "=3D").replace(",", "=2C")


def _attributes(message: bytes) -> dict[str, str]:
    try:
        text = message.decode()
    except UnicodeDecodeError:
        raise SaslError("the server's SCRAM message is not UTF-8") from None
    parts = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or len(key) != 1:
            raise SaslError("the server's SCRAM message is malformed")
        parts[key] = value
    return parts


class ScramSha1:
    """RFC 5802 client side, without channel binding (gs2 header "n,,")."""

    name = "SCRAM-SHA-1"

    def __init__(self, user: str, password: str, nonce: str | None = None):
        self._password = password
        self._nonce = nonce or secrets.token_urlsafe(18)
        self._first_bare = f"n={_scram_name(user)},r={self._nonce}"
        self._expected_signature: bytes | None = None

    def initial(self) -> bytes:
        return ("n,," + self._first_bare).encode()

    def respond(self, challenge: bytes) -> bytes:
        if self._expected_signature is not None:
            raise SaslError("the server sent a second SCRAM challenge")
        server_first = challenge.decode(errors="replace")
        fields = _attributes(challenge)
        nonce, salt, rounds = fields.get("r", ""), fields.get("s"), fields.get("i", "")
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SaslError("the server's SCRAM nonce does not extend ours")
        if salt is None or not rounds.isdigit():
            raise SaslError("the server's SCRAM challenge lacks a salt or an iteration count")
        if not 1 <= int(rounds) <= MAX_SCRAM_ITERATIONS:
            raise SaslError(f"the server asks for {rounds} SCRAM iterations")
        try:
            salt_bytes = base64.b64decode(salt, validate=True)
        except ValueError:
            raise SaslError("the server's SCRAM salt is not base64") from None
        salted = hashlib.pbkdf2_hmac("sha1", self._password.encode(), salt_bytes, int(rounds))
        final_bare = f"c=biws,r={nonce}"
        auth_message = f"{self._first_bare},{server_first},{final_bare}".encode()
        client_key = hmac.digest(salted, b"Client Key", "sha1")
        stored_key = hashlib.sha1(client_key).digest()  # noqa: S324 - the mechanism is SHA-1
        signature = hmac.digest(stored_key, auth_message, "sha1")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha1")
        self._expected_signature = hmac.digest(server_key, auth_message, "sha1")
        return f"{final_bare},p={base64.b64encode(proof).decode()}".encode()

    def check_success(self, data: bytes) -> None:
        # The server proves it knows our stored key: a fake server that says "success" fails here.
        if self._expected_signature is None:
            raise SaslError("the server reported success before the SCRAM exchange finished")
        verifier = _attributes(data).get("v", "")
        try:
            got = base64.b64decode(verifier, validate=True)
        except ValueError:
            got = b""
        if not hmac.compare_digest(got, self._expected_signature):
            raise SaslError("the server's SCRAM signature is wrong (it does not know the account)")
