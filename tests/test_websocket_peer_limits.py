"""WebSocketPeer limits: message sizes, outbound and inbound back-pressure, heartbeat
(spec §4.2-§4.5)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
from websockets.sync.server import ServerConnection

from godot_websocket import Error, WebSocketPeer

S = WebSocketPeer
MiB = 1 << 20


def _hold(conn: Any) -> None:
    for _ in conn:
        pass


# ------------------------------------------------------------------ message sizes


def test_one_mebibyte_both_ways(ws_server, connect_peer, poll_until) -> None:
    blob = os.urandom(MiB)

    def handler(conn: Any) -> None:
        msg = conn.recv()
        conn.send(msg)  # echo of ours
        conn.send(blob[::-1])  # and one of its own
        _hold(conn)

    srv = ws_server(handler, max_size=None)
    peer = connect_peer(srv.url, inbound_buffer_size=MiB, outbound_buffer_size=MiB)
    assert peer.send(blob) == Error.OK
    # (one unread 1 MiB message fills the inbound budget: the next waits for get_packet)
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    assert peer.get_packet() == blob
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    assert peer.get_packet() == blob[::-1]
    assert peer.was_string_packet() is False


def test_outbound_single_message_limit(ws_server, connect_peer, poll_until) -> None:
    srv = ws_server(max_size=None)  # echo
    peer = connect_peer(srv.url, outbound_buffer_size=1000)
    assert peer.send(b"x" * 1001) == Error.ERR_OUT_OF_MEMORY
    assert peer.put_packet(b"x" * 1001) == Error.ERR_OUT_OF_MEMORY
    assert peer.send_text("é" * 501) == Error.ERR_OUT_OF_MEMORY  # 1002 bytes
    assert poll_until(lambda: peer.get_current_outbound_buffered_amount() == 0, peer)
    assert peer.send(b"y" * 1000) == Error.OK  # exactly the limit fits an empty queue
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    assert peer.get_packet() == b"y" * 1000
    # read at every send: changes apply to the open connection at once
    peer.outbound_buffer_size = 100
    assert peer.send(b"z" * 101) == Error.ERR_OUT_OF_MEMORY
    peer.outbound_buffer_size = 0  # <= 0: no byte limit
    assert peer.send(b"w" * 300_000) == Error.OK
    # it went out whole; its echo is bigger than inbound_buffer_size (65535): 1009
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert (peer.get_close_code(), peer.get_close_reason()) == (1009, "Message too big")


def test_default_limits_refuse_one_mebibyte(ws_server, connect_peer) -> None:
    peer = connect_peer(ws_server().url)
    assert peer.send(b"x" * MiB) == Error.ERR_OUT_OF_MEMORY
    assert peer.send(b"x" * 65535) == Error.OK
    assert peer.get_ready_state() == S.STATE_OPEN


@pytest.mark.parametrize(
    "too_big",
    [
        b"b" * 1001,
        "t" * 1001,
        [b"f" * 600, b"g" * 401],  # fragments: the total counts
        ["h" * 500, "", "i" * 501],
    ],
    ids=["binary", "text", "fragmented-binary", "fragmented-text"],
)
def test_inbound_message_too_big(ws_server, connect_peer, poll_until, too_big: Any) -> None:
    def handler(conn: Any) -> None:
        conn.send(b"a" * 1000)  # exactly inbound_buffer_size: accepted
        conn.recv()  # wait until the client read it
        conn.send(too_big)
        _hold(conn)

    srv = ws_server(handler)
    peer = connect_peer(srv.url, inbound_buffer_size=1000)
    conn = srv.next_connection()
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    assert peer.get_packet() == b"a" * 1000
    assert peer.send(b"go") == Error.OK
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == 1009
    assert peer.get_close_reason() == "Message too big"
    assert poll_until(lambda: conn.protocol.close_rcvd is not None)
    # the code alone on the wire, as wslay sends it
    assert (conn.protocol.close_rcvd.code, conn.protocol.close_rcvd.reason) == (1009, "")


def test_inbound_buffer_size_is_fixed_for_the_connection(ws_server, connect_peer,
                                                         poll_until) -> None:
    def handler(conn: Any) -> None:
        conn.recv()
        conn.send(b"x" * 2000)
        _hold(conn)

    srv = ws_server(handler)
    peer = connect_peer(srv.url, inbound_buffer_size=1000)
    peer.inbound_buffer_size = 100_000  # too late for this connection
    peer.max_queued_packets = 100  # pushes the limits to the core
    peer.outbound_buffer_size = 50_000
    assert peer.send(b"go") == Error.OK
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == 1009


# ------------------------------------------------------------------ outbound back-pressure


def _numbered(i: int, size: int) -> bytes:
    return i.to_bytes(4, "big") + bytes([i & 0xFF]) * (size - 4)


def _fill(peer: WebSocketPeer, size: int, timeout: float = 10.0) -> tuple[list[int], Error]:
    """Send numbered messages until the queue is full *and stays full* (the socket is
    full too, not just the service thread behind): the sent indexes and the error."""
    sent: list[int] = []
    settled = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        err = peer.send(_numbered(len(sent), size))
        if err == Error.OK:
            sent.append(len(sent))
            settled = False
            continue
        if settled:  # failed again after nothing moved for a while: stuck
            return sent, err
        before = peer.get_current_outbound_buffered_amount()
        time.sleep(0.1)
        peer.poll()
        settled = before > 0 and peer.get_current_outbound_buffered_amount() == before
    raise AssertionError(f"the queue never filled ({len(sent)} messages sent)")


def _read_numbered(conn: Any, sent: list[int], size: int) -> None:
    for i in sent:
        f = conn.recv_frame(timeout=10)
        assert (f.fin, f.opcode, f.masked, len(f.payload)) == (True, 0x2, True, size)
        assert f.payload == _numbered(i, size), f"message {i} damaged or out of order"


def test_outbound_count_limit(raw_ws_server, connect_peer, poll_until) -> None:
    srv = raw_ws_server(rcvbuf=4096)  # a server that does not read (yet)
    size = 65536
    peer = connect_peer(srv.url, outbound_buffer_size=0, max_queued_packets=8)
    conn = srv.accept()
    sent, err = _fill(peer, size)
    assert err == Error.ERR_OUT_OF_MEMORY
    buffered = peer.get_current_outbound_buffered_amount()
    assert 0 < buffered <= 8 * size
    assert buffered % size == 0
    assert peer.send(b"x") == Error.ERR_OUT_OF_MEMORY  # no byte limit: it is the count
    assert peer.get_ready_state() == S.STATE_OPEN
    # the server starts reading: everything sent before the error arrives, in order
    _read_numbered(conn, sent, size)
    assert poll_until(lambda: peer.get_current_outbound_buffered_amount() == 0, peer)
    assert peer.send(b"after") == Error.OK
    f = conn.recv_frame()
    assert (f.opcode, f.payload) == (0x2, b"after")


def test_outbound_byte_limit(raw_ws_server, connect_peer, poll_until) -> None:
    srv = raw_ws_server(rcvbuf=4096)
    size, limit = 10_000, 200_000
    peer = connect_peer(srv.url, outbound_buffer_size=limit, max_queued_packets=4096)
    conn = srv.accept()
    sent, err = _fill(peer, size)
    assert err == Error.ERR_OUT_OF_MEMORY
    buffered = peer.get_current_outbound_buffered_amount()
    assert limit - size < buffered <= limit
    # exactly the remaining room still fits, one more byte does not
    room = limit - buffered
    assert peer.send(b"r" * (room + 1)) == Error.ERR_OUT_OF_MEMORY
    if room:
        assert peer.send(_numbered(len(sent), room) if room >= 4 else b"r" * room) == Error.OK
    assert peer.get_current_outbound_buffered_amount() == limit
    assert peer.send(b"r") == Error.ERR_OUT_OF_MEMORY
    _read_numbered(conn, sent, size)
    if room:
        f = conn.recv_frame()
        assert len(f.payload) == room
    assert poll_until(lambda: peer.get_current_outbound_buffered_amount() == 0, peer)


def test_outbound_queue_dropped_by_close_minus_one(raw_ws_server, connect_peer) -> None:
    srv = raw_ws_server(rcvbuf=4096)
    peer = connect_peer(srv.url, outbound_buffer_size=0, max_queued_packets=4)
    conn = srv.accept()
    _fill(peer, 65536)
    peer.close(-1)
    assert peer.get_ready_state() == S.STATE_CLOSED
    assert peer.get_current_outbound_buffered_amount() == 0
    assert conn.recv_eof(timeout=10)


# ------------------------------------------------------------------ inbound back-pressure


def test_inbound_count_limit_backpressure(ws_server, connect_peer, poll_until,
                                          poll_for) -> None:
    n, size, slots = 2000, 4000, 16  # 8 MB: more than the socket buffers hold
    progress = {"sent": 0}
    done = threading.Event()

    def handler(conn: Any) -> None:
        for i in range(n):
            conn.send(_numbered(i, size))
            progress["sent"] = i + 1
        done.set()
        _hold(conn)

    srv = ws_server(handler)
    peer = connect_peer(srv.url, max_queued_packets=slots)
    counts = []
    assert poll_until(lambda: counts.append(peer.get_available_packet_count())
                      or counts[-1] == slots, peer)
    poll_for(0.3, peer)
    counts.append(peer.get_available_packet_count())
    assert max(counts) == slots
    assert counts[-1] == slots
    assert not done.is_set()  # the server is blocked: we stopped reading
    stalled = progress["sent"]
    poll_for(0.1, peer)
    assert progress["sent"] == stalled
    # drain: every message, in order, none lost
    got = 0
    deadline = time.monotonic() + 20
    while got < n and time.monotonic() < deadline:
        peer.poll()
        c = peer.get_available_packet_count()
        assert c <= slots
        for _ in range(c):
            data = peer.get_packet()
            assert data == _numbered(got, size), f"message {got} lost or damaged"
            got += 1
        if not c:
            time.sleep(0.0005)
    assert got == n
    assert done.wait(5)
    assert peer.get_ready_state() == S.STATE_OPEN


def test_inbound_byte_limit_backpressure(ws_server, connect_peer, poll_until,
                                         poll_for) -> None:
    n, size = 200, 1000

    def handler(conn: Any) -> None:
        for i in range(n):
            conn.send(_numbered(i, size))
        _hold(conn)

    srv = ws_server(handler)
    peer = connect_peer(srv.url, inbound_buffer_size=10_000, max_queued_packets=4096)
    assert poll_until(lambda: peer.get_available_packet_count() >= 10, peer)
    poll_for(0.2, peer)
    # reading stops once the delivered, unread messages hold inbound_buffer_size bytes
    assert peer.get_available_packet_count() == 10
    got = []
    deadline = time.monotonic() + 10
    while len(got) < n and time.monotonic() < deadline:
        peer.poll()
        while peer.get_available_packet_count():
            got.append(peer.get_packet())
        time.sleep(0.0005)
    assert got == [_numbered(i, size) for i in range(n)]


def test_inbound_limit_counts_until_get_packet(ws_server, connect_peer, poll_until,
                                               poll_for) -> None:
    def handler(conn: Any) -> None:
        for i in range(10):
            conn.send(bytes([i]))
        _hold(conn)

    peer = connect_peer(ws_server(handler).url, max_queued_packets=4)
    assert poll_until(lambda: peer.get_available_packet_count() == 4, peer)
    poll_for(0.1, peer)
    assert peer.get_available_packet_count() == 4
    assert peer.get_packet() == b"\x00"
    assert peer.get_packet() == b"\x01"
    assert peer.get_available_packet_count() == 2
    # the budget of those two comes back with the next poll
    assert poll_until(lambda: peer.get_available_packet_count() == 4, peer)
    assert [peer.get_packet() for _ in range(4)] == [bytes([i]) for i in range(2, 6)]
    assert poll_until(lambda: peer.get_available_packet_count() == 4, peer)
    assert [peer.get_packet() for _ in range(4)] == [bytes([i]) for i in range(6, 10)]


# ------------------------------------------------------------------ heartbeat


class PingCounter(ServerConnection):
    """A websockets server connection that records the pings it receives."""

    pings: list[tuple[float, bytes]]

    def process_event(self, event: Any) -> None:
        if getattr(event, "opcode", None) is not None and event.opcode.name == "PING":
            if not hasattr(self, "pings"):
                self.pings = []
            self.pings.append((time.monotonic(), bytes(event.data)))
        super().process_event(event)


def test_heartbeat_pings_answered(ws_server, connect_peer, poll_until, poll_for) -> None:
    srv = ws_server(_hold, create_connection=PingCounter)
    peer = connect_peer(srv.url, heartbeat_interval=0.1)
    conn = srv.next_connection()
    poll_for(0.55, peer)
    assert peer.get_ready_state() == S.STATE_OPEN
    pings = getattr(conn, "pings", [])
    assert len(pings) >= 4, pings
    assert all(data == b"" for _, data in pings)
    gaps = [b[0] - a[0] for a, b in zip(pings, pings[1:])]
    assert min(gaps) > 0.05, gaps  # about one per interval, not a flood
    # heartbeat_interval = 0 stops them
    peer.heartbeat_interval = 0.0
    poll_for(0.15, peer)
    before = len(conn.pings)
    poll_for(0.3, peer)
    assert len(conn.pings) == before
    assert peer.get_ready_state() == S.STATE_OPEN


def test_heartbeat_unanswered_drops(raw_ws_server, connect_peer, poll_until) -> None:
    interval = 0.2
    srv = raw_ws_server()
    peer = connect_peer(srv.url, heartbeat_interval=interval)
    opened = time.monotonic()
    conn = srv.accept()  # never answers anything
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    elapsed = time.monotonic() - opened
    assert interval * 0.9 <= elapsed <= 2 * interval + 0.15, elapsed
    assert (peer.get_close_code(), peer.get_close_reason()) == (-1, "")
    f = conn.recv_frame()
    assert (f.opcode, f.payload, f.masked) == (0x9, b"", True)
    # then the connection just ends: no close frame
    frames = []
    try:
        while True:
            frames.append(conn.recv_frame(timeout=2).opcode)
    except EOFError:
        pass
    except ConnectionResetError:
        pass
    assert 0x8 not in frames


def test_heartbeat_set_while_open(raw_ws_server, connect_peer, poll_until, poll_for) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    peer.heartbeat_interval = 0.1
    for _ in range(4):  # answer a few pings by hand: the connection stays up
        f = conn.recv_frame(timeout=2)
        assert f.opcode == 0x9
        conn.send_frame(0xA, f.payload)
        peer.poll()
    assert peer.get_ready_state() == S.STATE_OPEN
    poll_for(0.05, peer)
    assert peer.get_ready_state() == S.STATE_OPEN
    # now stop answering: dropped within about two intervals
    t0 = time.monotonic()
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert time.monotonic() - t0 <= 0.2 + 0.15
    assert peer.get_close_code() == -1


def test_inbound_message_too_big_no_thread_context(ws_server, poll_until) -> None:
    # The close frame is owed when the caller already dropped the connection (it saw
    # CLOSED in the same poll): it still goes out.
    from godot_websocket._core import Context

    def handler(conn: Any) -> None:
        conn.send(b"x" * 70_000)
        _hold(conn)

    srv = ws_server(handler)
    ctx = Context(threaded=False)
    try:
        peer = WebSocketPeer(context=ctx)
        assert peer.connect_to_url(srv.url) == Error.OK
        conn = srv.next_connection(peers=peer)
        assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
        assert (peer.get_close_code(), peer.get_close_reason()) == (1009, "Message too big")
        # (polling a CLOSED peer still services its context)
        assert poll_until(lambda: conn.protocol.close_rcvd is not None, peer)
        assert conn.protocol.close_rcvd.code == 1009
    finally:
        ctx.shutdown()
