"""Shared helpers and fixtures for the integration tests (real sockets on 127.0.0.1).

* :func:`poll_until` - poll some peers until a condition holds (bounded in time).
* ``ws_server`` - factory fixture: a python-``websockets`` (sync API) server in a thread.
* ``ws_connect`` - factory fixture: a python-``websockets`` sync client connection.
* ``raw_ws_server`` - factory fixture: a TCP server that does the WebSocket handshake by
  hand and then gives the test the bare socket, with frame helpers (for peers that stop
  reading, stop answering pings, send odd frames, ...).

Everything started by a fixture is stopped at teardown.
"""

from __future__ import annotations

import inspect
import queue
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import pytest

from polling import DEFAULT_TIMEOUT, poll_until
from ws_frames import accept_key, encode_frame


def poll_for(duration: float, peers: Any = ()) -> None:
    """Keep polling ``peers`` for ``duration`` seconds (to show that something does NOT happen)."""
    poll_until(lambda: False, peers, timeout=duration)


# Test modules get the helpers as fixtures (importing ``conftest`` by name is ambiguous
# when several conftest.py files are collected).
@pytest.fixture(name="poll_until")
def _poll_until_fixture() -> Callable[..., Any]:
    """The :func:`poll_until` helper: ``poll_until(predicate, peers=(), timeout=5.0)``."""
    return poll_until


@pytest.fixture(name="poll_for")
def _poll_for_fixture() -> Callable[..., None]:
    """The :func:`poll_for` helper: ``poll_for(duration, peers=())``."""
    return poll_for


# ---------------------------------------------------------------- websockets server


def _next_from(q: queue.Queue[Any], peers: Any, timeout: float, where: str) -> Any:
    """The next item a server thread put in ``q``, polling ``peers`` while waiting."""
    box: list[Any] = []

    def got() -> bool:
        try:
            box.append(q.get_nowait())
        except queue.Empty:
            return False
        return True

    if not poll_until(got, peers, timeout):
        raise AssertionError(f"no connection reached {where} in time")
    return box[0]


class WSServer:
    """A ``websockets.sync.server`` server on 127.0.0.1 running in a thread.

    ``handler(conn)`` runs once per connection in its own thread (the connection closes
    when it returns); ``ConnectionClosed`` raised in it is swallowed. ``serve_kwargs`` go
    to ``websockets.sync.server.serve`` (``subprotocols``, ``max_size``, ...).
    """

    def __init__(self, handler: Callable[[Any], Any], **serve_kwargs: Any) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.server import serve

        self.connections: list[Any] = []
        self.errors: list[BaseException] = []
        self._new: queue.Queue[Any] = queue.Queue()

        def wrapped(conn: Any) -> None:
            self.connections.append(conn)
            self._new.put(conn)
            try:
                handler(conn)
            except ConnectionClosed:
                pass
            except BaseException as e:  # recorded for the test to inspect
                self.errors.append(e)

        serve_kwargs.setdefault("ping_interval", None)
        self._server = serve(wrapped, "127.0.0.1", 0, **serve_kwargs)
        self.port: int = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def next_connection(self, timeout: float = DEFAULT_TIMEOUT, peers: Any = ()) -> Any:
        """The next accepted connection (polling ``peers`` meanwhile, for no-thread contexts)."""
        return _next_from(self._new, peers, timeout, "the websockets server")

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(DEFAULT_TIMEOUT)


def echo_handler(conn: Any) -> None:
    """Send every message back, as text or binary as it came."""
    for msg in conn:
        conn.send(msg)


def hold_handler(conn: Any) -> None:
    """Keep the connection open (reading and discarding) until the client ends it."""
    for _ in conn:
        pass


@pytest.fixture
def ws_server() -> Iterator[Callable[..., WSServer]]:
    """Factory: ``ws_server(handler=echo_handler, **serve_kwargs) -> WSServer``."""
    servers: list[WSServer] = []

    def make(handler: Callable[[Any], Any] = echo_handler, **kwargs: Any) -> WSServer:
        s = WSServer(handler, **kwargs)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def ws_connect() -> Iterator[Callable[..., Any]]:
    """Factory: ``ws_connect(url, **kwargs)`` -> a ``websockets.sync.client`` connection.

    Blocks until the handshake is done, so the server side must progress without the
    test polling it (the default threaded context does).
    """
    from websockets.sync.client import connect

    conns: list[Any] = []

    # websockets >= 16 warns unless a directly used connect() says legacy=True
    direct = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}

    def make(url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("open_timeout", DEFAULT_TIMEOUT)
        kwargs.setdefault("close_timeout", 1)
        for k, v in direct.items():
            kwargs.setdefault(k, v)
        c = connect(url, **kwargs)
        conns.append(c)
        return c

    yield make
    for c in conns:
        c.close()


# ---------------------------------------------------------------- raw WebSocket server


class Frame(NamedTuple):
    fin: bool
    opcode: int
    payload: bytes
    masked: bool


class RawWSConn:
    """The server end of one hand-shaken connection: a bare socket plus frame helpers."""

    def __init__(self, sock: socket.socket, request_line: str, headers: dict[str, str],
                 leftover: bytes) -> None:
        self.sock = sock
        self.request_line = request_line
        self.headers = headers  # request headers, names lowercased
        self._buf = bytearray(leftover)

    def _fill(self, n: int, deadline: float) -> None:
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"wanted {n} bytes, have {len(self._buf)}")
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError(f"connection closed with {len(self._buf)} bytes buffered")
            self._buf += chunk

    def _take(self, n: int, deadline: float) -> bytes:
        self._fill(n, deadline)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def recv_frame(self, timeout: float = DEFAULT_TIMEOUT) -> Frame:
        """Read and unmask one frame."""
        deadline = time.monotonic() + timeout
        b0, b1 = self._take(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._take(2, deadline))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._take(8, deadline))
        mask = self._take(4, deadline) if b1 & 0x80 else None
        payload = self._take(n, deadline)
        if mask:
            payload = _unmask(payload, mask)
        return Frame(bool(b0 & 0x80), b0 & 0x0F, payload, mask is not None)

    def recv_eof(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Discard input until the peer closes TCP; True if it did within ``timeout``."""
        deadline = time.monotonic() + timeout
        self.sock.setblocking(False)
        try:
            while time.monotonic() < deadline:
                r, _, _ = select.select([self.sock], [], [], deadline - time.monotonic())
                if r:
                    try:
                        if not self.sock.recv(1 << 16):
                            return True
                    except ConnectionResetError:
                        return True
            return False
        finally:
            self.sock.setblocking(True)

    def send_frame(self, opcode: int, payload: bytes = b"", fin: bool = True) -> None:
        self.sock.sendall(encode_frame(opcode, payload, fin))

    def send_close(self, code: int | None = 1000, reason: bytes = b"") -> None:
        body = b"" if code is None else struct.pack("!H", code) + reason
        self.send_frame(0x8, body)

    def close(self) -> None:
        self.sock.close()


def _unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


class RawWSServer:
    """A listening socket whose connections are upgraded by hand in a background thread.

    ``rcvbuf`` sets SO_RCVBUF on the listening socket (inherited by accepted sockets), to
    make a server that stops reading fill up quickly. ``protocol`` is put in the response's
    Sec-WebSocket-Protocol; ``response_headers`` are extra lines; ``handshake=False`` gives
    the test the socket right after accept, with the request unread.
    """

    def __init__(self, rcvbuf: int | None = None, protocol: str | None = None,
                 response_headers: Iterable[str] = (), handshake: bool = True,
                 family: int = socket.AF_INET) -> None:
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.listener.bind((host, 0))
        self.listener.listen(16)
        self.port: int = self.listener.getsockname()[1]
        self.url = f"ws://[{host}]:{self.port}" if family == socket.AF_INET6 \
            else f"ws://{host}:{self.port}"
        self.protocol = protocol
        self.response_headers = list(response_headers)
        self.handshake = handshake
        self.conns: queue.Queue[Any] = queue.Queue()
        self.all: list[Any] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                r, _, _ = select.select([self.listener], [], [], 0.05)
                if not r:
                    continue
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.all.append(sock)
            try:
                self.conns.put(self._upgrade(sock) if self.handshake else sock)
            except Exception as e:  # handed to the test as the "connection"
                self.conns.put(e)

    def _upgrade(self, sock: socket.socket) -> RawWSConn:
        sock.settimeout(DEFAULT_TIMEOUT)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise EOFError("client closed during the handshake")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers[name] = f"{headers[name]},{value.strip()}" if name in headers \
                else value.strip()
        resp = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Accept: " + accept_key(headers.get("sec-websocket-key", ""))]
        if self.protocol:
            resp.append("Sec-WebSocket-Protocol: " + self.protocol)
        resp += self.response_headers
        sock.sendall(("\r\n".join(resp) + "\r\n\r\n").encode("latin-1"))
        sock.settimeout(None)
        return RawWSConn(sock, lines[0], headers, rest)

    def accept(self, timeout: float = DEFAULT_TIMEOUT, peers: Any = ()) -> Any:
        """The next connection (a :class:`RawWSConn`, or a socket if ``handshake=False``)."""
        conn = _next_from(self.conns, peers, timeout, "the raw server")
        if isinstance(conn, Exception):
            raise conn
        return conn

    def close(self) -> None:
        self._stop = True
        self._thread.join(DEFAULT_TIMEOUT)
        self.listener.close()
        for s in self.all:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def raw_ws_server() -> Iterator[Callable[..., RawWSServer]]:
    """Factory: ``raw_ws_server(rcvbuf=None, protocol=None, ...) -> RawWSServer``."""
    servers: list[RawWSServer] = []

    def make(**kwargs: Any) -> RawWSServer:
        s = RawWSServer(**kwargs)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def connect_peer() -> Iterator[Callable[..., Any]]:
    """Factory: ``connect_peer(url, peer=None, expect_open=True, **properties) -> WebSocketPeer``.

    Sets the given properties, calls ``connect_to_url`` (asserting ``OK``) and, unless
    ``expect_open=False``, polls until the peer left CONNECTING and asserts it is OPEN.
    Every peer is dropped (``close(-1)``) at teardown.
    """
    from godot_websocket import Error, WebSocketPeer

    peers: list[Any] = []

    def make(url: str, peer: Any = None, expect_open: bool = True, **props: Any) -> Any:
        if peer is None:
            peer = WebSocketPeer()
        peers.append(peer)
        for name, value in props.items():
            setattr(peer, name, value)
        assert peer.connect_to_url(url) == Error.OK
        if expect_open:
            poll_until(lambda: peer.get_ready_state() != WebSocketPeer.STATE_CONNECTING, peer)
            assert peer.get_ready_state() == WebSocketPeer.STATE_OPEN
        return peer

    yield make
    for p in peers:
        p.close(-1)


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening (bound then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port
