"""Per-peer limits (spec §4.4/§4.5 at the multiplayer level), the template settings copied into
each new peer (§1.1), get_peer/get_peer_address/get_peer_port (§1.2), put_var/get_var (§3)."""

from __future__ import annotations

import importlib.util
import logging

import pytest

from godot_websocket import Context, Error, WebSocketMultiplayerPeer, WebSocketPeer
from mp_helpers import (
    CONNECTED,
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
# the shared ws_connect fixture opens websockets connections without a context manager
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")


def gw_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "godot_websocket"]


def ws_client(port: int) -> tuple[WebSocketPeer, int]:
    """A plain WebSocketPeer connected to a multiplayer server, with its id read."""
    ws = WebSocketPeer()
    assert ws.connect_to_url(url_of(port)) == Error.OK
    return ws, 0


def read_id(ws: WebSocketPeer, server: W) -> int:
    assert pump([server, ws], lambda: ws.get_available_packet_count() >= 1)
    return int.from_bytes(ws.get_packet(), "little", signed=True)


# ------------------------------------------------------------------ inbound


@pytest.mark.parametrize("when", ["before_create_server", "after_create_server"])
def test_message_over_inbound_buffer_size_closes_with_1009(when: str) -> None:
    server = W()
    if when == "before_create_server":
        server.inbound_buffer_size = 1000
    assert server.create_server(0, "127.0.0.1") == Error.OK
    if when == "after_create_server":
        # the template is copied into each peer when it is accepted
        server.inbound_buffer_size = 1000
    port = server.get_local_port()
    ev = Events(server)
    ws, _ = ws_client(port)
    try:
        cid = read_id(ws, server)
        assert ws.put_packet(b"a" * 1000) == Error.OK  # exactly the limit: accepted
        assert collect([server, ws], server, 1) == [(cid, b"a" * 1000)]
        assert ws.put_packet(b"b" * 1001) == Error.OK
        assert pump([server, ws], lambda: ws.get_ready_state() == WebSocketPeer.STATE_CLOSED)
        assert ws.get_close_code() == 1009
        assert pump(server, lambda: ev.disconnected() == [cid])
        assert drain(server) == []  # the big message was never delivered
        assert server.get_peer_ids() == []
    finally:
        ws.close(-1)
        server.close()


def test_websockets_client_sees_1009(ws_connect) -> None:
    from websockets.exceptions import ConnectionClosedError

    server, port = make_server(inbound_buffer_size=100)
    try:
        conn = ws_connect(url_of(port))
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
        conn.recv(timeout=5)  # the id
        conn.send(b"x" * 101)
        with pytest.raises(ConnectionClosedError) as info:
            pump(server, lambda: False, timeout=0.2)
            conn.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        assert pump(server, lambda: server.get_peer_ids() == [])
    finally:
        server.close()


def test_client_inbound_limit() -> None:
    server, port = make_server()
    client = W()
    client.inbound_buffer_size = 500
    ev = Events(client)
    try:
        client.create_client(url_of(port))
        assert pump([server, client], lambda: client.get_connection_status() == CONNECTED)
        cid = client.get_unique_id()
        assert client.get_peer(1).get_inbound_buffer_size() == 500
        server.set_target_peer(cid)
        assert server.put_packet(b"y" * 500) == Error.OK
        assert collect([server, client], client, 1) == [(1, b"y" * 500)]
        assert server.put_packet(b"z" * 501) == Error.OK
        assert pump([server, client], lambda: client.get_connection_status() == DISCONNECTED)
        assert ev.log == [("connected", 1), ("disconnected", 1)]
        assert pump(server, lambda: server.get_peer_ids() == [])
    finally:
        client.close()
        server.close()


# ------------------------------------------------------------------ outbound


@pytest.fixture
def manual_server():
    """A server on a no-thread context: its sockets only move inside poll(), so queues fill
    deterministically between polls.  One peer 'big' with the default limits, one peer
    'small' accepted after the limits were lowered."""
    ctx = Context(threaded=False)
    server = W(context=ctx)
    assert server.create_server(0, "127.0.0.1") == Error.OK
    port = server.get_local_port()
    (big,) = connect_clients(server, port, 1)
    server.outbound_buffer_size = 3000
    server.max_queued_packets = 8
    (small,) = connect_clients(server, port, 1)
    yield server, big, small
    big.close()
    small.close()
    server.close()
    ctx.shutdown()


def test_outbound_full_for_one_peer_drops_only_for_that_peer(
        manual_server, caplog: pytest.LogCaptureFixture) -> None:
    server, big, small = manual_server
    sid = small.get_unique_id()
    assert server.get_peer(sid).get_outbound_buffer_size() == 3000
    assert server.get_peer(big.get_unique_id()).get_outbound_buffer_size() == 65535
    server.set_target_peer(0)
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        for i in range(4):  # 4000 bytes: the 4th does not fit small's 3000
            assert server.put_packet(bytes([i]) * 1000) == Error.OK
        server.poll()
    full = [m for m in gw_messages(caplog) if "ERR_OUT_OF_MEMORY" in m]
    assert len(full) == 1 and f"Peer {sid}" in full[0]  # one line, naming the peer
    peers = [server, big, small]
    got_big = collect(peers, big, 4)
    got_small = collect(peers, small, 3)
    pump_for(peers, 0.1)
    got_small += drain(small)
    assert [d[0] for _, d in got_big] == [0, 1, 2, 3]
    assert [d[0] for _, d in got_small] == [0, 1, 2]
    # the peer stays connected, and gets later packets once its queue drained
    assert server.get_peer_ids() == [big.get_unique_id(), sid]
    assert server.put_packet(b"after") == Error.OK
    assert collect(peers, small, 1) == [(1, b"after")]
    assert collect(peers, big, 1) == [(1, b"after")]


def test_outbound_full_to_a_target_still_returns_ok(
        manual_server, caplog: pytest.LogCaptureFixture) -> None:
    server, big, small = manual_server
    sid = small.get_unique_id()
    server.set_target_peer(sid)
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        results = [server.put_packet(bytes([i]) * 1000) for i in range(4)]
    assert results == [Error.OK] * 4  # the per-peer error is not returned (spec §1.2)
    assert any("ERR_OUT_OF_MEMORY" in m for m in gw_messages(caplog))
    peers = [server, big, small]
    got = collect(peers, small, 3)
    pump_for(peers, 0.1)
    assert [d[0] for _, d in got + drain(small)] == [0, 1, 2]


def test_outbound_queue_count_limit(manual_server) -> None:
    server, big, small = manual_server
    server.set_target_peer(0)
    for i in range(10):  # small takes 8 queued messages
        assert server.put_packet(bytes([i])) == Error.OK
    peers = [server, big, small]
    got_big = collect(peers, big, 10)
    got_small = collect(peers, small, 8)
    pump_for(peers, 0.1)
    assert [d for _, d in got_big] == [bytes([i]) for i in range(10)]
    assert [d for _, d in got_small + drain(small)] == [bytes([i]) for i in range(8)]


def test_client_outbound_full_returns_out_of_memory() -> None:
    server, port = make_server()
    ctx = Context(threaded=False)
    client = W(context=ctx)
    client.outbound_buffer_size = 2500
    try:
        client.create_client(url_of(port))
        assert pump([server, client], lambda: client.get_connection_status() == CONNECTED)
        assert client.put_packet(b"1" * 1000) == Error.OK
        assert client.put_packet(b"2" * 1000) == Error.OK
        assert client.put_packet(b"3" * 1000) == Error.ERR_OUT_OF_MEMORY  # not polled yet
        assert client.put_packet(b"4" * 2501) == Error.ERR_OUT_OF_MEMORY
        got = collect([server, client], server, 2)
        assert [d[:1] for _, d in got] == [b"1", b"2"]
        assert client.put_packet(b"5" * 2500) == Error.OK  # drained: room again
        assert collect([server, client], server, 1)[0][1] == b"5" * 2500
    finally:
        client.close()
        server.close()
        ctx.shutdown()


# ------------------------------------------------------------------ template settings


def test_template_settings_are_copied_into_each_new_peer() -> None:
    server, port = make_server(inbound_buffer_size=1111, outbound_buffer_size=2222,
                               max_queued_packets=33)
    try:
        (a,) = connect_clients(server, port, 1)
        server.inbound_buffer_size = 4444
        server.outbound_buffer_size = 5555
        server.max_queued_packets = 66
        (b,) = connect_clients(server, port, 1)
        pa = server.get_peer(a.get_unique_id())
        pb = server.get_peer(b.get_unique_id())
        assert (pa.get_inbound_buffer_size(), pa.get_outbound_buffer_size(),
                pa.get_max_queued_packets()) == (1111, 2222, 33)
        assert (pb.get_inbound_buffer_size(), pb.get_outbound_buffer_size(),
                pb.get_max_queued_packets()) == (4444, 5555, 66)
        # peers never get a heartbeat from the multiplayer peer (spec §1.1)
        assert pa.get_heartbeat_interval() == 0.0 and pb.get_heartbeat_interval() == 0.0
        for c in (a, b):
            assert c.get_peer(1).get_inbound_buffer_size() == 65535
            c.close()
    finally:
        server.close()


def test_client_template_settings_and_headers(raw_ws_server) -> None:
    srv = raw_ws_server(protocol="game")
    client = W()
    client.supported_protocols = ["game", "chat"]
    client.handshake_headers = ["X-Player: alice", "X-Team: red"]
    client.inbound_buffer_size = 777
    try:
        assert client.create_client(srv.url) == Error.OK
        conn = srv.accept(peers=client)
        assert conn.headers["sec-websocket-protocol"] == "game,chat"
        assert conn.headers["x-player"] == "alice" and conn.headers["x-team"] == "red"
        ws = client.get_peer(1)
        assert ws.get_inbound_buffer_size() == 777
        assert ws.get_supported_protocols() == ["game", "chat"]
        conn.send_frame(0x2, (99).to_bytes(4, "little"))
        assert pump(client, lambda: client.get_connection_status() == CONNECTED)
        assert ws.get_selected_protocol() == "game"
    finally:
        client.close()


def test_server_protocols_and_headers() -> None:
    server, port = make_server(supported_protocols=["game"],
                               handshake_headers=["X-Server: godot-websocket"])
    try:
        ok = W()
        ok.supported_protocols = ["chat", "game"]
        ok.create_client(url_of(port))
        assert pump([server, ok], lambda: ok.get_connection_status() == CONNECTED)
        assert ok.get_peer(1).get_selected_protocol() == "game"
        assert server.get_peer(ok.get_unique_id()).get_selected_protocol() == "game"
        ok.close()
        # a client without a matching sub-protocol fails, silently
        for offer in ([], ["chat"]):
            bad = W()
            bad.supported_protocols = offer
            ev = Events(bad)
            bad.create_client(url_of(port))
            assert pump([server, bad],
                        lambda bad=bad: bad.get_connection_status() == DISCONNECTED)
            assert ev.log == []
        raw = RawClient(port, headers=["Sec-WebSocket-Protocol: game"])
        assert "X-Server: godot-websocket" in raw.response
        assert "Sec-WebSocket-Protocol: game" in raw.response
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
        assert raw.read_id() == server.get_peer_ids()[0]
        raw.close()
    finally:
        server.close()


def test_restart_on_the_same_port_with_other_protocols() -> None:
    """A server restarted on the port of a closed one, with live connections at close time,
    serves its own settings (the closed server's vhost must not capture connections)."""
    server, port = make_server(supported_protocols=["old"])
    try:
        clients = connect_clients(server, port, 2, supported_protocols=["old"])
        server.close()
        server.supported_protocols = ["new"]
        assert server.create_server(port, "127.0.0.1") == Error.OK
        (c,) = connect_clients(server, port, 1, supported_protocols=["new"])
        assert c.get_peer(1).get_selected_protocol() == "new"
        for x in (*clients, c):
            x.close()
    finally:
        server.close()


# ------------------------------------------------------------------ get_peer


def test_get_peer_on_the_server(caplog: pytest.LogCaptureFixture) -> None:
    server, port = make_server()
    raw = RawClient(port)
    try:
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
        rid = raw.read_id()
        ws = server.get_peer(rid)
        assert isinstance(ws, WebSocketPeer)
        assert ws.get_ready_state() == WebSocketPeer.STATE_OPEN
        assert ws.get_connected_host() == "127.0.0.1"
        local_port = raw.sock.getsockname()[1]
        assert ws.get_connected_port() == local_port
        assert server.get_peer_address(rid) == "127.0.0.1"
        assert server.get_peer_port(rid) == local_port
        assert ws.get_requested_url() == f"ws://127.0.0.1:{port}/"
        # the live object: sending through it reaches the client
        assert ws.send_text("direct") == Error.OK
        assert raw.recv_frame() == (0x1, b"direct")
        with caplog.at_level(logging.ERROR, logger="godot_websocket"):
            assert server.get_peer(1) is None  # the server is not its own peer
            assert server.get_peer(rid + 1) is None
            assert server.get_peer_address(rid + 1) == ""
            assert server.get_peer_port(rid + 1) == 0
        assert len(gw_messages(caplog)) == 4
    finally:
        raw.close()
        server.close()


def test_get_peer_on_the_client(caplog: pytest.LogCaptureFixture) -> None:
    server, port = make_server()
    client = W()
    try:
        client.create_client(url_of(port))
        assert pump([server, client], lambda: client.get_connection_status() == CONNECTED)
        ws = client.get_peer(1)
        assert ws.get_ready_state() == WebSocketPeer.STATE_OPEN
        assert ws.get_connected_host() == "127.0.0.1" and ws.get_connected_port() == port
        assert client.get_peer_address(1) == "127.0.0.1"
        assert client.get_peer_port(1) == port
        cid = client.get_unique_id()
        assert server.get_peer_port(cid) > 0
        with caplog.at_level(logging.ERROR, logger="godot_websocket"):
            assert client.get_peer(cid) is None
            assert client.get_peer_address(2) == "" and client.get_peer_port(2) == 0
        assert len(gw_messages(caplog)) == 3
    finally:
        client.close()
        server.close()


def test_get_peer_of_a_removed_peer_is_none() -> None:
    server, port = make_server()
    try:
        (c,) = connect_clients(server, port, 1)
        cid = c.get_unique_id()
        held = server.get_peer(cid)
        c.close()
        assert pump(server, lambda: server.get_peer_ids() == [])
        assert server.get_peer(cid) is None
        assert held.get_ready_state() == WebSocketPeer.STATE_CLOSED  # the object survives
    finally:
        server.close()


# ------------------------------------------------------------------ put_var / get_var


needs_variant = pytest.mark.skipif(importlib.util.find_spec("godot_websocket.variant") is None,
                                   reason="godot_websocket.variant not available")


@needs_variant
@pytest.mark.parametrize("value", [
    0, 1, -7, 2**31 - 1, 2**40, -(2**62), 1.5, True, None, "", "héllo wörld",
    [1, "two", 3.0], {"name": "alice", "score": 42, "tags": ["a", "b"], "nested": {"x": 1}},
], ids=repr)
def test_put_var_get_var_round_trip(value: object) -> None:
    from godot_websocket.variant import var_to_bytes

    server, port = make_server()
    try:
        (c,) = connect_clients(server, port, 1)
        assert c.put_var(value) == Error.OK
        assert pump([server, c], lambda: server.get_available_packet_count() == 1)
        assert server.get_packet_peer() == c.get_unique_id()
        got = server.get_var()
        assert got == value and type(got) is type(value)
        # the wire bytes are Godot's var_to_bytes
        assert c.put_var(value) == Error.OK
        assert collect([server, c], server, 1) == [(c.get_unique_id(), var_to_bytes(value))]
        # and the other way, as a broadcast
        assert server.put_var(value) == Error.OK
        assert pump([server, c], lambda: c.get_available_packet_count() == 1)
        assert c.get_var() == value
        c.close()
    finally:
        server.close()


@needs_variant
def test_put_var_over_encode_buffer_max_size(caplog: pytest.LogCaptureFixture) -> None:
    server, port = make_server()
    try:
        (c,) = connect_clients(server, port, 1)
        c.encode_buffer_max_size = 1024
        with caplog.at_level(logging.ERROR, logger="godot_websocket"):
            assert c.put_var("x" * 2000) == Error.ERR_OUT_OF_MEMORY
        assert gw_messages(caplog)
        assert c.put_var("x" * 1000) == Error.OK
        assert collect([server, c], server, 1)[0][0] == c.get_unique_id()
        c.close()
    finally:
        server.close()


@needs_variant
def test_get_var_of_garbage_is_none(caplog: pytest.LogCaptureFixture) -> None:
    server, port = make_server()
    try:
        (c,) = connect_clients(server, port, 1)
        c.put_packet(b"\xff\xff")
        assert pump([server, c], lambda: server.get_available_packet_count() == 1)
        with caplog.at_level(logging.ERROR, logger="godot_websocket"):
            assert server.get_var() is None
        assert gw_messages(caplog)
        assert server.get_available_packet_count() == 0  # the packet was consumed
        c.close()
    finally:
        server.close()
