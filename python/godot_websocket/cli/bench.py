"""``godot-websocket bench``: the package's loopback throughput and latency benchmark.

Four short tests on 127.0.0.1, each for ``--duration`` seconds, all through the public
API (``WebSocketMultiplayerPeer`` and the Variant codec):

1. **round trip**: one client sends a packet, the server echoes it, the client waits for
   it before sending the next; reports round trips per second and latency percentiles;
2. **client → server**: one client streams packets to the server, keeping a bounded
   number in flight (so the library's queues never overflow); packets/s and bytes/s;
3. **server → N clients**: the server broadcasts to ``--clients`` clients, same window;
   deliveries/s and bytes/s;
4. **Variant codec**: ``encode_variant`` + ``decode_variant`` of a game-state Dictionary.

Every packet is checked (size and content); a lost or altered packet is an error and
makes the exit code 1. ``--json`` prints the results as one JSON object instead.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..error import Error
from ..variant import Vector2, decode_variant, encode_variant
from ..websocket_multiplayer_peer import WebSocketMultiplayerPeer
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    IDLE_SLEEP,
    PROG,
    CLIError,
    add_verbose_option,
    fmt_bytes,
    fmt_count,
    fmt_duration_ns,
    int_range,
    out,
    percentile,
    positive_float,
    render_table,
)
from ._net import start_server

__all__ = ["add_parser", "run"]

_CONNECTED = WebSocketMultiplayerPeer.CONNECTION_CONNECTED
_CONNECT_TIMEOUT = 5.0
_WAIT_LIMIT_NS = 2_000_000_000  # one packet may take at most this long
_DRAIN_TIMEOUT = 2.0
_WINDOW_BYTES = 32768  # half the default outbound buffer of a connection

_EXAMPLES = """\
examples:
  godot-websocket bench                      # ~4 s
  godot-websocket bench --size 16384 --duration 3
  godot-websocket bench --json > bench.json
"""


def add_parser(subparsers: Any) -> None:
    """Declare ``bench`` and its options."""
    parser = subparsers.add_parser(
        "bench",
        help="loopback throughput and latency benchmark",
        description="Measure WebSocket multiplayer throughput and latency on 127.0.0.1.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=1.0,
        metavar="SECONDS",
        help="length of each of the four tests (default 1)",
    )
    parser.add_argument(
        "--size",
        type=int_range(1, 65535),
        default=64,
        metavar="BYTES",
        help="packet size (default 64, at most 65535)",
    )
    parser.add_argument(
        "--clients",
        type=int_range(1, 256),
        default=8,
        metavar="N",
        help="clients of the broadcast test (default 8)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    add_verbose_option(parser)
    parser.set_defaults(handler=run)


class _Errors:
    def __init__(self) -> None:
        self.kinds: dict[str, int] = {}

    def add(self, kind: str, n: int = 1) -> None:
        self.kinds[kind] = self.kinds.get(kind, 0) + n

    @property
    def total(self) -> int:
        return sum(self.kinds.values())


def _payload(size: int) -> bytes:
    return bytes((i * 7 + 3) & 0xFF for i in range(size))


def _connect(server: WebSocketMultiplayerPeer, count: int) -> list[WebSocketMultiplayerPeer]:
    url = f"ws://127.0.0.1:{server.get_local_port()}"
    clients = []
    for _ in range(count):
        client = WebSocketMultiplayerPeer()
        if client.create_client(url) != 0:
            raise CLIError(f"cannot start a client for {url}")
        clients.append(client)
    deadline = time.monotonic() + _CONNECT_TIMEOUT
    while time.monotonic() < deadline:
        server.poll()
        for client in clients:
            client.poll()
        if all(c.get_connection_status() == _CONNECTED for c in clients):
            return clients
        time.sleep(IDLE_SLEEP)
    raise CLIError(f"benchmark clients could not connect to {url}")


def _window(size: int) -> int:
    """Packets kept in flight: as many as fit in half a connection's outbound buffer."""
    return max(1, min(1024, _WINDOW_BYTES // size))


def _wait_packet(peer: WebSocketMultiplayerPeer) -> bool:
    """Busy-poll ``peer`` until a packet is there (False after the time limit)."""
    limit = time.perf_counter_ns() + _WAIT_LIMIT_NS
    while True:
        peer.poll()
        if peer.get_available_packet_count():
            return True
        if time.perf_counter_ns() > limit:
            return False


def _round_trip(
    server: WebSocketMultiplayerPeer,
    client: WebSocketMultiplayerPeer,
    payload: bytes,
    duration: float,
    errors: _Errors,
) -> dict[str, Any]:
    rtts: list[int] = []
    start = time.monotonic()
    end = start + duration
    while time.monotonic() < end:
        t0 = time.perf_counter_ns()
        if client.put_packet(payload) != 0:
            errors.add("round trip: send failed")
            break
        if not _wait_packet(server):
            errors.add("round trip: packet lost")
            break
        pid = server.get_packet_peer()
        data = server.get_packet()
        server.set_target_peer(pid)
        server.put_packet(data)
        if not _wait_packet(client):
            errors.add("round trip: echo lost")
            break
        if client.get_packet() != payload:
            errors.add("round trip: altered packet")
        rtts.append(time.perf_counter_ns() - t0)
    elapsed = time.monotonic() - start
    rtts.sort()
    return {
        "round_trips": len(rtts),
        "per_s": len(rtts) / elapsed,
        "p50_us": percentile(rtts, 50) / 1000,
        "p99_us": percentile(rtts, 99) / 1000,
        "max_us": percentile(rtts, 100) / 1000,
    }


def _upload(
    server: WebSocketMultiplayerPeer,
    client: WebSocketMultiplayerPeer,
    payload: bytes,
    duration: float,
    errors: _Errors,
) -> dict[str, Any]:
    window = _window(len(payload))
    sent = received = backpressure = 0
    start = time.monotonic()
    end = start + duration
    last = start
    while True:
        now = time.monotonic()
        if now < end:
            while sent - received < window:
                err = client.put_packet(payload)
                if err == Error.ERR_OUT_OF_MEMORY:  # outbound queue full: back-pressure
                    backpressure += 1
                    break
                if err != Error.OK:
                    errors.add(f"upload: send failed ({err.name})")
                    break
                sent += 1
        elif received >= sent or now > end + _DRAIN_TIMEOUT:
            break
        server.poll()
        count = server.get_available_packet_count()
        for _ in range(count):
            if server.get_packet() != payload:
                errors.add("upload: altered packet")
        if count:
            received += count
            last = time.monotonic()
        client.poll()
    if received != sent:
        errors.add("upload: packets lost", sent - received)
    elapsed = max(last - start, 1e-9)
    return {
        "packets": received,
        "per_s": received / elapsed,
        "bytes_per_s": received * len(payload) / elapsed,
        "backpressure": backpressure,
    }


def _broadcast(
    server: WebSocketMultiplayerPeer,
    clients: list[WebSocketMultiplayerPeer],
    payload: bytes,
    duration: float,
    errors: _Errors,
) -> dict[str, Any]:
    window = _window(len(payload))
    received = [0] * len(clients)
    sent = 0
    server.set_target_peer(0)
    start = time.monotonic()
    end = start + duration
    last = start
    while True:
        now = time.monotonic()
        slowest = min(received)
        if now < end:
            while sent - slowest < window:
                server.put_packet(payload)
                sent += 1
        elif slowest >= sent or now > end + _DRAIN_TIMEOUT:
            break
        server.poll()
        for i, client in enumerate(clients):
            client.poll()
            count = client.get_available_packet_count()
            for _ in range(count):
                if client.get_packet() != payload:
                    errors.add("broadcast: altered packet")
            if count:
                received[i] += count
                last = time.monotonic()
    lost = sum(sent - r for r in received)
    if lost:
        errors.add("broadcast: deliveries lost", lost)
    elapsed = max(last - start, 1e-9)
    delivered = sum(received)
    return {
        "clients": len(clients),
        "deliveries": delivered,
        "per_s": delivered / elapsed,
        "bytes_per_s": delivered * len(payload) / elapsed,
    }


def _codec(duration: float, errors: _Errors) -> dict[str, Any]:
    state = {
        "id": 1234567,
        "seq": 42,
        "t": time.monotonic_ns(),
        "pos": Vector2(12.5, -3.25),
        "vel": Vector2(0.5, 1.0),
        "hp": 100,
    }
    encoded = encode_variant(state)
    count = 0
    start = time.monotonic()
    end = start + duration
    while time.monotonic() < end:
        for _ in range(50):
            value, _used = decode_variant(encode_variant(state))
        count += 50
    if value != state:
        errors.add("codec: round trip changed the value")
    elapsed = time.monotonic() - start
    return {"states": count, "per_s": count / elapsed, "state_bytes": len(encoded)}


def _rate(value: float, unit: str) -> str:
    return f"{fmt_count(value)} {unit}/s"


def run(args: argparse.Namespace) -> int:
    """Run ``bench``."""
    wall_start = time.monotonic()
    errors = _Errors()
    payload = _payload(args.size)
    server = start_server(0, "127.0.0.1", None)
    clients: list[WebSocketMultiplayerPeer] = []
    try:
        clients = _connect(server, args.clients)
        results: dict[str, Any] = {
            "size": args.size,
            "duration": args.duration,
            "round_trip": _round_trip(server, clients[0], payload, args.duration, errors),
            "upload": _upload(server, clients[0], payload, args.duration, errors),
            "broadcast": _broadcast(server, clients, payload, args.duration, errors),
            "codec": _codec(args.duration, errors),
        }
    finally:
        for client in clients:
            client.close()
        server.close()
    results["errors"] = errors.total
    results["error_kinds"] = errors.kinds
    results["wall_time"] = time.monotonic() - wall_start

    if args.json:
        out(json.dumps(results, indent=2, sort_keys=True))
    else:
        rt, up, bc, codec = (results[k] for k in ("round_trip", "upload", "broadcast", "codec"))
        rows = [
            ["test", "rate", "detail"],
            [
                "round trip (1 client, echo)",
                _rate(rt["per_s"], "round trips"),
                f"p50 {fmt_duration_ns(rt['p50_us'] * 1000)} · "
                f"p99 {fmt_duration_ns(rt['p99_us'] * 1000)} · "
                f"max {fmt_duration_ns(rt['max_us'] * 1000)}",
            ],
            [
                "client → server",
                _rate(up["per_s"], "packets"),
                f"{fmt_bytes(up['bytes_per_s'])}/s",
            ],
            [
                f"server → {bc['clients']} clients (broadcast)",
                _rate(bc["per_s"], "deliveries"),
                f"{fmt_bytes(bc['bytes_per_s'])}/s",
            ],
            [
                "Variant encode + decode",
                _rate(codec["per_s"], "states"),
                f"{codec['state_bytes']} B Dictionary",
            ],
        ]
        out(
            f"{PROG} bench: 127.0.0.1 loopback, {args.size}-byte packets, "
            f"{args.duration:g} s per test"
        )
        out()
        for line in render_table(rows, "<><"):
            out(line)
        out()
        for kind, n in sorted(errors.kinds.items()):
            out(f"  error: {kind}: {n}")
        verdict = "OK" if not errors.total else "FAILED"
        out(f"  errors {errors.total} · wall time {results['wall_time']:.1f} s · result {verdict}")
    return EXIT_OK if not errors.total else EXIT_FAILED
