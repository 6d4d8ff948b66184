"""Sends written from the caller's thread (the core's direct-send path).

On a threaded context with the libev loop, ``put_packet()`` writes a message
straight to the socket when the service thread is waiting for events and
nothing else of the connection is queued; a burst (sends closer than 20 us)
and everything behind a partial write goes through the queue.  These tests
check that the two paths never reorder, lose or cut a message, whatever the
socket takes.
"""

from __future__ import annotations

import random
import struct
import time

import pytest

from godot_websocket import Context, Error, WebSocketPeer

pytestmark = pytest.mark.skipif(
    Context().event_loop != "libev", reason="direct sends need the libev event loop")


def _spin(us: float) -> None:
    """Busy-wait ``us`` microseconds (sleep() is far coarser than the 20 us gap)."""
    end = time.perf_counter_ns() + int(us * 1000)
    while time.perf_counter_ns() < end:
        pass


def test_partial_direct_sends_keep_order_and_bytes(raw_ws_server, connect_peer, poll_until):
    """A server that does not read: direct sends fill the socket, one is cut short, the
    rest of it and everything queued behind it arrive whole and in order later."""
    srv = raw_ws_server(rcvbuf=4096)
    peer = connect_peer(srv.url, outbound_buffer_size=64 << 20, max_queued_packets=100_000)
    conn = srv.accept(peers=peer)
    rng = random.Random(7)
    sent: list[bytes] = []
    for i in range(600):
        # First isolated large sends (each may go direct) until the socket is
        # long full, so that a direct send is cut short (here: ~2.8 MB in);
        # then bursts and all sizes.
        size = 60_000 if i < 200 else \
            rng.choice((1, 5, 125, 126, 1000, 60_000, 65_531, 65_536, 30_000))
        payload = struct.pack("<I", i) + rng.randbytes(size)
        assert peer.put_packet(payload) == Error.OK
        sent.append(payload)
        if i < 300 or i % 7:
            _spin(40)  # past the burst gap: the next send may go direct
        if i % 50 == 49:
            peer.poll()
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < len(sent) and time.monotonic() < deadline:
        frame = conn.recv_frame()
        assert frame.opcode == 0x2 and frame.fin
        got.append(frame.payload)
        if len(got) % 64 == 0:
            peer.poll()
    assert len(got) == len(sent)
    for i, (a, b) in enumerate(zip(got, sent)):
        assert a == b, f"message {i} differs"
    assert poll_until(lambda: peer.get_current_outbound_buffered_amount() == 0, peer)


def test_direct_and_queued_sends_interleave_in_order(ws_server, connect_peer, poll_until):
    """Against python websockets (echo): sends alternate between bursts (queued) and
    isolated ones (direct); every echo comes back in order."""
    srv = ws_server(max_size=None)
    peer = connect_peer(srv.url, max_queued_packets=100_000, outbound_buffer_size=16 << 20,
                        inbound_buffer_size=16 << 20)
    rng = random.Random(11)
    n = 3000
    for i in range(n):
        assert peer.put_packet(struct.pack("<I", i) + bytes(rng.randrange(0, 200))) == Error.OK
        if rng.random() < 0.3:
            _spin(rng.choice((25, 60, 200)))
        if i % 100 == 0:
            peer.poll()
    got: list[int] = []

    def drain() -> bool:
        while peer.get_available_packet_count():
            got.append(struct.unpack_from("<I", peer.get_packet())[0])
        return len(got) >= n

    assert poll_until(drain, peer, timeout=60)
    assert got == list(range(n))


def test_direct_send_as_text_and_after_close(ws_server, connect_peer, poll_until):
    """The direct path frames text as text, and a closed peer refuses sends."""
    srv = ws_server(max_size=None)
    peer = connect_peer(srv.url)
    _spin(50)
    assert peer.send_text("héllo") == Error.OK
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    assert peer.get_packet() == "héllo".encode()
    assert peer.was_string_packet()
    peer.close(1000, "done")
    _spin(50)
    assert peer.send(b"late") != Error.OK
    assert poll_until(lambda: peer.get_ready_state() == WebSocketPeer.STATE_CLOSED, peer)
