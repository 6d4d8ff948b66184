"""Read batching: the service thread naps while the program drains late anyway.

A game loop drains its peers at its frame rate, so incoming messages wait in the queue
for most of a frame whatever the core does.  The core keeps a moving average of how late
after its signal each drain comes; before it waits for socket events again, the service
thread of a threaded context sleeps 1/8 of that average (``GODOT_WEBSOCKET_RX_NAP_SHARE``),
at most 1 ms (``GODOT_WEBSOCKET_RX_NAP_US``, 0: never), so that one wake-up reads what
many sockets sent.  Naps under 100 us are not taken: a program that polls in a tight
loop or waits never naps.  A command or a write queued during a nap ends it at once.
These tests count naps (``gws_context_naps()``) and stretch them to make their edges
visible.
"""

from __future__ import annotations

import statistics
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from godot_websocket import Context, Error, WebSocketMultiplayerPeer
from godot_websocket._core import lib

SERVER_ID = 1


def naps(ctx: Context) -> int:
    return int(lib.gws_context_naps(ctx.ptr))


@pytest.fixture
def nap_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Context]]:
    """``nap_context(max_us=None, share=None)``: a threaded context with those settings
    (read when a context is created; None: the defaults)."""
    made: list[Context] = []

    def make(max_us: int | None = None, share: int | None = None) -> Context:
        for name, value in (("GODOT_WEBSOCKET_RX_NAP_US", max_us),
                            ("GODOT_WEBSOCKET_RX_NAP_SHARE", share)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, str(value))
        ctx = Context(threaded=True)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.shutdown()


def _server(ctx: Context) -> tuple[WebSocketMultiplayerPeer, int]:
    server = WebSocketMultiplayerPeer(context=ctx)
    assert server.create_server(0, "127.0.0.1") == Error.OK
    return server, server.get_local_port()


def _clients(server: WebSocketMultiplayerPeer, port: int, ws_connect: Any,
             n: int) -> list[Any]:
    """``n`` python ``websockets`` clients, each past its peer-id message."""
    conns = [ws_connect(f"ws://127.0.0.1:{port}/") for _ in range(n)]
    deadline = time.monotonic() + 10
    while len(server.get_peer_ids()) < n:
        assert time.monotonic() < deadline, "clients did not connect"
        server.poll()
        time.sleep(0.002)
    for c in conns:
        assert len(c.recv(timeout=5)) == 4  # the server tells each client its id
    return conns


def _drain(server: WebSocketMultiplayerPeer, got: dict[int, list[int]]) -> None:
    server.poll()
    while server.get_available_packet_count():
        pid = server.get_packet_peer()
        (num,) = struct.unpack("<I", server.get_packet())
        got.setdefault(pid, []).append(num)


@pytest.mark.parametrize("max_us, expect_naps", [(None, True), (0, False)],
                         ids=["default", "off"])
def test_a_program_that_drains_late_lets_reads_gather(
        nap_context: Callable[..., Context], ws_connect: Any,
        max_us: int | None, expect_naps: bool) -> None:
    ctx = nap_context(max_us)
    server, port = _server(ctx)
    conns = _clients(server, port, ws_connect, 4)
    got: dict[int, list[int]] = {}
    rounds, per_round = 40, 3
    for r in range(rounds):
        for c in conns:
            for k in range(per_round):
                c.send(struct.pack("<I", r * per_round + k))
        time.sleep(0.02)  # a 50 Hz game loop: drains 0-20 ms after each arrival
        _drain(server, got)
    deadline = time.monotonic() + 5
    while sum(map(len, got.values())) < len(conns) * rounds * per_round:
        assert time.monotonic() < deadline, "messages missing"
        time.sleep(0.01)
        _drain(server, got)
    # every message, once, in order, per client
    assert sorted(got) == sorted(server.get_peer_ids())
    for nums in got.values():
        assert nums == list(range(rounds * per_round))
    if expect_naps:
        assert naps(ctx) > rounds // 2
    else:
        assert naps(ctx) == 0


@pytest.mark.parametrize("how", ["wait", "poll"])
def test_a_program_that_waits_or_polls_stops_napping(
        nap_context: Callable[..., Context], ws_connect: Any, how: str) -> None:
    """An echo loop drains within microseconds: once the average has forgotten the
    connection's start (drained whenever the test got to it), no more naps."""
    ctx = nap_context()
    server, port = _server(ctx)
    (conn,) = _clients(server, port, ws_connect, 1)
    (pid,) = server.get_peer_ids()
    server.set_target_peer(pid)

    def echo(i: int) -> None:
        conn.send(struct.pack("<I", i))
        deadline = time.monotonic() + 5
        while True:
            if how == "wait":
                server.wait(1.0)
            server.poll()
            if server.get_available_packet_count():
                break
            assert time.monotonic() < deadline, "no echo"
        assert server.put_packet(server.get_packet()) == Error.OK
        assert struct.unpack("<I", conn.recv(timeout=5))[0] == i

    for i in range(60):  # the average decays by 7/8 per drain
        echo(i)
    before = naps(ctx)
    for i in range(60, 260):
        echo(i)
    assert naps(ctx) == before


def test_a_write_ends_a_nap(nap_context: Callable[..., Context], ws_connect: Any) -> None:
    """Naps stretched to about a quarter of a second (the whole drain lag, at most 1 s):
    a broadcast, which the service thread writes, still leaves at once."""
    ctx = nap_context(1_000_000, 1)
    server, port = _server(ctx)
    conns = _clients(server, port, ws_connect, 2)
    got: dict[int, list[int]] = {}
    for i in range(4):  # drains 0.6 s after each arrival: an average of ~0.25 s
        conns[0].send(struct.pack("<I", i))
        time.sleep(0.6)
        _drain(server, got)
    assert [len(v) for v in got.values()] == [4]
    before = naps(ctx)
    time.sleep(0.5)
    assert naps(ctx) > before, "the service thread took no nap"
    server.set_target_peer(0)
    delays = []
    for i in range(8):
        time.sleep(0.03 * i)  # land at different points of a nap
        t0 = time.monotonic()
        assert server.put_packet(struct.pack("<I", 1000 + i)) == Error.OK
        for c in conns:
            assert struct.unpack("<I", c.recv(timeout=5))[0] == 1000 + i
        delays.append(time.monotonic() - t0)
    # a write that waited for the nap's end would take ~0.12 s on average
    assert statistics.median(delays) < 0.04, delays
