"""Large messages (64 KiB and more): the core hands their payload over by reference
(GWS_EV_MESSAGE_REF) and recycles the buffers through its block pool.  Contents, order,
fragmentation, the UTF-8 check and the limits must be exactly as for small messages."""

from __future__ import annotations

import os
import time
from typing import Any

from godot_websocket import Error, WebSocketPeer
from mp_helpers import collect, connect_clients, make_server, pump
from ws_frames import encode_frame

S = WebSocketPeer
KiB = 1 << 10
MiB = 1 << 20


def _read_all(peer: WebSocketPeer) -> list[tuple[bytes, bool]]:
    out = []
    while peer.get_available_packet_count():
        data = peer.get_packet()
        out.append((data, peer.was_string_packet()))
    return out


def test_client_large_fragmented_and_mixed(raw_ws_server, connect_peer, poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url, inbound_buffer_size=16 * MiB)
    conn = srv.accept()
    a = os.urandom(300 * KiB)
    text = ("é€𝄞x" * 40_000).encode()  # 400,000 bytes, characters cut by the fragments
    b = os.urandom(2 * MiB + 3)
    conn.send_frame(0x2, a[:100_000], fin=False)
    conn.send_frame(0x0, a[100_000:100_001], fin=False)
    conn.send_frame(0x0, a[100_001:], fin=True)
    conn.send_frame(0x2, b"small")
    conn.send_frame(0x1, text[:65_537], fin=False)
    conn.send_frame(0x0, text[65_537:], fin=True)
    conn.send_frame(0x2, b)
    conn.send_frame(0x2, os.urandom(64 * KiB - 1))  # one byte under the block size
    assert poll_until(lambda: peer.get_available_packet_count() == 5, peer)
    got = _read_all(peer)
    assert [(len(d), t) for d, t in got] == [
        (len(a), False), (5, False), (len(text), True), (len(b), False), (64 * KiB - 1, False)]
    assert got[0][0] == a and got[1][0] == b"small" and got[2][0] == text and got[3][0] == b


def test_client_several_large_messages_in_one_poll(raw_ws_server, connect_peer,
                                                   poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url, inbound_buffer_size=64 * MiB)
    conn = srv.accept()
    blobs = [os.urandom(n) for n in (64 * KiB, 1 * MiB, 200 * KiB, 3 * MiB, 70 * KiB, 10)]
    # all on the wire before the first poll: one drain carries several of them
    conn.sock.sendall(b"".join(_frame(x) for x in blobs))
    assert poll_until(lambda: peer.get_available_packet_count() == len(blobs), peer)
    # payloads stay right across later polls (their C buffers are recycled meanwhile)
    for _ in range(3):
        peer.poll()
    assert [d for d, _ in _read_all(peer)] == blobs


def _frame(payload: bytes) -> bytes:
    return encode_frame(0x2, payload)


def test_client_large_invalid_utf8_closes_1007(raw_ws_server, connect_peer,
                                                poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url, inbound_buffer_size=MiB)
    conn = srv.accept()
    conn.send_frame(0x1, b"a" * (200 * KiB) + b"\xc3")  # truncated at the very end
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert (peer.get_close_code(), peer.get_close_reason()) == (
        1007, "Invalid frame payload data")
    assert peer.get_available_packet_count() == 0
    f = conn.recv_frame()
    assert (f.opcode, f.payload) == (0x8, b"\x03\xef")


def test_client_large_over_inbound_limit_closes_1009(raw_ws_server, connect_peer,
                                                      poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url, inbound_buffer_size=200 * KiB)
    conn = srv.accept()
    ok = os.urandom(200 * KiB)
    conn.send_frame(0x2, ok)  # exactly the limit
    conn.send_frame(0x2, ok[:100 * KiB], fin=False)
    conn.send_frame(0x0, ok[:100 * KiB + 1], fin=True)  # the total is one byte over
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    assert peer.get_packet() == ok  # (unread, it would hold reading back)
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert (peer.get_close_code(), peer.get_close_reason()) == (1009, "Message too big")


def test_client_unread_large_messages_hold_back_reading(raw_ws_server, connect_peer,
                                                        poll_until) -> None:
    # back-pressure with large messages: nothing lost, everything in order
    srv = raw_ws_server()
    peer = connect_peer(srv.url, inbound_buffer_size=MiB)
    conn = srv.accept()
    blobs = [os.urandom(600 * KiB) for _ in range(6)]
    conn.sock.sendall(b"".join(_frame(x) for x in blobs))
    got: list[bytes] = []

    def step() -> bool:
        if peer.get_available_packet_count():
            got.append(peer.get_packet())
        return len(got) == len(blobs)

    assert poll_until(step, peer, 10)
    assert got == blobs


def test_server_large_messages_in_order_with_small_ones() -> None:
    server, port = make_server(inbound_buffer_size=8 * MiB, outbound_buffer_size=32 * MiB)
    (client,) = connect_clients(server, port, 1, inbound_buffer_size=8 * MiB,
                                outbound_buffer_size=32 * MiB)
    try:
        cid = client.get_unique_id()
        sizes = [MiB, 5, 64 * KiB, 3 * MiB, 100 * KiB, 1, 8 * MiB, 65 * KiB]
        blobs = [os.urandom(n) for n in sizes]
        for x in blobs:
            assert client.put_packet(x) == Error.OK
        got = collect([server, client], server, len(blobs), timeout=20)
        assert got == [(cid, x) for x in blobs]
        # and back: the echo of every one, through the same (recycled) buffers
        for sender, x in got:
            server.set_target_peer(sender)
            assert server.put_packet(x) == Error.OK
        assert collect([server, client], client, len(blobs), timeout=20) == [
            (1, x) for x in blobs]
    finally:
        client.close()
        server.close()


def test_many_round_trips_of_varied_sizes() -> None:
    # the block pool hands the same memory out again and again: stale bytes would show
    server, port = make_server(inbound_buffer_size=4 * MiB, outbound_buffer_size=16 * MiB)
    ws = WebSocketPeer()
    ws.inbound_buffer_size = 4 * MiB
    ws.outbound_buffer_size = 16 * MiB
    peers: list[Any] = [server, ws]
    try:
        assert ws.connect_to_url(f"ws://127.0.0.1:{port}") == Error.OK
        assert pump(peers, lambda: ws.get_available_packet_count() == 1)
        ws.get_packet()  # the id
        for i, n in enumerate([70 * KiB, MiB, 3 * MiB, 64 * KiB, 2 * MiB + 1, MiB - 1] * 3):
            blob = os.urandom(n)
            assert ws.send(blob) == Error.OK

            def echoed() -> bool:
                while server.get_available_packet_count():
                    server.set_target_peer(server.get_packet_peer())
                    assert server.put_packet(server.get_packet()) == Error.OK
                return ws.get_available_packet_count() > 0

            assert pump(peers, echoed, 10), i
            assert ws.get_packet() == blob, i
    finally:
        ws.close(-1)
        server.close()


def test_large_text_message_to_a_multiplayer_client() -> None:
    # text frames reach WebSocketMultiplayerPeer as bytes, large ones too
    server, port = make_server(inbound_buffer_size=2 * MiB)
    ws = WebSocketPeer()
    ws.inbound_buffer_size = 2 * MiB
    ws.outbound_buffer_size = 2 * MiB
    try:
        assert ws.connect_to_url(f"ws://127.0.0.1:{port}") == Error.OK
        assert pump([server, ws], lambda: ws.get_available_packet_count() == 1)
        ws.get_packet()
        text = "ü" * (300 * KiB)
        assert ws.send_text(text) == Error.OK
        got = collect([server, ws], server, 1)
        assert [d for _, d in got] == [text.encode()]
    finally:
        ws.close(-1)
        server.close()


def test_multiplayer_client_receives_large_messages() -> None:
    server, port = make_server(outbound_buffer_size=8 * MiB)
    (client,) = connect_clients(server, port, 1, inbound_buffer_size=8 * MiB)
    try:
        blobs = [os.urandom(n) for n in (2 * MiB, 7, 300 * KiB)]
        server.set_target_peer(client.get_unique_id())
        for x in blobs:
            assert server.put_packet(x) == Error.OK
        assert collect([server, client], client, 3) == [(1, x) for x in blobs]
    finally:
        client.close()
        server.close()


def test_heartbeat_pings_do_not_land_inside_large_frames(ws_server, connect_peer,
                                                          poll_until) -> None:
    # A ping used to be written wherever the write batch began, i.e. inside a message
    # being written in pieces: the peer failed the connection with 1002 ("incorrect
    # masking" / "invalid opcode").
    got: list[int] = []
    errors: list[Any] = []

    def handler(conn: Any) -> None:
        try:
            for m in conn:
                got.append(len(m))
                time.sleep(0.01)  # a slow reader: our frames stay half-written for a while
        except Exception as e:
            errors.append(e)

    srv = ws_server(handler, max_size=None)
    peer = connect_peer(srv.url, outbound_buffer_size=128 * MiB, heartbeat_interval=0.02)
    sent = 0
    while sent < 12 and peer.send(bytes(4 * MiB)) == Error.OK:
        sent += 1
    assert poll_until(lambda: len(got) == 12 or errors or peer.get_ready_state() != S.STATE_OPEN,
                      peer, 30)
    # the peer failed us for a protocol error: it sent close 1002
    assert peer.get_close_code() != 1002
    assert not [e for e in errors if getattr(getattr(e, "sent", None), "code", 0) == 1002], \
        errors
    # (a slow machine, e.g. under a sanitizer, may miss a pong in time; the heartbeat then
    # drops the connection, which is not what this test is about)
    if peer.get_ready_state() == S.STATE_OPEN:
        assert sent == 12 and got == [4 * MiB] * 12
