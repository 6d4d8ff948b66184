"""WebSocketPeer.accept_stream(): the server side of a WebSocket on a socket the program
accepted itself (Godot's accept_stream(StreamPeerTCP), with a Python socket).

The core adopts the descriptor as a raw socket on a vhost of its own, reads the upgrade
request (after what the program read of it already: ``request``, Godot's second argument
after 4.7) and answers it with its own handshake, as for the connections of
``create_server()``.  Peers: python ``websockets`` clients and our own client, on real
sockets on 127.0.0.1.
"""

from __future__ import annotations

import inspect
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from godot_websocket import Context, Error, WebSocketPeer

S = WebSocketPeer.State

pytestmark = pytest.mark.skipif(
    os.environ.get("GODOT_WEBSOCKET_SERVER") == "lws",
    reason="accept_stream() needs the core's server (GODOT_WEBSOCKET_SERVER=lws refuses it)")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A plain TCP listening socket of the test's own on 127.0.0.1."""
    s = socket.create_server(("127.0.0.1", 0))
    yield s
    s.close()


class Client(threading.Thread):
    """A python ``websockets`` client connecting in the background (its connect()
    blocks until the handshake, which needs the test thread to accept first)."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(daemon=True)
        self.url, self.kwargs = url, kwargs
        self.conn: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        from websockets.sync.client import connect

        # websockets >= 16 warns unless a directly used connect() says legacy=True
        legacy = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}

        try:
            self.conn = connect(self.url, open_timeout=10, close_timeout=1, **legacy, **self.kwargs)
        except BaseException as e:  # reported by the test
            self.error = e

    def connected(self) -> Any:
        self.join(15)
        assert not self.is_alive(), "client handshake still running"
        if self.error is not None:
            raise self.error
        return self.conn


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(url: str, **kwargs: Any) -> Client:
        made.append(Client(url, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.join(15)
        if c.conn is not None:
            c.conn.close()


def _url(lsock: socket.socket, path: str = "/") -> str:
    return f"ws://127.0.0.1:{lsock.getsockname()[1]}{path}"


def _open(peer: WebSocketPeer, poll_until: Any) -> None:
    assert poll_until(lambda: peer.get_ready_state() != S.STATE_CONNECTING, peer, timeout=10)
    assert peer.get_ready_state() == S.STATE_OPEN


@pytest.mark.parametrize("threaded", [True, False], ids=["threaded", "nothread"])
def test_python_client_talks_to_an_adopted_socket(
        listener: socket.socket, clients: Any, poll_until: Any, threaded: bool) -> None:
    peer = WebSocketPeer(context=Context(threaded=threaded))
    peer.supported_protocols = ["beta", "alpha"]
    peer.handshake_headers = ["X-Game: demo"]
    client = clients(_url(listener, "/play?room=7"), subprotocols=["alpha", "gamma"])
    sock, addr = listener.accept()
    assert peer.accept_stream(sock) == Error.OK
    assert sock.fileno() == -1  # the peer owns the descriptor now
    assert peer.get_ready_state() == S.STATE_CONNECTING
    if not threaded:
        # a no-thread context does the handshake inside poll()
        assert poll_until(lambda: not client.is_alive(), peer, timeout=10)
    conn = client.connected()
    _open(peer, poll_until)
    assert conn.subprotocol == "alpha"
    assert conn.response.headers["X-Game"] == "demo"
    assert peer.get_selected_protocol() == "alpha"
    assert peer.get_requested_url() == _url(listener, "/play?room=7")
    assert (peer.get_connected_host(), peer.get_connected_port()) == addr
    # both ways
    conn.send(b"\x01\x02")
    assert poll_until(lambda: peer.get_available_packet_count() > 0, peer)
    assert peer.get_packet() == b"\x01\x02"
    assert peer.send_text("hi") == Error.OK
    peer.poll()
    assert conn.recv(timeout=5) == "hi"
    # a close from our side reaches the client, and the socket goes
    peer.close(4001, "bye")
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer, timeout=10)
    assert peer.get_close_code() == 4001
    from websockets.exceptions import ConnectionClosed

    with pytest.raises(ConnectionClosed) as info:
        conn.recv(timeout=5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4001


def test_our_client_and_a_client_close(listener: socket.socket, poll_until: Any) -> None:
    server = WebSocketPeer()
    client = WebSocketPeer()
    assert client.connect_to_url(_url(listener, "/x")) == Error.OK
    sock, _ = listener.accept()
    assert server.accept_stream(sock) == Error.OK
    assert poll_until(lambda: S.STATE_CONNECTING not in (server.get_ready_state(),
                                                         client.get_ready_state()),
                      (server, client), timeout=10)
    assert server.get_ready_state() == client.get_ready_state() == S.STATE_OPEN
    for i in range(50):
        assert client.put_packet(bytes([i]) * (i + 1)) == Error.OK
    got: list[bytes] = []

    def drain() -> bool:
        while server.get_available_packet_count():
            got.append(server.get_packet())
        return len(got) == 50

    assert poll_until(drain, (server, client))
    assert got == [bytes([i]) * (i + 1) for i in range(50)]
    client.close(1001, "leaving")
    assert poll_until(lambda: server.get_ready_state() == S.STATE_CLOSED, (server, client),
                      timeout=10)
    assert (server.get_close_code(), server.get_close_reason()) == (1001, "leaving")


def test_each_adopted_peer_keeps_its_own_settings(
        listener: socket.socket, clients: Any, poll_until: Any) -> None:
    """(Adopted as HTTP sockets, libwebsockets 4.1 would choose their settings by Host
    header among all servers: the reason accept_stream() used to be unavailable.)"""
    peers = []
    for proto in ("alpha", "beta"):
        p = WebSocketPeer()
        p.supported_protocols = [proto]
        p.handshake_headers = [f"X-Proto: {proto}"]
        client = clients(_url(listener), subprotocols=["alpha", "beta"])
        sock, _ = listener.accept()
        assert p.accept_stream(sock) == Error.OK
        peers.append((p, client))
    for (p, client), proto in zip(peers, ("alpha", "beta")):
        conn = client.connected()
        _open(p, poll_until)
        assert conn.subprotocol == proto == p.get_selected_protocol()
        assert conn.response.headers["X-Proto"] == proto


@pytest.mark.parametrize("split", ["first-line", "whole-head"])
def test_a_request_read_in_part_is_handed_over(
        listener: socket.socket, clients: Any, poll_until: Any, split: str) -> None:
    """The program read some of the request (to route it, say) and hands it over."""
    client = clients(_url(listener, "/route"))
    sock, _ = listener.accept()
    end = b"\r\n" if split == "first-line" else b"\r\n\r\n"
    head = b""
    sock.settimeout(10)
    while end not in head:
        chunk = sock.recv(1)  # byte by byte: nothing past the mark is taken
        assert chunk, "client went away"
        head += chunk
    assert head.startswith(b"GET /route HTTP/1.1\r\n")
    peer = WebSocketPeer()
    assert peer.accept_stream(sock, head.decode("ascii")
                              if split == "first-line" else head) == Error.OK
    conn = client.connected()
    _open(peer, poll_until)
    assert peer.get_requested_url() == _url(listener, "/route")
    conn.send(b"ok")
    assert poll_until(lambda: peer.get_available_packet_count() > 0, peer)
    assert peer.get_packet() == b"ok"


@pytest.mark.parametrize("request_head, answer", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b""),  # plain HTTP: dropped
    (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
     b"HTTP/1.0 403 Forbidden\r\n"),
], ids=["plain-http", "other-upgrade"])
def test_a_request_that_is_not_a_websocket_upgrade_fails(
        listener: socket.socket, poll_until: Any, request_head: bytes, answer: bytes) -> None:
    """Answered as create_server()'s connections are (docs/differences.md)."""
    c = socket.create_connection(listener.getsockname())
    with c:
        sock, _ = listener.accept()
        peer = WebSocketPeer()
        assert peer.accept_stream(sock) == Error.OK
        c.sendall(request_head)
        assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer, timeout=10)
        assert peer.get_close_code() == -1
        c.settimeout(10)
        got = b""
        while chunk := c.recv(4096):
            got += chunk
        assert got.startswith(answer) and bool(got) == bool(answer), got


def test_argument_checks(listener: socket.socket) -> None:
    peer = WebSocketPeer()
    with pytest.raises(TypeError):
        peer.accept_stream(None, 5)  # type: ignore[arg-type]
    unconnected = socket.socket()
    a, b = socket.socketpair()
    try:
        assert peer.accept_stream(unconnected) == Error.ERR_INVALID_PARAMETER
        assert peer.accept_stream(a) == Error.ERR_INVALID_PARAMETER  # not TCP
        assert unconnected.fileno() != -1 and a.fileno() != -1  # still the caller's
    finally:
        unconnected.close()
        a.close()
        b.close()
    c = socket.create_connection(listener.getsockname())
    sock, _ = listener.accept()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    try:
        assert peer.accept_stream(tls) == Error.ERR_UNAVAILABLE
        assert tls.fileno() != -1
        assert peer.get_ready_state() == S.STATE_CLOSED
    finally:
        tls.close()
        c.close()


def test_unavailable_with_the_lws_server() -> None:
    """GODOT_WEBSOCKET_SERVER=lws (read once per process): refused, socket untouched."""
    code = (
        "import socket\n"
        "from godot_websocket import WebSocketPeer, Error\n"
        "l = socket.create_server(('127.0.0.1', 0))\n"
        "c = socket.create_connection(l.getsockname())\n"
        "s, _ = l.accept()\n"
        "assert WebSocketPeer().accept_stream(s) == Error.ERR_UNAVAILABLE\n"
        "assert s.fileno() != -1\n"
        "print('ok')\n"
    )
    env = dict(os.environ, GODOT_WEBSOCKET_SERVER="lws")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
