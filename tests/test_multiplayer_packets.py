"""Packets through WebSocketMultiplayerPeer: a Python server with 50 Python clients, every
target mode, ordering per sender, get_packet_peer, empty packets and the error codes of
put_packet/get_packet (spec §1.2, §3, §7.1)."""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Iterator

import pytest

from godot_websocket import Error, WebSocketMultiplayerPeer, WebSocketPeer
from mp_helpers import (
    CONNECTED,
    RawClient,
    collect,
    drain,
    make_server,
    pump,
    pump_for,
    url_of,
)

W = WebSocketMultiplayerPeer
N_CLIENTS = 50


class Swarm:
    def __init__(self) -> None:
        self.server, self.port = make_server()
        self.connected: list[int] = []
        self.server.peer_connected.connect(self.connected.append)
        self.client_connected: dict[int, list[int]] = {}
        self.clients: list[W] = []
        for _ in range(N_CLIENTS):
            c = W()
            seen: list[int] = []
            c.peer_connected.connect(seen.append)
            assert c.create_client(url_of(self.port)) == Error.OK
            self.client_connected[id(c)] = seen
            self.clients.append(c)
        assert pump(self.all, lambda: all(
            c.get_connection_status() == CONNECTED for c in self.clients)
            and len(self.server.get_peer_ids()) == N_CLIENTS, timeout=15)
        self.by_id = {c.get_unique_id(): c for c in self.clients}

    @property
    def all(self) -> list[W]:
        return [self.server, *self.clients]

    def settle(self) -> None:
        """Empty every FIFO and reset targets, so tests start clean."""
        pump_for(self.all, 0.02)
        for p in self.all:
            drain(p)
            p.set_target_peer(0)

    def inboxes(self, duration: float = 0.0, until: int | None = None) -> dict[int, list[bytes]]:
        """Packets received by each client (by id), polling for ``duration`` seconds or
        until ``until`` packets arrived in total."""
        got: dict[int, list[bytes]] = {cid: [] for cid in self.by_id}

        def step() -> bool:
            for cid, c in self.by_id.items():
                for sender, data in drain(c):
                    assert sender == 1
                    got[cid].append(data)
            return until is not None and sum(map(len, got.values())) >= until

        if until is not None:
            pump(self.all, step, timeout=10)
        if duration:
            pump(self.all, lambda: step() and False, timeout=duration)
        step()
        return got

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.server.close()


@pytest.fixture(scope="module")
def swarm() -> Iterator[Swarm]:
    s = Swarm()
    yield s
    s.close()


@pytest.fixture
def sw(swarm: Swarm) -> Swarm:
    swarm.settle()
    return swarm


# ------------------------------------------------------------------ connection


def test_ids_unique_and_valid(sw: Swarm) -> None:
    ids = [c.get_unique_id() for c in sw.clients]
    assert len(set(ids)) == N_CLIENTS
    assert all(2 <= i <= 2147483647 for i in ids)
    assert sorted(sw.server.get_peer_ids()) == sorted(ids)
    assert sorted(sw.connected) == sorted(ids)  # one peer_connected per client
    for c in sw.clients:
        assert sw.client_connected[id(c)] == [1]  # each client saw the server, once
        assert c.get_peer_ids() == [1]


def test_every_peer_is_a_live_websocket(sw: Swarm) -> None:
    for cid, c in sw.by_id.items():
        ws = sw.server.get_peer(cid)
        assert isinstance(ws, WebSocketPeer)
        assert ws.get_ready_state() == WebSocketPeer.STATE_OPEN
        assert sw.server.get_peer_address(cid) == "127.0.0.1"
        assert 0 < sw.server.get_peer_port(cid) < 65536
        assert c.get_peer(1).get_ready_state() == WebSocketPeer.STATE_OPEN
        assert c.get_peer_port(1) == sw.port


# ------------------------------------------------------------------ target modes


def test_broadcast_reaches_every_client_once(sw: Swarm) -> None:
    sw.server.set_target_peer(W.TARGET_PEER_BROADCAST)
    assert sw.server.put_packet(b"to everyone") == Error.OK
    got = sw.inboxes(until=N_CLIENTS)
    more = sw.inboxes(duration=0.05)
    assert all(got[i] + more[i] == [b"to everyone"] for i in sw.by_id), got


def test_target_server_on_server_is_invalid(sw: Swarm, caplog: pytest.LogCaptureFixture) -> None:
    sw.server.set_target_peer(W.TARGET_PEER_SERVER)
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert sw.server.put_packet(b"nobody") == Error.ERR_INVALID_PARAMETER
    assert any(r.name == "godot_websocket" for r in caplog.records)
    assert all(v == [] for v in sw.inboxes(duration=0.1).values())


def test_target_one_peer(sw: Swarm) -> None:
    ids = list(sw.by_id)
    for target in (ids[0], ids[17], ids[-1]):
        sw.server.set_target_peer(target)
        assert sw.server.put_packet(b"only %d" % target) == Error.OK
        got = sw.inboxes(until=1)
        got_more = sw.inboxes(duration=0.05)
        for cid in ids:
            expect = [b"only %d" % target] if cid == target else []
            assert got[cid] + got_more[cid] == expect, cid


def test_target_everyone_but_one(sw: Swarm) -> None:
    excluded = list(sw.by_id)[5]
    sw.server.set_target_peer(-excluded)
    assert sw.server.put_packet(b"not you") == Error.OK
    got = sw.inboxes(until=N_CLIENTS - 1)
    more = sw.inboxes(duration=0.05)
    for cid in sw.by_id:
        expect = [] if cid == excluded else [b"not you"]
        assert got[cid] + more[cid] == expect, cid


def test_target_unknown_positive_is_invalid(sw: Swarm) -> None:
    unknown = next(i for i in range(2, 10**6) if i not in sw.by_id)
    sw.server.set_target_peer(unknown)
    assert sw.server.put_packet(b"x") == Error.ERR_INVALID_PARAMETER
    assert all(v == [] for v in sw.inboxes(duration=0.1).values())


def test_target_unknown_negative_reaches_everyone(sw: Swarm) -> None:
    unknown = next(i for i in range(2, 10**6) if i not in sw.by_id)
    sw.server.set_target_peer(-unknown)
    assert sw.server.put_packet(b"all of you") == Error.OK
    got = sw.inboxes(until=N_CLIENTS)
    assert all(v == [b"all of you"] for v in got.values())


def test_target_minus_one_reaches_everyone(sw: Swarm) -> None:
    sw.server.set_target_peer(-1)  # the server is not a peer: nobody is excluded
    assert sw.server.put_packet(b"m1") == Error.OK
    got = sw.inboxes(until=N_CLIENTS)
    assert all(v == [b"m1"] for v in got.values())


@pytest.mark.parametrize("target", ["other", "minus_other", 1, 0, 999999])
def test_client_ignores_target(sw: Swarm, target: object) -> None:
    a, b = sw.clients[0], sw.clients[1]
    bid = b.get_unique_id()
    t = {"other": bid, "minus_other": -bid}.get(target, target)  # type: ignore[call-overload]
    a.set_target_peer(t)
    assert a.get_target_peer() == t
    assert a.put_packet(b"from a") == Error.OK
    got = collect(sw.all, sw.server, 1)
    assert got == [(a.get_unique_id(), b"from a")]
    assert drain(b) == []
    pump_for(sw.all, 0.05)
    assert all(drain(c) == [] for c in sw.clients)
    assert drain(sw.server) == []


# ------------------------------------------------------------------ ordering


def test_order_per_sender_with_interleaved_senders(sw: Swarm) -> None:
    """200 numbered packets from each of the 50 clients, sent round-robin: the server gets
    all 10000, each with the right sender, each sender's packets in order."""
    per_client = 200
    for i in range(per_client):
        for c in sw.clients:
            assert c.put_packet(struct.pack("<iI", c.get_unique_id(), i)) == Error.OK
    got = collect(sw.all, sw.server, per_client * N_CLIENTS, timeout=30)
    assert len(got) == per_client * N_CLIENTS
    seq: dict[int, list[int]] = {cid: [] for cid in sw.by_id}
    for sender, data in got:
        owner, n = struct.unpack("<iI", data)
        assert owner == sender
        seq[sender].append(n)
    assert all(v == list(range(per_client)) for v in seq.values())
    # (how the senders' packets mix in the FIFO depends on what each poll() found, as in
    # Godot, where one poll appends peer A's packets, then peer B's...)


def test_order_from_server_to_each_client(sw: Swarm) -> None:
    sw.server.set_target_peer(0)
    for i in range(200):
        assert sw.server.put_packet(struct.pack("<I", i)) == Error.OK
    got = sw.inboxes(until=200 * N_CLIENTS)
    for cid, packets in got.items():
        assert [struct.unpack("<I", p)[0] for p in packets] == list(range(200)), cid


def test_mixed_targets_keep_order_per_receiver(sw: Swarm) -> None:
    ids = list(sw.by_id)
    a, b = ids[0], ids[1]
    plan = [(0, b"0"), (a, b"1"), (-a, b"2"), (b, b"3"), (0, b"4"), (-b, b"5"), (a, b"6")]
    for target, data in plan:
        sw.server.set_target_peer(target)
        assert sw.server.put_packet(data) == Error.OK
    got = sw.inboxes(until=2 * N_CLIENTS + 2 + 2 * (N_CLIENTS - 1))
    got_more = sw.inboxes(duration=0.05)
    for cid in ids:
        expect = [d for t, d in plan if t == 0 or t == cid or (t < 0 and -t != cid)]
        assert got[cid] + got_more[cid] == expect, cid


def test_get_packet_peer_tracks_the_fifo_front(sw: Swarm) -> None:
    a, b, c = sw.clients[:3]
    for k, sender in enumerate((a, b, c, a), 1):
        sender.put_packet(b"p%d" % sender.get_unique_id())
        assert pump(sw.all, lambda k=k: sw.server.get_available_packet_count() == k)
        # the first packet stays in front until it is read
        front = sw.server.get_packet_peer()
        assert front == a.get_unique_id()
    assert pump(sw.all, lambda: sw.server.get_available_packet_count() == 4)
    out = []
    while sw.server.get_available_packet_count():
        pid = sw.server.get_packet_peer()
        assert sw.server.get_packet_channel() == 0
        assert sw.server.get_packet_mode() == W.TRANSFER_MODE_RELIABLE
        out.append((pid, sw.server.get_packet()))
    ids = [x.get_unique_id() for x in (a, b, c, a)]
    assert out == [(i, b"p%d" % i) for i in ids]


# ------------------------------------------------------------------ empty packets and errors


def test_empty_put_packet_is_ok_and_sends_nothing(sw: Swarm) -> None:
    c = sw.clients[0]
    assert c.put_packet(b"") == Error.OK
    assert c.put_packet(bytearray()) == Error.OK
    sw.server.set_target_peer(0)
    assert sw.server.put_packet(b"") == Error.OK
    sw.server.set_target_peer(1)  # even with an invalid target: nothing is checked
    assert sw.server.put_packet(b"") == Error.OK
    sw.server.set_target_peer(c.get_unique_id())
    assert sw.server.put_packet(memoryview(b"")) == Error.OK
    # a marker shows nothing was queued before it
    assert c.put_packet(b"marker") == Error.OK
    assert sw.server.put_packet(b"marker") == Error.OK
    assert collect(sw.all, sw.server, 1) == [(c.get_unique_id(), b"marker")]
    assert collect(sw.all, c, 1) == [(1, b"marker")]
    pump_for(sw.all, 0.05)
    assert drain(sw.server) == [] and drain(c) == []


def test_empty_put_packet_when_disconnected_is_ok() -> None:
    p = W()
    assert p.put_packet(b"") == Error.OK


def test_put_packet_accepts_buffers(sw: Swarm) -> None:
    c = sw.clients[2]
    assert c.put_packet(bytearray(b"ba")) == Error.OK
    assert c.put_packet(memoryview(b"xmvx")[1:3]) == Error.OK
    got = collect(sw.all, sw.server, 2)
    assert got == [(c.get_unique_id(), b"ba"), (c.get_unique_id(), b"mv")]
    with pytest.raises(TypeError):
        c.put_packet("text")  # type: ignore[arg-type]


def test_put_packet_before_connected(raw_ws_server, caplog: pytest.LogCaptureFixture) -> None:
    fresh = W()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert fresh.put_packet(b"x") == Error.ERR_UNCONFIGURED
    assert any(r.name == "godot_websocket" for r in caplog.records)
    silent = raw_ws_server()  # handshakes, never sends an id
    waiting = W()
    waiting.create_client(silent.url)
    assert waiting.put_packet(b"x") == Error.ERR_UNCONFIGURED
    conn = silent.accept(peers=waiting)
    assert pump(waiting, lambda: waiting.get_peer(1).get_ready_state() == WebSocketPeer.STATE_OPEN)
    # the WebSocket is open, but without an id the client is not connected
    assert waiting.put_packet(b"x") == Error.ERR_UNCONFIGURED
    waiting.close()
    assert waiting.put_packet(b"x") == Error.ERR_UNCONFIGURED
    conn.close()


def test_get_packet_with_nothing_waiting(sw: Swarm, caplog: pytest.LogCaptureFixture) -> None:
    c = sw.clients[3]
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert sw.server.get_packet() == b""
        assert sw.server.get_packet_error() == Error.ERR_UNAVAILABLE
        assert c.get_packet() == b""
        assert c.get_packet_error() == Error.ERR_UNAVAILABLE
        assert sw.server.get_packet_peer() == 1  # empty FIFO: 1 and a log line
    assert len([r for r in caplog.records if r.name == "godot_websocket"]) >= 3
    # a successful read resets the error
    c.put_packet(b"ok")
    assert pump(sw.all, lambda: sw.server.get_available_packet_count() == 1)
    assert sw.server.get_packet() == b"ok"
    assert sw.server.get_packet_error() == Error.OK


def test_get_packet_when_not_connected() -> None:
    p = W()
    assert p.get_packet() == b""
    assert p.get_packet_error() == Error.ERR_UNCONFIGURED
    assert p.get_available_packet_count() == 0
    assert p.get_var() is None


def test_largest_packets_each_way(sw: Swarm) -> None:
    c = sw.clients[4]
    cid = c.get_unique_id()
    big = bytes(range(256)) * 255 + bytes(range(255))  # 65535 bytes
    assert len(big) == 65535
    assert c.put_packet(big) == Error.OK
    assert collect(sw.all, sw.server, 1) == [(cid, big)]
    sw.server.set_target_peer(cid)
    assert sw.server.put_packet(big) == Error.OK
    assert collect(sw.all, c, 1) == [(1, big)]
    # one byte more never fits the default outbound buffer
    assert c.put_packet(big + b"!") == Error.ERR_OUT_OF_MEMORY
    assert c.get_connection_status() == CONNECTED


# ------------------------------------------------------------------ raw frames


def test_id_message_is_the_first_frame_and_binary() -> None:
    server, port = make_server()
    raw = RawClient(port)
    try:
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
        opcode, payload = raw.recv_frame()
        assert opcode == 0x2 and len(payload) == 4
        assert struct.unpack("<i", payload)[0] == server.get_peer_ids()[0]
        server.put_packet(b"after id")
        assert raw.recv_frame() == (0x2, b"after id")
    finally:
        raw.close()
        server.close()


def test_text_frames_are_delivered_as_bytes_and_empty_ones_dropped(
        caplog: pytest.LogCaptureFixture) -> None:
    server, port = make_server()
    raw = RawClient(port)
    try:
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
        rid = raw.read_id()
        with caplog.at_level(logging.ERROR, logger="godot_websocket"):
            raw.send("héllo".encode(), opcode=0x1)
            raw.send(b"", opcode=0x2)
            raw.send(b"", opcode=0x1)
            raw.send(b"bin", opcode=0x2)
            got = collect(server, server, 2)
            pump_for(server, 0.05)
        assert got == [(rid, "héllo".encode()), (rid, b"bin")]
        assert drain(server) == []
        assert len([r for r in caplog.records if "empty" in r.getMessage().lower()]) >= 1
        assert server.get_peer_ids() == [rid]
    finally:
        raw.close()
        server.close()


def test_packets_sent_before_the_id_is_read_arrive_after_peer_connected() -> None:
    """A peer's packets that arrive in the same poll as its handshake are delivered after
    peer_connected (spec §1.3)."""
    server, port = make_server()
    order: list[object] = []
    server.peer_connected.connect(
        lambda i: order.append(("connected", i, server.get_available_packet_count())))
    raw = RawClient(port)
    try:
        raw.send(b"early")  # before the server ever polled
        time.sleep(0.5)
        server.poll()
        rid = raw.read_id()
        assert order == [("connected", rid, 0)]
        assert drain(server) == [(rid, b"early")]
    finally:
        raw.close()
        server.close()


def test_all_pending_connections_are_accepted_in_one_poll() -> None:
    """Deliberate difference: Godot accepts one connection per poll(); we take them all."""
    server, port = make_server()
    raws = [RawClient(port) for _ in range(10)]
    try:
        time.sleep(0.5)  # every handshake is done by the core's thread meanwhile
        events: list[int] = []
        server.peer_connected.connect(events.append)
        server.poll()
        assert len(events) == 10
        assert sorted(events) == sorted(r.read_id() for r in raws)
    finally:
        for r in raws:
            r.close()
        server.close()


# ------------------------------------------------------------------ bulk hand-over
# A poll() whose events are all messages from OPEN peers hands them on in bulk (the
# core's message index); anything else takes the event-by-event path.  These tests
# queue bursts without polling, so that one poll() sees them all at once.


class _RawSwarm:
    def __init__(self, n: int) -> None:
        self.server, port = make_server(max_queued_packets=10_000)
        self.raws = [RawClient(port) for _ in range(n)]
        assert pump(self.server, lambda: len(self.server.get_peer_ids()) == n)
        self.ids = [r.read_id() for r in self.raws]
        self.gone: list[int] = []
        self.server.peer_disconnected.connect(self.gone.append)

    def wait_queued(self) -> None:
        """Give the core time to read what the raw clients sent, without polling."""
        time.sleep(0.1)

    def close(self) -> None:
        for r in self.raws:
            r.close()
        self.server.close()


@pytest.fixture
def raws() -> Iterator[_RawSwarm]:
    s = _RawSwarm(4)
    yield s
    s.close()


def test_bulk_poll_keeps_senders_and_order(raws: _RawSwarm) -> None:
    for i in range(200):
        for k, r in enumerate(raws.raws):
            r.send(struct.pack("<HH", k, i))
    got = collect(raws.server, raws.server, 800)
    per: dict[int, list[int]] = {}
    for sender, data in got:
        k, i = struct.unpack("<HH", data)
        assert sender == raws.ids[k]
        per.setdefault(k, []).append(i)
    assert per == {k: list(range(200)) for k in range(4)}


def test_bulk_poll_drops_empty_packets(raws: _RawSwarm,
                                       caplog: pytest.LogCaptureFixture) -> None:
    r = raws.raws[1]
    for i in range(50):
        r.send(b"" if i == 25 else struct.pack("<H", i))
    raws.wait_queued()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        got = collect(raws.server, raws.server, 49)
    assert [struct.unpack("<H", d)[0] for _, d in got] == [i for i in range(50) if i != 25]
    assert {s for s, _ in got} == {raws.ids[1]}
    assert "empty packet" in caplog.text
    pump_for(raws.server, 0.05)
    assert raws.server.get_available_packet_count() == 0


def test_bulk_poll_skips_a_peer_closed_locally(raws: _RawSwarm) -> None:
    closing = raws.ids[0]
    raws.server.get_peer(closing).close()  # CLOSING now: its packets are not read
    for i in range(30):
        for r in raws.raws:
            r.send(struct.pack("<H", i))
    raws.wait_queued()
    got = collect(raws.server, raws.server, 90)
    assert sorted({s for s, _ in got}) == sorted(raws.ids[1:])
    assert len(got) == 90
    assert raws.gone == [closing]


def test_bulk_poll_skips_a_force_disconnected_peer(raws: _RawSwarm) -> None:
    dropped = raws.ids[2]
    for i in range(30):
        for r in raws.raws:
            r.send(struct.pack("<H", i))
    raws.wait_queued()
    raws.server.disconnect_peer(dropped, force=True)
    got = collect(raws.server, raws.server, 90)
    pump_for(raws.server, 0.05)
    got += drain(raws.server)
    assert dropped not in {s for s, _ in got}
    assert len(got) == 90
    assert raws.gone == []  # force: no signal
