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
                 mask: bytes | None = None) -> bytes:
    """One RFC 6455 frame (unmasked, as a server sends it, unless ``mask`` is 4 bytes)."""
    head = bytearray([(0x80 if fin else 0) | opcode])
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
        payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
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
