"""handshake_timeout on both sides (spec §1.1, §1.3, §1.4, §10.1) and refuse_new_connections
(§1.3; deliberate difference: new TCP connections are accepted and closed at once instead of
being left in the backlog)."""

from __future__ import annotations

import select
import socket
import threading
import time

import pytest

from godot_websocket import Error, WebSocketMultiplayerPeer, WebSocketPeer
from mp_helpers import (
    CONNECTED,
    CONNECTING,
    DISCONNECTED,
    Events,
    RawClient,
    collect,
    connect_clients,
    make_server,
    pump,
    pump_for,
    url_of,
)

W = WebSocketMultiplayerPeer


def eof(sock: socket.socket) -> bool:
    """True once the peer closed the connection (non-blocking check)."""
    r, _, _ = select.select([sock], [], [], 0)
    if not r:
        return False
    try:
        return sock.recv(65536, socket.MSG_PEEK) == b""
    except (ConnectionResetError, OSError):
        return True


# ------------------------------------------------------------------ server side


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nHost: x\r\n"],
                         ids=["silent", "half_request"])
def test_server_drops_a_connection_that_never_finishes_its_handshake(sent: bytes) -> None:
    server, port = make_server(handshake_timeout=0.5)
    ev = Events(server)
    try:
        start = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port))
        if sent:
            s.sendall(sent)
        pump_for(server, 0.1)
        assert not eof(s)  # still waiting before the timeout
        assert pump(server, lambda: eof(s), timeout=3)
        elapsed = time.monotonic() - start
        assert 0.5 <= elapsed < 2.5, elapsed
        assert ev.log == [] and server.get_peer_ids() == []
        s.close()
        # the server still serves real clients
        (c,) = connect_clients(server, port, 1)
        c.close()
    finally:
        server.close()


def test_server_timeout_does_not_touch_connected_peers() -> None:
    server, port = make_server(handshake_timeout=0.1)
    ev = Events(server)
    try:
        (c,) = connect_clients(server, port, 1)
        pump_for([server, c], 0.4)
        assert c.get_connection_status() == CONNECTED
        assert server.get_peer_ids() == [c.get_unique_id()]
        assert ev.disconnected() == []
        c.close()
    finally:
        server.close()


def test_server_handshake_timeout_read_when_polled() -> None:
    """A stalled pending connection is dropped by the first poll after the timeout, using
    the timeout in force at that poll."""
    server, port = make_server(handshake_timeout=60)
    try:
        s = socket.create_connection(("127.0.0.1", port))
        pump_for(server, 0.2)
        assert not eof(s)
        server.handshake_timeout = 0.05
        assert pump(server, lambda: eof(s), timeout=2)
        s.close()
    finally:
        server.close()


# ------------------------------------------------------------------ client side


def test_client_to_a_server_that_never_answers_the_handshake() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            conn, _ = listener.accept()  # then silence
            accepted.append(conn)
        except OSError:
            pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    client = W()
    client.handshake_timeout = 0.5
    ev = Events(client)
    try:
        start = time.monotonic()
        assert client.create_client(url_of(listener.getsockname()[1])) == Error.OK
        pump_for(client, 0.1)
        assert client.get_connection_status() == CONNECTING
        assert pump(client, lambda: client.get_connection_status() == DISCONNECTED, timeout=3)
        elapsed = time.monotonic() - start
        assert 0.5 <= elapsed < 2.5, elapsed
        assert ev.log == []
        assert client.get_unique_id() == 0 and client.get_peer_ids() == []
        t.join(2)
        assert len(accepted) == 1
        # the timed-out connection was dropped: the silent server sees EOF
        assert pump([], lambda: _drain(accepted[0]), timeout=3)
    finally:
        client.close()
        listener.close()
        for a in accepted:
            a.close()


def _drain(s: socket.socket) -> bool:
    r, _, _ = select.select([s], [], [], 0)
    if r:
        try:
            return s.recv(65536) == b""
        except OSError:
            return True
    return False


def test_client_timer_starts_at_create_client(raw_ws_server) -> None:
    """The client's timeout covers TCP + upgrade; once OPEN it waits for the id forever."""
    silent = raw_ws_server()  # completes the upgrade, never sends an id
    client = W()
    ev = Events(client)
    try:
        client.create_client(silent.url)
        conn = silent.accept(peers=client)
        assert pump(client, lambda: client.get_peer(1).get_ready_state() ==
                    WebSocketPeer.STATE_OPEN)
        client.handshake_timeout = 0.2  # long over once polled again; but the socket is OPEN
        pump_for(client, 0.6)
        assert client.get_connection_status() == CONNECTING
        assert ev.log == []
        # the id arrives late: accepted, as Godot does
        conn.send_frame(0x2, (4242).to_bytes(4, "little"))
        assert pump(client, lambda: client.get_connection_status() == CONNECTED)
        assert client.get_unique_id() == 4242 and ev.log == [("connected", 1)]
    finally:
        client.close()


def test_client_timeout_applies_while_closing_after_a_bad_id(raw_ws_server) -> None:
    """After an invalid id the client closes; if the server never answers the close, the
    handshake timeout clears it (the socket is CLOSING, not OPEN)."""
    srv = raw_ws_server()
    client = W()
    ev = Events(client)
    try:
        client.create_client(srv.url)
        conn = srv.accept(peers=client)
        conn.send_frame(0x2, b"\x01\x00\x00\x00")  # id 1: invalid
        assert pump(client, lambda: client.get_peer(1).get_ready_state() ==
                    WebSocketPeer.STATE_CLOSING)
        assert conn.recv_frame() == (True, 0x8, b"\x03\xe8", True)  # close 1000, unanswered
        pump_for(client, 0.2)
        assert client.get_connection_status() == CONNECTING  # 3 s default: not yet
        client.handshake_timeout = 0.1  # already exceeded: the next poll clears
        client.poll()
        assert client.get_connection_status() == DISCONNECTED
        assert ev.log == []
    finally:
        client.close()


# ------------------------------------------------------------------ refuse_new_connections


def test_refuse_new_connections() -> None:
    server, port = make_server()
    ev = Events(server)
    try:
        old = connect_clients(server, port, 2)
        ev.clear()
        server.refuse_new_connections = True
        # a new client does not become a peer and ends disconnected, silently
        newcomer = W()
        nev = Events(newcomer)
        newcomer.create_client(url_of(port))
        assert pump([server, newcomer, *old],
                    lambda: newcomer.get_connection_status() == DISCONNECTED)
        pump_for([server, *old], 0.1)
        assert ev.log == [] and nev.log == []
        assert sorted(server.get_peer_ids()) == sorted(c.get_unique_id() for c in old)
        # a raw TCP connection is closed at once (deliberate difference from Godot)
        s = socket.create_connection(("127.0.0.1", port))
        assert pump(server, lambda: eof(s), timeout=2)
        s.close()
        # existing peers are unaffected, both ways
        for c in old:
            assert c.put_packet(b"still here") == Error.OK
        got = collect([server, *old], server, 2)
        assert sorted(got) == sorted((c.get_unique_id(), b"still here") for c in old)
        server.set_target_peer(0)
        assert server.put_packet(b"hello old") == Error.OK
        for c in old:
            assert collect([server, *old], c, 1) == [(1, b"hello old")]
        # turned off: new connections are welcome again
        server.set_refuse_new_connections(False)
        (late,) = connect_clients(server, port, 1)
        assert ev.connected() == [late.get_unique_id()]
        for c in [*old, late]:
            c.close()
    finally:
        server.close()


def test_refuse_drops_a_pending_connection_that_completes_its_handshake() -> None:
    """A connection accepted before the flag was set, whose upgrade completes after it, is
    dropped without an id (spec §1.3 B)."""
    server, port = make_server()
    ev = Events(server)
    raw = RawClient(port, handshake=False)
    try:
        pump_for(server, 0.2)  # accepted: pending
        server.refuse_new_connections = True
        raw.handshake("127.0.0.1", port)  # the core answers 101 meanwhile
        assert pump(server, lambda: raw.wait_eof(0.01), timeout=3)
        assert ev.log == [] and server.get_peer_ids() == []
    finally:
        raw.close()
        server.close()


def test_refuse_has_no_effect_on_a_client() -> None:
    server, port = make_server()
    client = W()
    client.refuse_new_connections = True
    try:
        client.create_client(url_of(port))
        assert pump([server, client], lambda: client.get_connection_status() == CONNECTED)
    finally:
        client.close()
        server.close()
