"""RFC 6455 bits the tests build frames and handshakes with (shared by conftest and tests)."""

from __future__ import annotations

import base64
import hashlib
import socket
import struct

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def encode_frame(opcode: int, payload: bytes = b"", fin: bool = True,
                 mask: bytes | None = None, rsv: int = 0) -> bytes:
    """One RFC 6455 frame (unmasked, as a server sends it, unless ``mask`` is 4 bytes;
    ``rsv``: the reserved bits, already in place, e.g. 0x40)."""
    head = bytearray([(0x80 if fin else 0) | rsv | opcode])
    mbit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head.append(mbit | n)
    elif n <= 0xFFFF:
        head.append(mbit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", n)
    if mask:
        head += mask
        # whole-payload XOR (one big int), fast for the fuzzers' large frames
        key = (mask * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
            n, "little") if n else b""
    return bytes(head) + payload


def read_to_eof(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything ``sock`` receives until the other side ends TCP (each recv bounded)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


#: RFC 6455's sample key, and the accept value a server must answer it with.
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = accept_key(SAMPLE_KEY)


def upgrade_request(path: str = "/", extra: tuple[str, ...] = (), method: str = "GET",
                    version: str = "HTTP/1.1", key: str | None = SAMPLE_KEY,
                    wsver: str | None = "13", host: bool = True,
                    upgrade: str | None = "websocket", connection: str | None = "Upgrade",
                    eol: str = "\r\n") -> bytes:
    """A client's upgrade request head; each argument can leave its line out (None)
    or bend it, for tests of how a server treats bad requests."""
    lines = [f"{method} {path} {version}"]
    if host:
        lines.append("Host: 127.0.0.1")
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if wsver is not None:
        lines.append(f"Sec-WebSocket-Version: {wsver}")
    lines += list(extra)
    return (eol.join(lines) + eol + eol).encode()
