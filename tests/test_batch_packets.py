"""The batch extensions (not in Godot, docs/differences.md): ``get_packets()``,
``get_packets_with_peers()`` and ``put_packets()`` on WebSocketMultiplayerPeer and
WebSocketPeer, over real connections on 127.0.0.1, on threaded and no-thread contexts.

What is checked: the batch calls return exactly what the one-packet calls would have
(same packets, same order, same senders), mix freely with them, honour ``max_count``,
report Godot's Error codes, queue a send batch all or nothing within the limits, and
reject wrong argument types with TypeError."""

from __future__ import annotations

import logging
import struct
from array import array
from collections.abc import Iterator
from typing import Any

import pytest

from godot_websocket import Context, Error, WebSocketMultiplayerPeer, WebSocketPeer
from mp_helpers import CONNECTED, connect_clients, pump, pump_for, url_of

W = WebSocketMultiplayerPeer
PKT = struct.Struct("<HI")  # (client index, sequence number), padded by the tests


def pkt(client: int, seq: int, size: int = 16) -> bytes:
    return PKT.pack(client, seq).ljust(size, b"\x00")


@pytest.fixture(params=["thread", "nothread"])
def ctx(request: pytest.FixtureRequest) -> Iterator[Context | None]:
    """The context of every peer of a test: the default threaded one, or one shared
    no-thread context (all I/O inside poll())."""
    if request.param == "thread":
        yield None
        return
    c = Context(threaded=False)
    yield c
    c.shutdown()


def server_and_clients(ctx: Context | None, n: int, **settings: Any) -> tuple[W, list[W]]:
    server = W(context=ctx)
    for name, value in settings.items():
        setattr(server, name, value)
    assert server.create_server(0, "127.0.0.1") == Error.OK
    port = server.get_local_port()
    clients = []
    for _ in range(n):
        c = W(context=ctx)
        for name, value in settings.items():
            setattr(c, name, value)
        assert c.create_client(url_of(port)) == Error.OK
        clients.append(c)
    assert pump([server, *clients], lambda: all(
        c.get_connection_status() == CONNECTED for c in clients)
        and len(server.get_peer_ids()) == n, timeout=15)
    return server, clients


def close(*peers: Any) -> None:
    for p in peers:
        p.close()


def wait_available(peers: list[Any], receiver: Any, count: int, timeout: float = 10) -> None:
    assert pump(peers, lambda: receiver.get_available_packet_count() >= count, timeout), \
        (receiver.get_available_packet_count(), count)


# ------------------------------------------------------------------ receiving


def test_get_packets_with_peers_order_within_and_across_peers(ctx: Context | None) -> None:
    server, clients = server_and_clients(ctx, 8)
    try:
        per = 300
        for i, c in enumerate(clients):
            for start in range(0, per, 100):  # three batches per client
                assert c.put_packets([pkt(i, s) for s in range(start, start + 100)]) \
                    == Error.OK
        peers = [server, *clients]
        wait_available(peers, server, per * len(clients))
        assert server.get_available_packet_count() == per * len(clients)
        first_peer = server.get_packet_peer()
        packets, senders = server.get_packets_with_peers()
        assert server.get_packet_error() == Error.OK
        assert server.get_available_packet_count() == 0
        assert len(packets) == len(senders) == per * len(clients)
        assert senders[0] == first_peer
        ids = {c.get_unique_id(): i for i, c in enumerate(clients)}
        seqs: dict[int, list[int]] = {i: [] for i in range(len(clients))}
        for data, pid in zip(packets, senders):
            idx, seq = PKT.unpack_from(data)
            assert ids[pid] == idx  # the sender id belongs to the packet
            seqs[idx].append(seq)
        assert all(s == list(range(per)) for s in seqs.values())
        assert server.get_packets() == []
        assert server.get_packets_with_peers() == ([], [])
        assert server.get_packet_error() == Error.OK
    finally:
        close(server, *clients)


def test_get_packets_mixes_with_get_packet_and_max_count(ctx: Context | None) -> None:
    """With one sender the order is total: any mix of get_packet(), get_packets(k) and
    get_packets_with_peers(k) returns the sequence exactly once, in order."""
    server, (client,) = server_and_clients(ctx, 1)
    try:
        n = 500
        assert client.put_packets([pkt(0, s) for s in range(n)]) == Error.OK
        wait_available([server, client], server, n)
        cid = client.get_unique_id()
        got: list[bytes] = []
        got.append(server.get_packet())
        assert server.get_packets(0) == []
        assert server.get_available_packet_count() == n - 1
        got += server.get_packets(3)
        assert server.get_available_packet_count() == n - 4
        assert server.get_packet_peer() == cid
        batch, ids = server.get_packets_with_peers(10)
        assert ids == [cid] * 10
        got += batch
        got.append(server.get_packet())
        got += server.get_packets(100_000)  # more than available: all of them
        assert server.get_available_packet_count() == 0
        assert [PKT.unpack_from(d)[1] for d in got] == list(range(n))
        # nothing left: get_packet() fails as in Godot, get_packets() just returns []
        assert server.get_packets(5) == []
        assert server.get_packet_error() == Error.OK
        assert server.get_packet() == b""
        assert server.get_packet_error() == Error.ERR_UNAVAILABLE
    finally:
        close(server, client)


@pytest.mark.parametrize("bad", [1.5, "3", None, True, [1]])
def test_get_packets_max_count_type(bad: Any) -> None:
    peer = W()
    ws = WebSocketPeer()
    with pytest.raises(TypeError, match="max_count must be an int"):
        peer.get_packets(bad)
    with pytest.raises(TypeError, match="max_count must be an int"):
        peer.get_packets_with_peers(bad)
    with pytest.raises(TypeError, match="max_count must be an int"):
        ws.get_packets(bad)


def test_get_packets_when_not_connected() -> None:
    peer = W()
    assert peer.get_packets() == []
    assert peer.get_packet_error() == Error.ERR_UNCONFIGURED
    assert peer.get_packets_with_peers() == ([], [])
    ws = WebSocketPeer()
    assert ws.get_packets() == []
    assert ws.get_packet_error() == Error.FAILED


def test_packets_of_a_peer_that_disconnects_stay_readable(ctx: Context | None) -> None:
    """Packets that arrived before a peer dropped are still delivered, in order, with
    its id (as get_packet() would); sending to it afterwards is ERR_INVALID_PARAMETER."""
    server, clients = server_and_clients(ctx, 3)
    try:
        gone = clients[1]
        gid = gone.get_unique_id()
        for i, c in enumerate(clients):
            assert c.put_packets([pkt(i, s) for s in range(50)]) == Error.OK
        wait_available([server, *clients], server, 150)
        left: list[int] = []
        server.peer_disconnected.connect(left.append)
        gone.close()
        assert pump([server, *clients], lambda: left == [gid])
        assert server.get_peer(gid) is None
        packets, senders = server.get_packets_with_peers()
        assert len(packets) == 150
        assert [PKT.unpack_from(d)[1] for d, p in zip(packets, senders) if p == gid] \
            == list(range(50))
        server.set_target_peer(gid)
        assert server.put_packets([b"x"]) == Error.ERR_INVALID_PARAMETER
    finally:
        close(server, *clients)


def test_empty_packets_in_a_batch_send_nothing(ctx: Context | None) -> None:
    server, (client,) = server_and_clients(ctx, 1)
    try:
        assert client.put_packets([b"a", b"", b"bb", bytearray(), b"c"]) == Error.OK
        assert client.put_packets([]) == Error.OK
        assert client.put_packets([b""]) == Error.OK
        wait_available([server, client], server, 3)
        pump_for([server, client], 0.05)
        assert server.get_packets() == [b"a", b"bb", b"c"]
    finally:
        close(server, client)


# ------------------------------------------------------------------ sending


def test_put_packets_accepts_bytes_like_and_iterables(ctx: Context | None) -> None:
    server, (client,) = server_and_clients(ctx, 1)
    try:
        wide = memoryview(array("I", [1, 2]))  # 8 bytes, 2 items
        batch = (p for p in [b"one", bytearray(b"two"), memoryview(b"three"), wide])
        assert client.put_packets(batch) == Error.OK
        assert client.put_packets((b"t", b"u")) == Error.OK
        wait_available([server, client], server, 6)
        assert server.get_packets() == [b"one", b"two", b"three",
                                        array("I", [1, 2]).tobytes(), b"t", b"u"]
    finally:
        close(server, client)


@pytest.mark.parametrize(("bad", "match"), [
    ("abc", "list of packets"),
    (b"abc", "list of packets"),
    (bytearray(b"abc"), "list of packets"),
    (7, "list of packets"),
    (None, "list of packets"),
    ([b"ok", "text"], "item 1"),
    ([b"ok", b"ok", 3], "item 2"),
    ([None], "item 0"),
])
def test_put_packets_type_errors(bad: Any, match: str) -> None:
    for peer in (W(), WebSocketPeer()):
        with pytest.raises(TypeError, match=match):
            peer.put_packets(bad)


def test_put_packets_type_error_sends_nothing(ctx: Context | None) -> None:
    server, (client,) = server_and_clients(ctx, 1)
    try:
        with pytest.raises(TypeError):
            client.put_packets([b"first", "second"])
        assert client.put_packets([b"after"]) == Error.OK
        wait_available([server, client], server, 1)
        pump_for([server, client], 0.05)
        assert server.get_packets() == [b"after"]
    finally:
        close(server, client)


def test_put_packets_not_connected_and_unknown_peer(ctx: Context | None) -> None:
    assert W().put_packets([b"x"]) == Error.ERR_UNCONFIGURED
    assert WebSocketPeer().put_packets([b"x"]) == Error.FAILED
    server, (client,) = server_and_clients(ctx, 1)
    try:
        server.set_target_peer(999_999)
        assert server.put_packets([b"x"]) == Error.ERR_INVALID_PARAMETER
        ws = server.get_peer(client.get_unique_id())
        assert ws is not None
        ws.close()
        assert ws.put_packets([b"x"]) == Error.FAILED  # CLOSING: not open
    finally:
        close(server, client)


def test_server_put_packets_targets(ctx: Context | None) -> None:
    """One peer, broadcast, broadcast-but-one: same targets as put_packet()."""
    server, clients = server_and_clients(ctx, 3)
    try:
        peers = [server, *clients]
        a, b, c = clients
        server.set_target_peer(b.get_unique_id())
        assert server.put_packets([b"to-b-1", b"to-b-2"]) == Error.OK
        server.set_target_peer(0)
        assert server.put_packets([b"all-1", b"", b"all-2"]) == Error.OK
        server.set_target_peer(-a.get_unique_id())
        assert server.put_packets([b"not-a-1", b"not-a-2"]) == Error.OK
        wait_available(peers, b, 6)
        wait_available(peers, c, 4)
        wait_available(peers, a, 2)
        pump_for(peers, 0.05)
        assert a.get_packets_with_peers() == ([b"all-1", b"all-2"], [1, 1])
        assert b.get_packets() == [b"to-b-1", b"to-b-2", b"all-1", b"all-2",
                                   b"not-a-1", b"not-a-2"]
        assert c.get_packets() == [b"all-1", b"all-2", b"not-a-1", b"not-a-2"]
    finally:
        close(server, *clients)


def test_large_batches(ctx: Context | None) -> None:
    n = 20_000
    server, clients = server_and_clients(ctx, 2, max_queued_packets=1 << 16,
                                         outbound_buffer_size=8 << 20,
                                         inbound_buffer_size=8 << 20)
    try:
        for i, c in enumerate(clients):
            assert c.put_packets([pkt(i, s, 64) for s in range(n)]) == Error.OK
        got: list[bytes] = []
        senders: list[int] = []

        def enough() -> bool:
            p, s = server.get_packets_with_peers()
            got.extend(p)
            senders.extend(s)
            return len(got) >= 2 * n

        assert pump([server, *clients], enough, timeout=30)
        for c in clients:
            cid = c.get_unique_id()
            assert [PKT.unpack_from(d)[1] for d, p in zip(got, senders) if p == cid] \
                == list(range(n))
        server.set_target_peer(0)
        assert server.put_packets([pkt(9, s, 64) for s in range(n)]) == Error.OK
        for c in clients:
            wait_available([server, *clients], c, n, timeout=30)
            assert [PKT.unpack_from(d)[1] for d in c.get_packets()] == list(range(n))
    finally:
        close(server, *clients)


# ------------------------------------------------------------------ limits


@pytest.fixture
def manual() -> Iterator[tuple[W, W, WebSocketPeer, Context]]:
    """A server on a no-thread context (its queues only move inside poll(), so what is
    queued stays queued between calls) with one client whose server-side peer has
    max_queued_packets 8 and outbound_buffer_size 3000."""
    c = Context(threaded=False)
    server = W(context=c)
    server.max_queued_packets = 8
    server.outbound_buffer_size = 3000
    assert server.create_server(0, "127.0.0.1") == Error.OK
    (client,) = connect_clients(server, server.get_local_port(), 1)
    ws = server.get_peer(client.get_unique_id())
    assert ws is not None
    yield server, client, ws, c
    close(server, client)
    c.shutdown()


def test_put_packets_all_or_nothing_max_queued(
        manual: tuple[W, W, WebSocketPeer, Context], caplog: pytest.LogCaptureFixture) -> None:
    server, client, ws, _ = manual
    assert ws.put_packets([b"a"] * 5) == Error.OK
    assert ws.get_current_outbound_buffered_amount() == 5
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert ws.put_packets([b"b"] * 4) == Error.ERR_OUT_OF_MEMORY  # 9 > 8
    assert "outbound buffer full" in caplog.text
    assert ws.get_current_outbound_buffered_amount() == 5  # none of the 4 queued
    assert ws.put_packets([b"c"] * 3) == Error.OK  # exactly 8
    assert ws.put_packet(b"d") == Error.ERR_OUT_OF_MEMORY
    # the server's put_packets() returns OK, as its put_packet() does (logged)
    server.set_target_peer(client.get_unique_id())
    assert server.put_packets([b"e"]) == Error.OK
    wait_available([server, client], client, 8)
    pump_for([server, client], 0.05)
    assert client.get_packets() == [b"a"] * 5 + [b"c"] * 3


def test_put_packets_all_or_nothing_outbound_bytes(
        manual: tuple[W, W, WebSocketPeer, Context]) -> None:
    server, client, ws, _ = manual
    assert ws.put_packets([b"x" * 1000, b"y" * 1000]) == Error.OK
    assert ws.put_packets([b"z" * 500, b"w" * 501]) == Error.ERR_OUT_OF_MEMORY  # 3001
    assert ws.put_packets([b"z" * 500, b"w" * 500]) == Error.OK  # exactly 3000
    # a batch bigger than the limits can never be queued whole
    server.poll()
    wait_available([server, client], client, 4)
    assert client.get_packets() == [b"x" * 1000, b"y" * 1000, b"z" * 500, b"w" * 500]
    assert pump(server, lambda: ws.get_current_outbound_buffered_amount() == 0)
    assert ws.put_packets([b"q" * 1000] * 4) == Error.ERR_OUT_OF_MEMORY
    assert ws.put_packets([b"q"] * 9) == Error.ERR_OUT_OF_MEMORY


def test_broadcast_put_packets_skips_a_full_peer(
        manual: tuple[W, W, WebSocketPeer, Context]) -> None:
    server, client, ws, _ = manual
    big = connect_clients(server, server.get_local_port(), 1)[0]
    try:
        server.get_peer(big.get_unique_id()).set_max_queued_packets(100)  # type: ignore
        assert ws.put_packets([b"a"] * 6) == Error.OK
        server.set_target_peer(0)
        assert server.put_packets([b"b"] * 3) == Error.OK  # 9 > 8 for the small peer
        peers = [server, client, big]
        wait_available(peers, big, 3)
        wait_available(peers, client, 6)
        pump_for(peers, 0.05)
        assert big.get_packets() == [b"b"] * 3
        assert client.get_packets() == [b"a"] * 6
    finally:
        big.close()


# ------------------------------------------------------------------ WebSocketPeer


def test_websocket_peer_batches_with_echo_server(ws_server: Any, ctx: Context | None) -> None:
    srv = ws_server()
    ws = WebSocketPeer(context=ctx)
    assert ws.connect_to_url(srv.url) == Error.OK
    assert pump(ws, lambda: ws.get_ready_state() == WebSocketPeer.STATE_OPEN)
    try:
        msgs = [b"m%d" % i for i in range(200)]
        assert ws.put_packets(msgs[:150]) == Error.OK
        assert ws.send_text("hello") == Error.OK
        assert ws.put_packets(msgs[150:]) == Error.OK
        assert ws.send_text("last") == Error.OK
        assert pump(ws, lambda: ws.get_available_packet_count() == 202)
        assert ws.get_packet() == b"m0"
        got = ws.get_packets(149)
        assert got == msgs[1:150]
        assert not ws.was_string_packet()
        assert ws.get_packets(1) == [b"hello"]
        assert ws.was_string_packet()
        rest = ws.get_packets()
        assert rest == [*msgs[150:], b"last"]
        assert ws.was_string_packet()
        assert ws.get_packets() == []
        assert ws.get_packet_error() == Error.OK
        # the consumed budget is returned: more than the default 4096 slots get through
        for _ in range(3):
            assert ws.put_packets([b"x" * 10] * 2000) == Error.OK
            assert pump(ws, lambda: ws.get_available_packet_count() == 2000)
            assert ws.get_packets() == [b"x" * 10] * 2000
    finally:
        ws.close()


# ------------------------------------------------------------------ subclasses


class Tagging(W):
    """A subclass that overrides the core operations: every batch call must go through
    them, packet by packet."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.puts: list[bytes] = []
        self.fail_after = -1

    def _get_packet(self) -> tuple[Error, bytes]:
        err, data = super()._get_packet()
        return err, b"<" + data + b">"

    def _put_packet(self, data: Any) -> Error:
        if self.fail_after == len(self.puts):
            return Error.ERR_BUSY
        self.puts.append(bytes(data))
        return super()._put_packet(data)


def test_subclass_overrides_are_used(ctx: Context | None) -> None:
    server = Tagging(context=ctx)
    assert server.create_server(0, "127.0.0.1") == Error.OK
    client = Tagging(context=ctx)
    assert client.create_client(url_of(server.get_local_port())) == Error.OK
    try:
        assert pump([server, client], lambda: client.get_connection_status() == CONNECTED
                    and len(server.get_peer_ids()) == 1)
        assert client.put_packets([b"a", b"", b"b", b"c"]) == Error.OK
        assert client.puts == [b"a", b"b", b"c"]
        client.fail_after = 4
        assert client.put_packets([b"d", b"e"]) == Error.ERR_BUSY  # stops at the error
        assert client.puts == [b"a", b"b", b"c", b"d"]
        wait_available([server, client], server, 4)
        cid = client.get_unique_id()
        assert server.get_packets(1) == [b"<a>"]
        assert server.get_packets_with_peers(2) == ([b"<b>", b"<c>"], [cid, cid])
        assert server.get_packets() == [b"<d>"]
    finally:
        close(server, client)


# ------------------------------------------------------------------ sender ids


def _churn_round(server: W, clients: list[W]) -> list[W]:
    """A third of the clients leave, as many new ones join, every client sends a
    batch; the server's packets must carry their senders' ids."""
    gone = clients[::3]
    left: list[int] = []
    server.peer_disconnected.connect(left.append)
    for c in gone:
        c.close()
    assert pump([server, *clients], lambda: len(left) == len(gone))
    server.peer_disconnected.disconnect(left.append)
    clients = [c for c in clients if c not in gone]
    clients += connect_clients(server, server.get_local_port(), len(gone))
    ids = [c.get_unique_id() for c in clients]
    for i, c in enumerate(clients):
        assert c.put_packets([pkt(i, s) for s in range(20)]) == Error.OK
    got: list[bytes] = []
    senders: list[int] = []

    def enough() -> bool:
        p, s = server.get_packets_with_peers()
        got.extend(p)
        senders.extend(s)
        return len(got) >= 20 * len(clients)

    assert pump([server, *clients], enough)
    for data, pid in zip(got, senders):
        assert ids[PKT.unpack_from(data)[0]] == pid
    return clients


def test_sender_ids_through_churn(ctx: Context | None) -> None:
    """Peers leave and join between batches; every packet keeps its sender's id (the
    core's serial -> id table is updated as peers come and go)."""
    server, clients = server_and_clients(ctx, 30)
    try:
        for _ in range(3):
            clients = _churn_round(server, clients)
    finally:
        close(server, *clients)


def test_no_packets_from_a_peer_after_forced_disconnect(ctx: Context | None) -> None:
    server, (a, b) = server_and_clients(ctx, 2)
    try:
        aid = a.get_unique_id()
        assert a.put_packets([b"before"] * 10) == Error.OK
        wait_available([server, a, b], server, 10)
        server.disconnect_peer(aid, True)
        for _ in range(5):
            a.put_packets([b"after"] * 10)
            b.put_packets([b"b"] * 10)
            pump_for([server, a, b], 0.01)
        packets, senders = server.get_packets_with_peers()
        assert packets[:10] == [b"before"] * 10
        assert b"after" not in packets
        assert set(senders[10:]) <= {b.get_unique_id()}
    finally:
        close(server, a, b)
