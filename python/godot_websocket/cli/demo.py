"""``godot-websocket demo``: a game server and a crowd of bots on 127.0.0.1, in one process.

What runs, all over real WebSocket connections on the loopback interface:

* a ``WebSocketMultiplayerPeer`` server (the "game server");
* ``--clients`` bots, each a ``WebSocketMultiplayerPeer`` client. Every bot sends its
  state ``--rate`` times a second: a Dictionary with its id, a sequence number, a
  timestamp (``time.monotonic_ns()``), a position and a velocity (``Vector2``) and its
  hit points, encoded with Godot's binary Variant format;
* the server decodes each state, echoes it back to its sender (the bot measures the
  round trip from the timestamp) and, at the same tick rate, broadcasts a world
  snapshot (tick, server timestamp, ``PackedInt32Array`` of ids,
  ``PackedVector2Array`` of positions) to every bot.

Every packet is checked on arrival. At the end the bots close their connections and
a summary table shows packets and bytes per stream, latency percentiles and the
error count. Exit code 0 only if every bot connected and there were no errors.

Everything is polled from one thread: one loop polls the server and every bot (one
FFI call each; the I/O itself runs on the library's service thread), runs the ticks
that are due from a deadline queue, and sleeps 1 ms when there was nothing to do.
"""

from __future__ import annotations

import argparse
import heapq
import math
import sys
import time
from collections import Counter
from typing import Any

from ..variant import (
    PackedInt32Array,
    PackedVector2Array,
    VariantError,
    Vector2,
    decode_variant,
    encode_variant,
)
from ..websocket_multiplayer_peer import WebSocketMultiplayerPeer
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    IDLE_SLEEP,
    PROG,
    CLIError,
    add_verbose_option,
    fmt_count,
    fmt_duration_ns,
    int_range,
    out,
    percentile,
    port_number,
    positive_float,
    render_table,
)
from ._net import start_server

__all__ = ["add_parser", "run"]

_CONNECTED = WebSocketMultiplayerPeer.CONNECTION_CONNECTED
_DISCONNECTED = WebSocketMultiplayerPeer.CONNECTION_DISCONNECTED

_CONNECT_TIMEOUT = 5.0
_DRAIN_TIMEOUT = 2.0
_CLOSE_TIMEOUT = 2.0
_TTY_REFRESH = 0.25

_EXAMPLES = """\
examples:
  godot-websocket demo                               # 32 bots, 20 Hz, 8 s
  godot-websocket demo --clients 100 --rate 30 --duration 20
  godot-websocket demo --duration 3 | tee demo.log   # progress lines once per second
"""


def add_parser(subparsers: Any) -> None:
    """Declare ``demo`` and its options."""
    parser = subparsers.add_parser(
        "demo",
        help="a server and a crowd of bots exchanging game state on 127.0.0.1",
        description=(
            "Start a game server and a few dozen bot clients on 127.0.0.1 that exchange\n"
            "Variant-encoded game state at a tick rate; show live progress and a summary."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--clients", type=int_range(1, 500), default=32, metavar="N", help="bots (default 32)"
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=20.0,
        metavar="HZ",
        help="state updates per bot per second, and snapshots per second (default 20)",
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=8.0,
        metavar="SECONDS",
        help="how long the bots play (default 8)",
    )
    parser.add_argument(
        "--port", type=port_number, default=0, help="server port (default 0: any free port)"
    )
    add_verbose_option(parser)
    parser.set_defaults(handler=run)


class _Stats:
    """Counters shared by the server and the bots."""

    def __init__(self) -> None:
        self.state_sent = self.state_sent_bytes = 0
        self.state_recv = 0
        self.echo_sent = self.echo_recv = self.echo_bytes = 0
        self.snap_sent = self.snap_recv = self.snap_bytes = 0
        self.rtt_ns: list[int] = []
        self.snap_ns: list[int] = []
        self.errors: Counter[str] = Counter()
        self.late_ticks = 0

    def packets_moved(self) -> int:
        return self.state_recv + self.echo_recv + self.snap_recv


class _GameServer:
    """The server side: echo states, broadcast snapshots."""

    def __init__(self, peer: WebSocketMultiplayerPeer, stats: _Stats) -> None:
        self.peer = peer
        self.stats = stats
        self.world: dict[int, Vector2] = {}
        self.tick = 0
        peer.peer_connected.connect(self._on_connected)
        peer.peer_disconnected.connect(self._on_disconnected)

    def _on_connected(self, pid: int) -> None:
        self.world[pid] = Vector2(0, 0)

    def _on_disconnected(self, pid: int) -> None:
        self.world.pop(pid, None)

    def pump(self) -> int:
        """Poll, then handle every state that arrived; returns how many."""
        peer = self.peer
        stats = self.stats
        peer.poll()
        count = peer.get_available_packet_count()
        for _ in range(count):
            pid = peer.get_packet_peer()
            data = peer.get_packet()
            stats.state_recv += 1
            try:
                state, _used = decode_variant(data)
                position = state["pos"]
                if state["id"] != pid or not isinstance(position, Vector2):
                    raise ValueError
            except (VariantError, KeyError, TypeError, ValueError):
                stats.errors["server: bad state"] += 1
                continue
            self.world[pid] = position
            peer.set_target_peer(pid)
            if peer.put_packet(data) != 0:
                stats.errors["server: echo not sent"] += 1
                continue
            stats.echo_sent += 1
        return count

    def broadcast_snapshot(self) -> None:
        """Send the world to every connected bot."""
        self.tick += 1
        ids = list(self.world)
        snapshot = {
            "tick": self.tick,
            "t": time.monotonic_ns(),
            "ids": PackedInt32Array(ids),
            "pos": PackedVector2Array(self.world.values()),
        }
        self.peer.set_target_peer(0)
        if self.peer.put_packet(encode_variant(snapshot)) != 0:
            self.stats.errors["server: snapshot not sent"] += 1
            return
        self.stats.snap_sent += len(ids)


class _Bot:
    """One client: sends its state on its ticks, checks what comes back."""

    def __init__(self, index: int, count: int, peer: WebSocketMultiplayerPeer, stats: _Stats):
        self.index = index
        self.peer = peer
        self.stats = stats
        self.id = 0
        self.seq = 0
        self.echoed = 0
        self.closing = False
        self.angle = 2 * math.pi * index / count
        self.radius = 50.0 + 10.0 * (index % 7)
        peer.peer_connected.connect(self._on_connected)
        peer.peer_disconnected.connect(self._on_disconnected)

    def _on_connected(self, _pid: int) -> None:
        self.id = self.peer.get_unique_id()

    def _on_disconnected(self, _pid: int) -> None:
        if not self.closing:
            self.stats.errors["bot: lost its connection"] += 1

    @property
    def connected(self) -> bool:
        return self.peer.get_connection_status() == _CONNECTED

    def send_state(self, now: float) -> None:
        """One tick: encode and send the state."""
        if not self.connected:
            return
        self.seq += 1
        angle = self.angle + now * 0.5
        state = {
            "id": self.id,
            "seq": self.seq,
            "t": time.monotonic_ns(),
            "pos": Vector2(self.radius * math.cos(angle), self.radius * math.sin(angle)),
            "vel": Vector2(-self.radius * math.sin(angle), self.radius * math.cos(angle)),
            "hp": 100 - self.index % 50,
        }
        data = encode_variant(state)
        if self.peer.put_packet(data) != 0:
            self.stats.errors["bot: state not sent"] += 1
            return
        self.stats.state_sent += 1
        self.stats.state_sent_bytes += len(data)

    def pump(self) -> int:
        """Poll, then check every packet that arrived; returns how many."""
        peer = self.peer
        stats = self.stats
        peer.poll()
        count = peer.get_available_packet_count()
        for _ in range(count):
            data = peer.get_packet()
            now = time.monotonic_ns()
            try:
                message, _used = decode_variant(data)
                if "seq" in message:
                    if message["id"] != self.id or message["seq"] <= self.echoed:
                        raise ValueError
                    self.echoed = message["seq"]
                    stats.echo_recv += 1
                    stats.echo_bytes += len(data)
                    stats.rtt_ns.append(now - message["t"])
                elif "tick" in message:
                    if len(message["ids"]) != len(message["pos"]):
                        raise ValueError
                    stats.snap_recv += 1
                    stats.snap_bytes += len(data)
                    stats.snap_ns.append(now - message["t"])
                else:
                    raise ValueError
            except (VariantError, KeyError, TypeError, ValueError):
                stats.errors["bot: unexpected packet"] += 1
        return count


class _Progress:
    """Live progress: one redrawn line on a terminal, one line per second otherwise."""

    def __init__(self, stats: _Stats, clients: int) -> None:
        self.stats = stats
        self.clients = clients
        self.tty = sys.stdout.isatty()
        self.interval = _TTY_REFRESH if self.tty else 1.0
        self.start = time.monotonic()
        self.next = self.start + self.interval
        self.last_time = self.start
        self.last_moved = 0
        self.rtt_seen = 0

    def update(self, now: float, phase: str, connected: int, force: bool = False) -> None:
        if now < self.next and not force:
            return
        stats = self.stats
        moved = stats.packets_moved()
        rate = (moved - self.last_moved) / max(now - self.last_time, 1e-9)
        recent = sorted(stats.rtt_ns[self.rtt_seen :])
        self.rtt_seen = len(stats.rtt_ns)
        rtt = (
            f"rtt p50 {fmt_duration_ns(percentile(recent, 50))} "
            f"p99 {fmt_duration_ns(percentile(recent, 99))}"
            if recent
            else "rtt -"
        )
        line = (
            f"[{now - self.start:5.1f}s] {phase:<8} peers {connected}/{self.clients}  "
            f"packets {fmt_count(moved)}  {fmt_count(rate)}/s  {rtt}  "
            f"errors {sum(stats.errors.values())}"
        )
        if self.tty:
            sys.stdout.write("\r\x1b[2K" + line)
            sys.stdout.flush()
        else:
            out(line)
        self.last_moved = moved
        self.last_time = now
        self.next = now + self.interval

    def finish(self) -> None:
        if self.tty:
            sys.stdout.write("\n")
            sys.stdout.flush()


def _pump_all(server: _GameServer, bots: list[_Bot]) -> int:
    work = server.pump()
    for bot in bots:
        work += bot.pump()
    return work


def _summary(
    args: argparse.Namespace,
    stats: _Stats,
    url: str,
    connected: int,
    played: float,
    wall: float,
) -> list[str]:
    per_s = 1.0 / played if played > 0 else 0.0
    state_bytes = stats.state_sent_bytes
    rows = [
        ["stream", "sent", "received", "bytes", "packets/s"],
        [
            "state     bot → server",
            fmt_count(stats.state_sent),
            fmt_count(stats.state_recv),
            fmt_count(state_bytes),
            f"{stats.state_recv * per_s:,.1f}",
        ],
        [
            "echo      server → bot",
            fmt_count(stats.echo_sent),
            fmt_count(stats.echo_recv),
            fmt_count(stats.echo_bytes),
            f"{stats.echo_recv * per_s:,.1f}",
        ],
        [
            "snapshot  server → bots",
            fmt_count(stats.snap_sent),
            fmt_count(stats.snap_recv),
            fmt_count(stats.snap_bytes),
            f"{stats.snap_recv * per_s:,.1f}",
        ],
        [
            "total",
            fmt_count(stats.state_sent + stats.echo_sent + stats.snap_sent),
            fmt_count(stats.packets_moved()),
            fmt_count(state_bytes + stats.echo_bytes + stats.snap_bytes),
            f"{stats.packets_moved() * per_s:,.1f}",
        ],
    ]
    rtt = sorted(stats.rtt_ns)
    snap = sorted(stats.snap_ns)
    latency = [["latency", "p50", "p90", "p99", "max", "samples"]]
    for name, values in (("state round trip", rtt), ("snapshot one-way", snap)):
        latency.append(
            [name]
            + [fmt_duration_ns(percentile(values, p)) for p in (50, 90, 99, 100)]
            + [fmt_count(len(values))]
        )
    errors = sum(stats.errors.values())
    lines = [
        "",
        f"{PROG} demo: {args.clients} bots at {args.rate:g} Hz for {played:.1f} s on {url} "
        "(Godot Variant encoding)",
        "",
        *render_table(rows, "<>>>>"),
        "",
        *render_table(latency, "<>>>>>"),
        "",
    ]
    for kind, n in sorted(stats.errors.items()):
        lines.append(f"  error: {kind}: {n}")
    if stats.late_ticks:
        lines.append(f"  note: {stats.late_ticks} ticks ran late (the machine is busy)")
    ok = errors == 0 and connected == args.clients
    lines.append(
        f"  bots connected {connected}/{args.clients} · errors {errors} · "
        f"wall time {wall:.1f} s · result {'OK' if ok else 'FAILED'}"
    )
    return lines


def run(args: argparse.Namespace) -> int:
    """Run ``demo``."""
    wall_start = time.monotonic()
    stats = _Stats()
    peer = start_server(args.port, "127.0.0.1", None)
    url = f"ws://127.0.0.1:{peer.get_local_port()}"
    server = _GameServer(peer, stats)
    out(f"{PROG} demo: server on {url}, starting {args.clients} bots")
    bots: list[_Bot] = []
    for i in range(args.clients):
        client = WebSocketMultiplayerPeer()
        if client.create_client(url) != 0:
            raise CLIError(f"bot {i + 1} could not start connecting to {url}")
        bots.append(_Bot(i, args.clients, client, stats))
    progress = _Progress(stats, args.clients)

    def count_connected() -> int:
        return sum(1 for b in bots if b.connected and b.id)

    try:
        # 1. connect
        deadline = time.monotonic() + _CONNECT_TIMEOUT
        while True:
            work = _pump_all(server, bots)
            now = time.monotonic()
            connected = count_connected()
            pending = sum(
                1
                for b in bots
                if not (b.connected and b.id) and b.peer.get_connection_status() != _DISCONNECTED
            )
            if not pending or now >= deadline:
                break
            progress.update(now, "connect", connected)
            if not work:
                time.sleep(IDLE_SLEEP)
        connected = count_connected()
        if connected < args.clients:
            stats.errors["bot: could not connect"] += args.clients - connected

        # 2. play: a deadline queue of ticks; bots are spread over the tick period
        period = 1.0 / args.rate
        start = time.monotonic()
        end = start + args.duration
        queue: list[tuple[float, int]] = [
            (start + period * i / len(bots), i) for i in range(len(bots))
        ]
        queue.append((start, -1))  # -1: the server's snapshot tick
        heapq.heapify(queue)
        while True:
            work = _pump_all(server, bots)
            now = time.monotonic()
            if now >= end:
                break
            while queue[0][0] <= now:
                due, who = queue[0]
                if who < 0:
                    server.broadcast_snapshot()
                else:
                    bots[who].send_state(now - start)
                due += period
                if due <= now:  # behind: skip the missed ticks instead of bursting
                    missed = math.floor((now - due) / period) + 1
                    stats.late_ticks += missed
                    due += missed * period
                heapq.heapreplace(queue, (due, who))
                work += 1
            progress.update(now, "play", count_connected())
            if not work:
                time.sleep(max(0.0, min(IDLE_SLEEP, queue[0][0] - time.monotonic())))
        played = time.monotonic() - start

        # 3. drain: wait for the packets still in flight
        deadline = time.monotonic() + _DRAIN_TIMEOUT
        while time.monotonic() < deadline and (
            stats.state_recv < stats.state_sent
            or stats.echo_recv < stats.echo_sent
            or stats.snap_recv < stats.snap_sent
        ):
            if not _pump_all(server, bots):
                time.sleep(IDLE_SLEEP)
        progress.update(time.monotonic(), "drain", count_connected(), force=True)
        for name, sent, received in (
            ("state", stats.state_sent, stats.state_recv),
            ("echo", stats.echo_sent, stats.echo_recv),
            ("snapshot", stats.snap_sent, stats.snap_recv),
        ):
            if received != sent:
                stats.errors[f"{name}: {sent - received} packets lost"] += 1

        # 4. close: every bot sends a close frame and waits for the server's answer
        for bot in bots:
            bot.closing = True
            if bot.connected:
                bot.peer.disconnect_peer(1)
        deadline = time.monotonic() + _CLOSE_TIMEOUT
        while time.monotonic() < deadline and (
            peer.get_peer_ids()
            or any(b.peer.get_connection_status() != _DISCONNECTED for b in bots)
        ):
            if not _pump_all(server, bots):
                time.sleep(IDLE_SLEEP)
        progress.update(time.monotonic(), "closed", count_connected(), force=True)
    finally:
        progress.finish()
        for bot in bots:
            bot.peer.close()
        peer.close()

    for line in _summary(args, stats, url, connected, played, time.monotonic() - wall_start):
        out(line)
    ok = not stats.errors and connected == args.clients
    return EXIT_OK if ok else EXIT_FAILED
