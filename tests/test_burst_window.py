"""Bursts of sends wait for one write per window (threaded context, libev loop).

A ``put_packet()`` that comes less than 5 us (``GODOT_WEBSOCKET_TX_BURST_GAP_US``) after
the connection's last one returned is part of a burst: the burst's first message leaves
at once (the direct-send path), the rest are queued and the service thread writes them
when the window (``GODOT_WEBSOCKET_TX_DEFER_US``, default 1 ms) ends, in one ``send()``
per connection, rather than being woken for every few messages.  While a window is
open, a send on any connection of the context joins it.  Anything else that needs
writing (a close, a large queue) ends the window at once.  These tests stretch the
window to make its edges visible (and the gap, for sanitizer builds, where Python's
allocations are slow), and check that nothing waits for a ``poll()`` and nothing is
reordered or lost.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest

from godot_websocket import Context, Error, WebSocketPeer

pytestmark = pytest.mark.skipif(
    Context().event_loop != "libev", reason="send windows need the libev event loop")

WINDOW_S = 0.15
BURST = 100


def _spin(us: float) -> None:
    """Busy-wait ``us`` microseconds (past the 20 us direct-send gap)."""
    end = time.perf_counter_ns() + int(us * 1000)
    while time.perf_counter_ns() < end:
        pass


@pytest.fixture
def window_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A threaded context whose send window is WINDOW_S and burst gap 1 ms (both read
    when a context is created)."""
    monkeypatch.setenv("GODOT_WEBSOCKET_TX_DEFER_US", str(int(WINDOW_S * 1e6)))
    monkeypatch.setenv("GODOT_WEBSOCKET_TX_BURST_GAP_US", "1000")
    ctx = Context(threaded=True)
    yield ctx
    ctx.shutdown()


def _burst(peer: WebSocketPeer, start: int, count: int) -> None:
    """``count`` numbered puts in a tight loop."""
    put = peer.put_packet
    for p in [struct.pack("<I", start + i) for i in range(count)]:
        assert put(p) == Error.OK


def _burst_held(peer: WebSocketPeer, conn: Any, tries: int = 5) -> float:
    """A burst whose first message went out and whose others all wait for the window;
    returns when it started (monotonic).  A loop preempted for longer than the burst gap
    ends its burst early (the send after the pause goes at once): then its messages are
    read and it is tried again, numbers going on; five such bursts in a row fail."""
    for attempt in range(tries):
        time.sleep(0.003)  # longer than the gap and the 20 us of the direct path
        t0 = time.monotonic()
        _burst(peer, attempt * BURST, BURST)
        held = peer.get_current_outbound_buffered_amount()
        assert struct.unpack("<I", conn.recv_frame(5).payload)[0] == attempt * BURST
        if held == 4 * (BURST - 1):
            return t0
        assert _numbers(conn, BURST - 1, 5) == list(range(attempt * BURST + 1,
                                                           (attempt + 1) * BURST))
    raise AssertionError(f"no burst of {BURST} sends was held for the window in {tries} tries")


def _numbers(conn: Any, count: int, timeout: float) -> list[int]:
    return [struct.unpack("<I", conn.recv_frame(timeout).payload)[0] for _ in range(count)]


def _burst_tail(conn: Any) -> list[int]:
    """Numbers up to the end of the current burst (a multiple of BURST, minus 1)."""
    nums: list[int] = []
    while not nums or nums[-1] % BURST != BURST - 1:
        nums.append(struct.unpack("<I", conn.recv_frame(5).payload)[0])
    return nums


def _peer(srv: Any, connect_peer: Any, ctx: Any) -> tuple[WebSocketPeer, Any]:
    """An open peer of ``ctx`` connected to the raw server ``srv``, and the server's end."""
    peer = connect_peer(srv.url, peer=WebSocketPeer(context=ctx), max_queued_packets=10_000)
    return peer, srv.accept(peers=peer)


def test_burst_waits_for_the_window_and_leaves_without_poll(raw_ws_server, connect_peer,
                                                          window_context):
    peer, conn = _peer(raw_ws_server(), connect_peer, window_context)
    t0 = _burst_held(peer, conn)
    # the first message went direct; the rest wait for the window, no poll() needed
    with pytest.raises(TimeoutError):
        conn.recv_frame(max(0.0, t0 + WINDOW_S / 2 - time.monotonic()))
    rest = _burst_tail(conn)
    assert time.monotonic() - t0 >= WINDOW_S * 0.8
    assert len(rest) == BURST - 1
    assert rest == list(range(rest[0], rest[0] + BURST - 1))
    assert peer.get_current_outbound_buffered_amount() == 0


def test_a_send_on_another_connection_joins_the_open_window(raw_ws_server, connect_peer,
                                                            window_context):
    srv = raw_ws_server()
    a, conn_a = _peer(srv, connect_peer, window_context)
    b, conn_b = _peer(srv, connect_peer, window_context)
    t0 = _burst_held(a, conn_a)
    _spin(30)  # (b's first send: no burst of its own)
    assert b.put_packet(b"b") == Error.OK
    assert b.get_current_outbound_buffered_amount() == 1
    frame = conn_b.recv_frame(5)
    assert frame.payload == b"b"
    assert time.monotonic() - t0 >= WINDOW_S * 0.8
    # a's burst arrives whole, in order
    nums = _burst_tail(conn_a)
    assert nums == list(range(nums[0], nums[0] + BURST - 1))


def test_a_close_ends_the_window(raw_ws_server, connect_peer, window_context):
    peer, conn = _peer(raw_ws_server(), connect_peer, window_context)
    t0 = _burst_held(peer, conn)
    peer.close(1000, "bye")
    nums = []
    while True:
        frame = conn.recv_frame(5)
        if frame.opcode == 0x8:
            break
        nums.append(struct.unpack("<I", frame.payload)[0])
    t_close = time.monotonic()
    assert frame.payload == struct.pack("!H", 1000) + b"bye"
    assert len(nums) == BURST - 1
    assert nums == list(range(nums[0], nums[0] + BURST - 1))
    assert t_close - t0 < WINDOW_S * 0.8  # did not wait for the window


def test_a_queue_half_way_to_its_limit_ends_the_window(raw_ws_server, connect_peer,
                                                       window_context):
    """With max_queued_packets 100, the 51st queued message of a burst ends the window:
    at least those leave at once, so that a burst is not refused for want of a write."""
    srv = raw_ws_server()
    peer = connect_peer(srv.url, peer=WebSocketPeer(context=window_context),
                        max_queued_packets=BURST)
    conn = srv.accept(peers=peer)
    time.sleep(0.003)
    t0 = time.monotonic()
    _burst(peer, 0, BURST)
    early: list[int] = []
    with pytest.raises(TimeoutError):
        while True:
            left = t0 + WINDOW_S / 3 - time.monotonic()
            early.append(struct.unpack("<I", conn.recv_frame(max(0.0, left)).payload)[0])
    assert len(early) >= BURST // 2 + 1
    rest = _numbers(conn, BURST - len(early), 5)
    assert early + rest == list(range(BURST))


def test_a_window_out_of_range_is_the_default(raw_ws_server, connect_peer, monkeypatch):
    """GODOT_WEBSOCKET_TX_DEFER_US above 1 s (here 5 s) is ignored: the default window
    (1 ms) holds the burst, and its tail arrives long before 5 s."""
    monkeypatch.setenv("GODOT_WEBSOCKET_TX_DEFER_US", "5000000")
    monkeypatch.setenv("GODOT_WEBSOCKET_TX_BURST_GAP_US", "1000")
    ctx = Context(threaded=True)
    try:
        peer, conn = _peer(raw_ws_server(), connect_peer, ctx)
        t0 = _burst_held(peer, conn)
        tail = _burst_tail(conn)
        assert time.monotonic() - t0 < 2.5
        assert tail == list(range(tail[0], tail[0] + BURST - 1))
        peer.close(-1)
    finally:
        ctx.shutdown()


def test_bursts_on_many_peers_echo_in_order(ws_server, poll_until):
    """Default window, python websockets echoing: five peers of one context send bursts,
    isolated messages and waits in a random mix; every peer gets its echoes back whole
    and in order, with no poll() needed to push its sends out."""
    srv = ws_server(max_size=None)
    ctx = Context(threaded=True)
    rng = random.Random(5)
    peers = [WebSocketPeer(context=ctx) for _ in range(5)]
    try:
        for p in peers:
            p.max_queued_packets = 100_000
            p.inbound_buffer_size = 16 << 20
            assert p.connect_to_url(srv.url) == Error.OK
        assert poll_until(lambda: all(p.get_ready_state() == WebSocketPeer.STATE_OPEN
                                      for p in peers), peers)
        sent = [0] * len(peers)
        for _ in range(300):
            k = rng.randrange(len(peers))
            n = rng.choice((1, 1, 3, 40, 200))
            for _ in range(n):
                payload = struct.pack("<I", sent[k]) + bytes(rng.randrange(0, 100))
                assert peers[k].put_packet(payload) == Error.OK
                sent[k] += 1
            if rng.random() < 0.3:
                _spin(rng.choice((10, 50, 300)))
            if rng.random() < 0.1:
                peers[k].wait(0.0005)
        got: list[list[int]] = [[] for _ in peers]

        def drained() -> bool:
            for p, g in zip(peers, got):
                while p.get_available_packet_count():
                    g.append(struct.unpack_from("<I", p.get_packet())[0])
            return all(len(g) >= s for g, s in zip(got, sent))

        assert poll_until(drained, peers, timeout=60)
        for g, s in zip(got, sent):
            assert g == list(range(s))
    finally:
        for p in peers:
            p.close(-1)
        ctx.shutdown()
