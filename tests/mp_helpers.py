"""Helpers for the WebSocketMultiplayerPeer tests (tests/test_multiplayer*.py).

Everything here uses real sockets on the loopback interface and is bounded in time:
every wait is a poll loop with a deadline.
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

from godot_websocket import Error, WebSocketMultiplayerPeer
from polling import poll_until

TIMEOUT = 5.0
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ID = struct.Struct("<i")
CONNECTED = WebSocketMultiplayerPeer.CONNECTION_CONNECTED
CONNECTING = WebSocketMultiplayerPeer.CONNECTION_CONNECTING
DISCONNECTED = WebSocketMultiplayerPeer.CONNECTION_DISCONNECTED


def pump(peers: Any, predicate: Callable[[], Any], timeout: float = TIMEOUT,
         interval: float = 0.001) -> Any:
    """Poll ``peers`` until ``predicate()`` is truthy or ``timeout`` passes; returns its value."""
    return poll_until(predicate, peers, timeout, interval)


def pump_for(peers: Any, duration: float) -> None:
    """Keep polling for ``duration`` seconds (to show that something does NOT happen)."""
    pump(peers, lambda: False, timeout=duration)


class Events:
    """Records ``peer_connected``/``peer_disconnected`` of one peer, and whether each was
    emitted from inside that peer's ``poll()`` (the instance's ``poll`` is wrapped)."""

    def __init__(self, peer: WebSocketMultiplayerPeer) -> None:
        self.peer = peer
        self.log: list[tuple[str, int]] = []
        self.outside_poll: list[tuple[str, int]] = []
        self._in_poll = False
        inner = peer.poll

        def poll() -> None:
            self._in_poll = True
            try:
                inner()
            finally:
                self._in_poll = False

        peer.poll = poll  # type: ignore[method-assign]
        peer.peer_connected.connect(lambda i: self._add("connected", i))
        peer.peer_disconnected.connect(lambda i: self._add("disconnected", i))

    def _add(self, kind: str, pid: int) -> None:
        self.log.append((kind, pid))
        if not self._in_poll:
            self.outside_poll.append((kind, pid))

    def connected(self) -> list[int]:
        return [i for k, i in self.log if k == "connected"]

    def disconnected(self) -> list[int]:
        return [i for k, i in self.log if k == "disconnected"]

    def clear(self) -> None:
        self.log.clear()


def make_server(port: int = 0, bind: str = "127.0.0.1", **settings: Any) -> tuple[
        WebSocketMultiplayerPeer, int]:
    """A listening server (settings applied before create_server) and its port."""
    server = WebSocketMultiplayerPeer()
    for name, value in settings.items():
        setattr(server, name, value)
    err = server.create_server(port, bind)
    assert err == Error.OK, err
    return server, server.get_local_port()


def url_of(port: int, host: str = "127.0.0.1") -> str:
    return f"ws://[{host}]:{port}" if ":" in host else f"ws://{host}:{port}"


def connect_clients(server: WebSocketMultiplayerPeer, port: int, n: int,
                    timeout: float = TIMEOUT, host: str = "127.0.0.1",
                    **settings: Any) -> list[WebSocketMultiplayerPeer]:
    """``n`` connected clients of ``server`` (all CONNECTED, all known to the server)."""
    clients = []
    for _ in range(n):
        c = WebSocketMultiplayerPeer()
        for name, value in settings.items():
            setattr(c, name, value)
        assert c.create_client(url_of(port, host)) == Error.OK
        clients.append(c)
    before = len(server.get_peer_ids())
    ok = pump([server, *clients],
              lambda: all(c.get_connection_status() == CONNECTED for c in clients)
              and len(server.get_peer_ids()) == before + n, timeout)
    assert ok, [c.get_connection_status() for c in clients]
    return clients


def drain(peer: WebSocketMultiplayerPeer) -> list[tuple[int, bytes]]:
    """Every packet waiting in ``peer`` as (sender, bytes)."""
    out = []
    while peer.get_available_packet_count():
        sender = peer.get_packet_peer()
        data = peer.get_packet()
        assert peer.get_packet_error() == Error.OK
        out.append((sender, data))
    return out


def collect(peers: Any, receiver: WebSocketMultiplayerPeer, count: int,
            timeout: float = TIMEOUT) -> list[tuple[int, bytes]]:
    """Poll until ``receiver`` got ``count`` packets in total; returns them (sender, bytes)."""
    got: list[tuple[int, bytes]] = []

    def enough() -> bool:
        got.extend(drain(receiver))
        return len(got) >= count

    pump(peers, enough, timeout)
    return got


def close_all(peers: Iterable[Any]) -> None:
    for p in peers:
        p.close()


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


# ------------------------------------------------------------ raw WebSocket client


def mask_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One masked client frame."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head.append(0x80 | n)
    elif n <= 0xFFFF:
        head.append(0x80 | 126)
        head += struct.pack("!H", n)
    else:
        head.append(0x80 | 127)
        head += struct.pack("!Q", n)
    key = os.urandom(4)
    head += key
    return bytes(head) + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


class RawClient:
    """A WebSocket client written by hand on a bare socket: the test controls every byte,
    and can vanish without a close frame (``close()``, ``shutdown()``, ``reset()``)."""

    def __init__(self, port: int, host: str = "127.0.0.1", handshake: bool = True,
                 path: str = "/", headers: Iterable[str] = ()) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buf = bytearray()
        self.response: list[str] = []  # the 101 response: status line, then header lines
        if handshake:
            self.handshake(host, port, path, headers)

    def handshake(self, host: str, port: int, path: str = "/",
                  headers: Iterable[str] = ()) -> None:
        """Send the upgrade request, read and check the 101 response."""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13", *headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + TIMEOUT
        while b"\r\n\r\n" not in self.buf:
            self._recv_some(deadline)
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.response = head.decode("latin-1").split("\r\n")
        self.buf = bytearray(rest)
        assert self.response[0].startswith("HTTP/1.1 101"), self.response
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        assert f"Sec-WebSocket-Accept: {accept}" in self.response, self.response

    def _recv_some(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"nothing received in time ({len(self.buf)} bytes buffered)")
        r, _, _ = select.select([self.sock], [], [], left)
        if r:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed by the server")
            self.buf += chunk

    def _parse(self) -> tuple[int, bytes] | None:
        b = self.buf
        if len(b) < 2:
            return None
        n, off = b[1] & 0x7F, 2
        if n == 126:
            if len(b) < 4:
                return None
            (n,), off = struct.unpack_from("!H", b, 2), 4
        elif n == 127:
            if len(b) < 10:
                return None
            (n,), off = struct.unpack_from("!Q", b, 2), 10
        if len(b) < off + n:
            return None
        assert not b[1] & 0x80, "server frames must not be masked"
        frame = (b[0] & 0x0F, bytes(b[off:off + n]))
        del b[:off + n]
        return frame

    def recv_frame(self, timeout: float = TIMEOUT) -> tuple[int, bytes]:
        """(opcode, payload) of the next server frame (server frames are unmasked)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._parse()
            if frame is not None:
                return frame
            self._recv_some(deadline)

    def read_id(self) -> int:
        opcode, payload = self.recv_frame()
        assert opcode == 0x2 and len(payload) == 4, (opcode, payload)
        return int(ID.unpack(payload)[0])

    def send(self, payload: bytes, opcode: int = 0x2) -> None:
        self.sock.sendall(mask_frame(opcode, payload))

    def wait_eof(self, timeout: float = TIMEOUT) -> bool:
        """Read (and drop) until the server ends TCP; True if it did in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.sock], [], [], max(0.0, deadline - time.monotonic()))
            if r:
                try:
                    if not self.sock.recv(65536):
                        return True
                except (ConnectionResetError, OSError):
                    return True
        return False

    def close(self) -> None:
        self.sock.close()

    def shutdown(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        """Close with an RST (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
