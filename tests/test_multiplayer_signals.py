"""Signals and their order (spec §1.3-§1.6): peer_connected/peer_disconnected only from inside
poll(), disconnect_peer with and without force, close() on both sides, and peers that vanish
without a close frame (a raw socket cut off, a client process killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from godot_websocket import Context, Error, WebSocketMultiplayerPeer, WebSocketPeer
from godot_websocket._core import lib
from mp_helpers import (
    CONNECTED,
    CONNECTING,
    DISCONNECTED,
    Events,
    RawClient,
    collect,
    connect_clients,
    drain,
    make_server,
    pump,
    pump_for,
    url_of,
)

W = WebSocketMultiplayerPeer


@pytest.fixture
def pair():
    """A server and one connected client, both with event recorders."""
    server, port = make_server()
    sev = Events(server)
    client = W()
    cev = Events(client)
    assert client.create_client(url_of(port)) == Error.OK
    assert pump([server, client], lambda: client.get_connection_status() == CONNECTED
                and len(server.get_peer_ids()) == 1)
    yield server, client, sev, cev
    client.close()
    server.close()
    # whatever happened, no signal was ever emitted outside poll()
    assert sev.outside_poll == [] and cev.outside_poll == []


def test_connect_signals(pair) -> None:
    _server, client, sev, cev = pair
    cid = client.get_unique_id()
    assert sev.log == [("connected", cid)]
    assert cev.log == [("connected", 1)]


def test_state_seen_from_inside_peer_connected() -> None:
    server, port = make_server()
    client = W()
    seen: list[object] = []
    server.peer_connected.connect(lambda i: seen.append(
        ("server", i, server.get_peer(i) is not None, i in server.get_peer_ids())))
    client.peer_connected.connect(lambda i: seen.append(
        ("client", i, client.get_connection_status(), client.get_unique_id())))
    try:
        client.create_client(url_of(port))
        assert pump([server, client], lambda: len(seen) == 2)
        cid = client.get_unique_id()
        assert sorted(seen, key=str) == sorted(
            [("server", cid, True, True), ("client", 1, CONNECTED, cid)], key=str)
    finally:
        client.close()
        server.close()


def test_signals_come_only_from_poll() -> None:
    """Connections progress on the core's thread, but nothing is reported until poll()."""
    server, port = make_server()
    sev = Events(server)
    clients = [W() for _ in range(3)]
    cevs = [Events(c) for c in clients]
    try:
        for c in clients:
            c.create_client(url_of(port))
        time.sleep(0.3)  # handshakes progress meanwhile
        assert sev.log == [] and all(e.log == [] for e in cevs)
        assert server.get_peer_ids() == []
        assert all(c.get_connection_status() == CONNECTING for c in clients)
        assert pump(server, lambda: len(sev.connected()) == 3)  # the server alone: ids sent
        time.sleep(0.2)
        assert all(e.log == [] for e in cevs)  # the clients did not poll
        assert all(c.get_connection_status() == CONNECTING for c in clients)
        assert pump(clients, lambda: all(e.log == [("connected", 1)] for e in cevs))
        ids = sorted(c.get_unique_id() for c in clients)
        assert sorted(sev.connected()) == ids
        for c in clients:
            c.close()
        time.sleep(0.2)
        assert sev.disconnected() == []
        assert pump(server, lambda: len(sev.disconnected()) == 3)
        assert sorted(sev.disconnected()) == ids
        assert sev.outside_poll == [] and all(e.outside_poll == [] for e in cevs)
    finally:
        server.close()


# ------------------------------------------------------------------ server disconnect_peer


def test_disconnect_peer_signal_on_the_next_poll(pair) -> None:
    server, client, sev, cev = pair
    cid = client.get_unique_id()
    sev.clear()
    server.disconnect_peer(cid)
    assert sev.log == []  # never from disconnect_peer itself
    assert server.get_peer(cid) is not None  # still in the map until the next poll
    assert server.get_peer(cid).get_ready_state() == WebSocketPeer.STATE_CLOSING
    server.poll()  # exactly the next poll reports it, whatever the network did
    assert sev.log == [("disconnected", cid)]
    assert server.get_peer_ids() == []
    server.set_target_peer(cid)
    assert server.put_packet(b"x") == Error.ERR_INVALID_PARAMETER
    # the client sees a clean close from the server
    assert pump(client, lambda: client.get_connection_status() == DISCONNECTED)
    assert cev.log == [("connected", 1), ("disconnected", 1)]
    pump_for(server, 0.05)
    assert sev.log == [("disconnected", cid)]


def test_disconnect_peer_sends_close_1000() -> None:
    server, port = make_server()
    ws = WebSocketPeer()
    try:
        ws.connect_to_url(url_of(port))
        assert pump([server, ws], lambda: ws.get_available_packet_count() == 1)
        cid = int.from_bytes(ws.get_packet(), "little", signed=True)
        assert server.get_peer_ids() == [cid]
        server.disconnect_peer(cid)
        assert pump([server, ws], lambda: ws.get_ready_state() == WebSocketPeer.STATE_CLOSED)
        assert ws.get_close_code() == 1000
        assert ws.get_close_reason() == ""
    finally:
        ws.close(-1)
        server.close()


@pytest.mark.parametrize("code", [4000, -1])
def test_local_close_of_a_peer_is_reported_on_the_next_poll(pair, code: int) -> None:
    """Closing a peer's WebSocketPeer directly (get_peer(id).close()) is seen by the next poll
    like disconnect_peer (spec §1.3 step C: not OPEN = gone)."""
    server, client, sev, cev = pair
    cid = client.get_unique_id()
    sev.clear()
    held = server.get_peer(cid)
    pump_for([server, client], 0.05)  # obtained earlier, closed later
    held.close(code, "bye")
    assert sev.log == []
    server.poll()
    assert sev.log == [("disconnected", cid)]
    assert pump(client, lambda: client.get_connection_status() == DISCONNECTED)
    assert cev.disconnected() == [1]


def test_disconnect_peer_force_is_silent(pair) -> None:
    server, client, sev, cev = pair
    cid = client.get_unique_id()
    sev.clear()
    server.disconnect_peer(cid, True)
    assert server.get_peer(cid) is None and server.get_peer_ids() == []
    assert pump([server, client], lambda: client.get_connection_status() == DISCONNECTED)
    pump_for(server, 0.1)
    assert sev.log == []
    assert cev.log == [("connected", 1), ("disconnected", 1)]


def test_disconnect_peer_keeps_its_packets_in_the_fifo(pair) -> None:
    server, client, sev, _cev = pair
    cid = client.get_unique_id()
    for i in range(3):
        client.put_packet(b"%d" % i)
    assert pump([server, client], lambda: server.get_available_packet_count() == 3)
    server.disconnect_peer(cid)
    server.poll()
    assert sev.disconnected() == [cid]
    assert server.get_available_packet_count() == 3
    assert server.get_packet_peer() == cid  # the sender is gone, its packets are not
    assert drain(server) == [(cid, b"0"), (cid, b"1"), (cid, b"2")]


def test_disconnect_unknown_peer_logs(pair, caplog: pytest.LogCaptureFixture) -> None:
    server, client, _sev, _cev = pair
    with caplog.at_level("ERROR", logger="godot_websocket"):
        server.disconnect_peer(123)
        server.disconnect_peer(1)
        server.disconnect_peer(123, True)
        client.disconnect_peer(5)
    assert len([r for r in caplog.records if r.name == "godot_websocket"]) == 4
    pump_for([server, client], 0.05)
    assert client.get_connection_status() == CONNECTED
    assert server.get_peer_ids() == [client.get_unique_id()]


# ------------------------------------------------------------------ close()


def test_server_close_emits_nothing_and_clients_see_disconnected_then_clear() -> None:
    server, port = make_server()
    sev = Events(server)
    clients = connect_clients(server, port, 3)
    cevs = [Events(c) for c in clients]
    inside: list[tuple[int, int, int]] = []
    for c in clients:
        c.peer_disconnected.connect(lambda i, c=c: inside.append(
            (i, c.get_connection_status(), c.get_available_packet_count())))
    server.put_packet(b"unread")
    assert pump(clients, lambda: all(c.get_available_packet_count() == 1 for c in clients))
    sev.clear()
    server.close()
    assert server.get_connection_status() == DISCONNECTED
    assert pump(clients, lambda: all(c.get_connection_status() == DISCONNECTED for c in clients))
    server.poll()
    assert sev.log == []
    assert all(e.log == [("disconnected", 1)] for e in cevs)
    # emitted while still CONNECTED with the unread packet; then everything is cleared
    assert inside == [(1, CONNECTED, 1)] * 3
    for c in clients:
        assert c.get_available_packet_count() == 0
        assert c.get_unique_id() == 0 and c.get_peer_ids() == []
        assert c.get_peer(1) is None


def test_server_close_is_abnormal_for_clients() -> None:
    """close() drops TCP without a close frame: a plain WebSocketPeer sees code -1."""
    server, port = make_server()
    ws = WebSocketPeer()
    ws.connect_to_url(url_of(port))
    assert pump([server, ws], lambda: ws.get_available_packet_count() == 1)
    server.close()
    assert pump(ws, lambda: ws.get_ready_state() == WebSocketPeer.STATE_CLOSED)
    assert ws.get_close_code() == -1


def test_client_close_emits_nothing_and_server_sees_disconnected(pair) -> None:
    server, client, sev, cev = pair
    cid = client.get_unique_id()
    cev.clear()
    client.close()
    assert client.get_connection_status() == DISCONNECTED and client.get_unique_id() == 0
    assert pump(server, lambda: sev.disconnected() == [cid])
    client.poll()
    assert cev.log == []


# ------------------------------------------------------------------ client disconnect_peer(1)


def test_client_disconnect_peer_1(pair) -> None:
    server, client, sev, cev = pair
    cid = client.get_unique_id()
    client.disconnect_peer(1)
    assert client.get_connection_status() == CONNECTED  # until the close completes
    assert client.get_peer(1).get_ready_state() == WebSocketPeer.STATE_CLOSING
    assert cev.log == [("connected", 1)]
    assert pump([server, client], lambda: client.get_connection_status() == DISCONNECTED)
    assert cev.log == [("connected", 1), ("disconnected", 1)]
    assert pump(server, lambda: sev.disconnected() == [cid])


def test_client_disconnect_peer_1_force(pair) -> None:
    server, client, sev, cev = pair
    cid = client.get_unique_id()
    client.disconnect_peer(1, True)
    assert client.get_connection_status() == DISCONNECTED
    assert client.get_unique_id() == 0 and client.get_peer_ids() == []
    assert pump(server, lambda: sev.disconnected() == [cid])
    pump_for(client, 0.05)
    assert cev.log == [("connected", 1)]


@pytest.mark.parametrize("threaded", [True, False], ids=["threaded", "no-thread"])
def test_client_disconnect_peer_1_force_sends_close_frame(ws_server, threaded: bool) -> None:
    """force=True still sends the close frame (1000) before dropping the connection."""
    closes: list[object] = []

    def handler(conn) -> None:
        conn.send(b"\x10\x00\x00\x00")
        try:
            for _ in conn:
                pass
        finally:
            closes.append(conn.close_code)

    srv = ws_server(handler)
    ctx = Context(threaded=threaded)
    client = W(context=ctx)
    try:
        client.create_client(srv.url)
        assert pump(client, lambda: client.get_connection_status() == CONNECTED)
        client.disconnect_peer(1, True)
        assert client.get_connection_status() == DISCONNECTED
        # a no-thread context does its I/O in service steps
        assert pump([], lambda: ctx.ptr is not None and (
            ctx.threaded or _service(ctx)) and closes, timeout=3)
        assert closes == [1000]
    finally:
        client.close()
        ctx.shutdown()


def _service(ctx: Context) -> bool:
    lib.gws_context_service(ctx.ptr)
    return True


def test_disconnect_peer_signal_does_not_wait_for_the_remote() -> None:
    """The next poll reports the peer gone even if the remote never answers the close."""
    server, port = make_server()
    sev = Events(server)
    raw = RawClient(port)  # reads nothing, answers nothing
    try:
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
        rid = server.get_peer_ids()[0]
        server.disconnect_peer(rid)
        server.poll()
        assert sev.log == [("connected", rid), ("disconnected", rid)]
        assert server.get_peer_ids() == []
        assert raw.read_id() == rid
        assert raw.recv_frame() == (0x8, b"\x03\xe8")  # close 1000, no reason
    finally:
        raw.close()
        server.close()


def test_client_disconnect_peer_1_while_connecting(raw_ws_server) -> None:
    silent = raw_ws_server(handshake=False)
    client = W()
    ev = Events(client)
    client.create_client(silent.url)
    client.disconnect_peer(1)
    client.poll()
    assert client.get_connection_status() == DISCONNECTED
    assert ev.log == []


# ------------------------------------------------------------------ vanishing peers


@pytest.mark.parametrize("how", ["close", "shutdown", "reset"])
def test_raw_peer_vanishing_without_close_frame(how: str) -> None:
    server, port = make_server()
    sev = Events(server)
    raw = RawClient(port)
    try:
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
        rid = raw.read_id()
        raw.send(b"last words")
        assert collect(server, server, 1) == [(rid, b"last words")]
        getattr(raw, how)()
        assert pump(server, lambda: sev.disconnected() == [rid])
        assert sev.log == [("connected", rid), ("disconnected", rid)]
        assert server.get_peer_ids() == [] and server.get_peer(rid) is None
    finally:
        raw.close()
        server.close()


CHILD = textwrap.dedent("""
    import sys, time
    from godot_websocket import WebSocketMultiplayerPeer
    p = WebSocketMultiplayerPeer()
    p.create_client(sys.argv[1])
    deadline = time.monotonic() + 20
    while p.get_connection_status() != 2 and time.monotonic() < deadline:
        p.poll(); time.sleep(0.001)
    print(p.get_unique_id(), flush=True)
    while time.monotonic() < deadline:
        p.poll(); time.sleep(0.01)
""")


def test_client_process_killed() -> None:
    server, port = make_server()
    sev = Events(server)
    child = subprocess.Popen([sys.executable, "-c", CHILD, url_of(port)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert pump(server, lambda: len(server.get_peer_ids()) == 1, timeout=15)
        cid = server.get_peer_ids()[0]
        line = child.stdout.readline()  # type: ignore[union-attr]
        assert int(line) == cid
        os.kill(child.pid, signal.SIGKILL)
        child.wait(5)
        assert pump(server, lambda: sev.disconnected() == [cid])
        assert sev.log == [("connected", cid), ("disconnected", cid)]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
        server.close()


# ------------------------------------------------------------------ more server-side order


def test_peer_is_still_registered_inside_peer_disconnected(pair) -> None:
    """Godot emits peer_disconnected(id) before removing the peer (spec §1.3 step D)."""
    server, client, _sev, _cev = pair
    cid = client.get_unique_id()
    inside: list[object] = []
    server.peer_disconnected.connect(lambda i: inside.append(
        (i, server.get_peer(i) is not None, server.get_peer_ids())))
    client.close()
    assert pump(server, lambda: inside)
    assert inside == [(cid, True, [cid])]
    assert server.get_peer(cid) is None and server.get_peer_ids() == []


def test_one_peer_leaving_does_not_disturb_the_others() -> None:
    server, port = make_server()
    sev = Events(server)
    clients = connect_clients(server, port, 5)
    try:
        leaving = clients.pop(2)
        lid = leaving.get_unique_id()
        leaving.close()
        assert pump([server, *clients], lambda: sev.disconnected() == [lid])
        assert sorted(server.get_peer_ids()) == sorted(c.get_unique_id() for c in clients)
        assert server.put_packet(b"rest") == Error.OK
        for c in clients:
            assert collect([server, *clients], c, 1) == [(1, b"rest")]
            assert c.get_connection_status() == CONNECTED
    finally:
        for c in clients:
            c.close()
        server.close()


def test_several_disconnections_in_one_poll_in_peer_order() -> None:
    server, port = make_server()
    sev = Events(server)
    clients = connect_clients(server, port, 4)
    try:
        order = server.get_peer_ids()
        for pid in reversed(order):
            server.disconnect_peer(pid)
        server.poll()
        assert sev.disconnected() == order  # peer-map (connection) order
    finally:
        for c in clients:
            c.close()
        server.close()


def test_server_close_drops_pending_connections_and_queued_packets() -> None:
    server, port = make_server()
    sev = Events(server)
    (c,) = connect_clients(server, port, 1)
    cid = c.get_unique_id()
    raw = RawClient(port, handshake=False)  # pending: never upgrades
    try:
        pump_for(server, 0.1)
        c.put_packet(b"unread")
        assert pump([server, c], lambda: server.get_available_packet_count() == 1)
        server.close()
        assert server.get_available_packet_count() == 0
        assert server.get_packet() == b"" and server.get_packet_error() == Error.ERR_UNCONFIGURED
        assert raw.wait_eof(3)
        assert pump(c, lambda: c.get_connection_status() == DISCONNECTED)
        assert c.get_packet() == b"" and c.get_packet_error() == Error.ERR_UNCONFIGURED
        assert sev.log == [("connected", cid)]
    finally:
        raw.close()
        server.close()
