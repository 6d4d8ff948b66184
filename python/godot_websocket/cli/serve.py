"""``godot-websocket serve``: a WebSocket multiplayer server that Godot clients connect to.

It is a ``WebSocketMultiplayerPeer`` server, so a Godot client using
``WebSocketMultiplayerPeer.create_client("ws://HOST:PORT")`` gets a peer id and can
exchange packets with it. It logs every connect and disconnect with the peer id and
address, and with ``--decode`` every incoming packet decoded as a Variant (or named as
a SceneMultiplayer command). What it does with packets is chosen with ``--mode``:

* ``echo`` (default): send each packet back to its sender;
* ``broadcast``: send each packet to every connected peer, the sender included;
* ``sink``: keep nothing, send nothing (only count and log).

Ctrl-C (SIGINT) or SIGTERM closes every connection with a close frame (code 1000) and
exits with code 0.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..websocket_multiplayer_peer import WebSocketMultiplayerPeer
from ._common import (
    EXIT_OK,
    IDLE_SLEEP,
    PROG,
    CLIError,
    StopFlag,
    add_verbose_option,
    clock_stamp,
    fmt_bytes,
    fmt_count,
    load_server_tls,
    out,
    port_number,
    positive_float,
    stop_on_signals,
)
from ._net import local_url, start_server
from .describe import describe_packet, hex_bytes

__all__ = ["add_parser", "run"]

_EXAMPLES = """\
examples:
  godot-websocket serve                          # ws://127.0.0.1:9080, echo
  godot-websocket serve --port 9080 --decode     # print what Godot clients send
  godot-websocket serve --mode broadcast         # a relay: everyone gets every packet
  godot-websocket serve --cert server.crt --key server.key   # wss://

In Godot:  var peer := WebSocketMultiplayerPeer.new()
           peer.create_client("ws://127.0.0.1:9080")
           multiplayer.multiplayer_peer = peer
"""

_STATS_EVERY = 5.0
_SHUTDOWN_WAIT = 1.0


def add_parser(subparsers: Any) -> None:
    """Declare ``serve`` and its options."""
    parser = subparsers.add_parser(
        "serve",
        help="a server for Godot clients",
        description="Run a WebSocketMultiplayerPeer server that Godot clients connect to.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port", type=port_number, default=9080, help="TCP port (default 9080; 0: any free port)"
    )
    parser.add_argument(
        "--bind",
        default="*",
        metavar="ADDR",
        help="IP address to listen on (default '*': every interface, IPv4 and IPv6)",
    )
    parser.add_argument("--cert", metavar="FILE", help="PEM certificate (chain): serve wss://")
    parser.add_argument("--key", metavar="FILE", help="PEM private key of --cert")
    parser.add_argument(
        "--mode",
        choices=("echo", "broadcast", "sink"),
        default="echo",
        help="echo: back to the sender (default); broadcast: to every peer, sender "
        "included; sink: nowhere",
    )
    parser.add_argument(
        "--decode",
        action="store_true",
        help="print every incoming packet, decoded as a Variant or SceneMultiplayer command",
    )
    parser.add_argument("--hex", action="store_true", help="also print each packet's bytes")
    parser.add_argument(
        "--duration",
        type=positive_float,
        metavar="SECONDS",
        help="stop by itself after SECONDS (default: run until Ctrl-C)",
    )
    add_verbose_option(parser)
    parser.set_defaults(handler=run)


class _PeerInfo:
    __slots__ = ("address", "packets", "since")

    def __init__(self, address: str) -> None:
        self.address = address
        self.since = time.monotonic()
        self.packets = 0


class _Server:
    """The server loop and its bookkeeping."""

    def __init__(self, peer: WebSocketMultiplayerPeer, args: argparse.Namespace) -> None:
        self.peer = peer
        self.mode: str = args.mode
        self.decode: bool = args.decode
        self.hex: bool = args.hex
        self.info: dict[int, _PeerInfo] = {}
        self.connections = 0
        self.packets_in = self.bytes_in = 0
        self.packets_out = self.bytes_out = 0
        self.started = time.monotonic()
        peer.peer_connected.connect(self._on_connected)
        peer.peer_disconnected.connect(self._on_disconnected)

    def _on_connected(self, pid: int) -> None:
        address = f"{self.peer.get_peer_address(pid)}:{self.peer.get_peer_port(pid)}"
        self.info[pid] = _PeerInfo(address)
        self.connections += 1
        out(f"{clock_stamp()}  + peer {pid} connected from {address} ({len(self.info)} connected)")

    def _on_disconnected(self, pid: int) -> None:
        info = self.info.pop(pid, None)
        if info is None:
            return
        alive = time.monotonic() - info.since
        out(
            f"{clock_stamp()}  - peer {pid} disconnected after {alive:.1f} s, "
            f"{fmt_count(info.packets)} packets ({len(self.info)} connected)"
        )

    def _handle(self, pid: int, data: bytes) -> None:
        self.packets_in += 1
        self.bytes_in += len(data)
        info = self.info.get(pid)
        if info is not None:
            info.packets += 1
        if self.decode:
            out(f"{clock_stamp()}    peer {pid}  {len(data)} B  {describe_packet(data)}")
        if self.hex:
            out(f"{clock_stamp()}    peer {pid}  hex {hex_bytes(data, 256)}")
        if self.mode == "sink":
            return
        target = pid if self.mode == "echo" else 0
        self.peer.set_target_peer(target)
        if self.peer.put_packet(data) == 0:
            copies = 1 if target else len(self.info)
            self.packets_out += copies
            self.bytes_out += copies * len(data)

    def loop(self, stop: StopFlag, duration: float | None) -> None:
        """Serve until ``stop`` is set or ``duration`` seconds have passed."""
        peer = self.peer
        end = None if duration is None else self.started + duration
        next_stats = self.started + _STATS_EVERY
        last_in = 0
        while not stop.stop:
            peer.poll()
            count = peer.get_available_packet_count()
            for _ in range(count):
                pid = peer.get_packet_peer()
                self._handle(pid, peer.get_packet())
            now = time.monotonic()
            if end is not None and now >= end:
                break
            if now >= next_stats:
                if self.packets_in != last_in and not self.decode:
                    rate = (self.packets_in - last_in) / (now - next_stats + _STATS_EVERY)
                    out(
                        f"{clock_stamp()}    {len(self.info)} connected, "
                        f"{fmt_count(self.packets_in)} packets in ({rate:.0f}/s), "
                        f"{fmt_count(self.packets_out)} out"
                    )
                last_in = self.packets_in
                next_stats = now + _STATS_EVERY
            if not count:
                time.sleep(IDLE_SLEEP)

    def shutdown(self, why: str) -> None:
        """Close every connection with a close frame, then stop listening."""
        peer = self.peer
        ids = peer.get_peer_ids()
        out(f"{clock_stamp()}  stopping ({why}): closing {len(ids)} connection(s)")
        for pid in ids:
            peer.disconnect_peer(pid)
        deadline = time.monotonic() + _SHUTDOWN_WAIT
        while peer.get_peer_ids() and time.monotonic() < deadline:
            peer.poll()
            time.sleep(IDLE_SLEEP)
        peer.close()
        uptime = time.monotonic() - self.started
        out(
            f"{PROG} serve: stopped after {uptime:.1f} s: {self.connections} connection(s), "
            f"{fmt_count(self.packets_in)} packets in ({fmt_bytes(self.bytes_in)}), "
            f"{fmt_count(self.packets_out)} out ({fmt_bytes(self.bytes_out)})"
        )


def run(args: argparse.Namespace) -> int:
    """Run ``serve``."""
    if (args.cert is None) != (args.key is None):
        raise CLIError("--cert and --key must be given together")
    tls = load_server_tls(args.cert, args.key) if args.cert is not None else None
    peer = start_server(args.port, args.bind, tls)
    server = _Server(peer, args)
    with stop_on_signals() as stop:
        url = local_url(peer, args.bind, tls is not None)
        out(
            f"{PROG} serve: listening on {url} (bind {args.bind}, mode {args.mode}"
            f"{', TLS' if tls else ''}); Ctrl-C to stop"
        )
        server.loop(stop, args.duration)
        server.shutdown(stop.signal_name or "time is up")
    return EXIT_OK
