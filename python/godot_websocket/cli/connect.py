"""``godot-websocket connect``: a client that behaves like a Godot WebSocketMultiplayerPeer.

It connects, waits for the 4-byte peer id the server sends first, prints it, sends the
values of ``--send-var`` (Variant-encoded, one packet each, in order) and the bytes of
``--send-hex``, then prints every packet it receives, decoded. It stops after
``--count`` packets, when the server closes the connection, after ``--duration``, or
on Ctrl-C (exit code 0). Receiving fewer than ``--count`` packets is an error.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..variant import VariantError, encode_variant
from ..websocket_multiplayer_peer import WebSocketMultiplayerPeer
from ._common import (
    EXIT_OK,
    IDLE_SLEEP,
    CLIError,
    add_verbose_option,
    clock_stamp,
    int_range,
    load_client_tls,
    out,
    positive_float,
    stop_on_signals,
)
from ._net import check_url, connect_client
from .describe import describe_packet, hex_bytes
from .literal import LiteralError, parse_value

__all__ = ["add_parser", "run"]

_EXAMPLES = """\
examples:
  godot-websocket connect ws://127.0.0.1:9080
  godot-websocket connect ws://127.0.0.1:9080 --send-var 'Vector2(1, 2)' --count 1
  godot-websocket connect ws://127.0.0.1:9080 --send-var '{"name": "bob", "hp": 100}'
  godot-websocket connect ws://127.0.0.1:9080 --send-hex '03 de ad be ef'   # send_bytes()
  godot-websocket connect wss://example.test:9443 --ca my-ca.crt

--send-var values: numbers, "strings", true/false/null, [arrays], {dictionaries},
b"bytes" (PackedByteArray), &"StringName", ^"NodePath" and constructors such as
Vector2(1, 2), Vector3i(1, 2, 3), Color(1, 0, 0), Rect2(0, 0, 4, 4),
PackedVector2Array([Vector2(1, 2)]). Nothing is evaluated as Python.
"""

_CLOSE_WAIT = 1.0


def add_parser(subparsers: Any) -> None:
    """Declare ``connect`` and its options."""
    parser = subparsers.add_parser(
        "connect",
        help="a client that prints its id and every packet it receives",
        description="Connect to a Godot WebSocket multiplayer server as a client.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", metavar="URL", help="ws://HOST:PORT[/PATH] or wss://...")
    parser.add_argument(
        "--send-var",
        dest="sends",
        action="append",
        type=_variant_packet,
        default=[],
        metavar="EXPR",
        help="send EXPR as one Variant-encoded packet after connecting (repeatable)",
    )
    parser.add_argument(
        "--send-hex",
        dest="sends",
        action="append",
        type=_hex_packet,
        metavar="HEX",
        help="send these raw bytes as one packet (repeatable, in order with --send-var)",
    )
    parser.add_argument(
        "--count",
        type=int_range(0, 2**31 - 1),
        default=0,
        metavar="N",
        help="disconnect after receiving N packets (default 0: keep going)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="give up connecting after SECONDS (default 5)",
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        metavar="SECONDS",
        help="disconnect SECONDS after connecting (default: stay connected)",
    )
    parser.add_argument("--hex", action="store_true", help="also print each packet's bytes")
    parser.add_argument("--ca", metavar="FILE", help="wss://: trust this PEM CA certificate")
    parser.add_argument(
        "--insecure", action="store_true", help="wss://: do not verify the server certificate"
    )
    add_verbose_option(parser)
    parser.set_defaults(handler=run)


def _variant_packet(text: str) -> tuple[str, bytes]:
    try:
        value = parse_value(text)
    except LiteralError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    try:
        data = encode_variant(value)
    except (VariantError, TypeError) as e:
        raise argparse.ArgumentTypeError(f"cannot encode {text!r}: {e}") from None
    return describe_packet(data), data


def _hex_packet(text: str) -> tuple[str, bytes]:
    try:
        data = bytes.fromhex(text.replace(":", " "))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid hex bytes {text!r}") from None
    if not data:
        raise argparse.ArgumentTypeError("--send-hex needs at least one byte")
    return describe_packet(data), data


def _disconnect(peer: WebSocketMultiplayerPeer) -> None:
    """Send a close frame and wait (briefly) for the server's answer."""
    if peer.get_connection_status() != WebSocketMultiplayerPeer.CONNECTION_CONNECTED:
        return
    peer.disconnect_peer(1)
    deadline = time.monotonic() + _CLOSE_WAIT
    while (
        peer.get_connection_status() != WebSocketMultiplayerPeer.CONNECTION_DISCONNECTED
        and time.monotonic() < deadline
    ):
        peer.poll()
        time.sleep(IDLE_SLEEP)
    peer.close()


def run(args: argparse.Namespace) -> int:
    """Run ``connect``."""
    url = check_url(args.url)
    tls = load_client_tls(args.ca, args.insecure) if url.startswith("wss://") else None
    sends: list[tuple[str, bytes]] = args.sends
    with stop_on_signals() as stop:
        peer = connect_client(url, tls, args.timeout, stop)
        if peer is None:
            return EXIT_OK
        out(f"{clock_stamp()}  connected to {url} as peer {peer.get_unique_id()}")
        closed = False

        def on_disconnected(_pid: int) -> None:
            nonlocal closed
            closed = True

        peer.peer_disconnected.connect(on_disconnected)
        for text, data in sends:
            err = peer.put_packet(data)
            if err != 0:
                raise CLIError(f"cannot send {text}: {err.name}")
            out(f"{clock_stamp()}  sent {len(data)} B  {text}")

        received = 0
        end = None if args.duration is None else time.monotonic() + args.duration
        while not stop.stop and not closed:
            if args.count and received >= args.count:
                break
            peer.poll()
            count = peer.get_available_packet_count()
            for _ in range(count):
                data = peer.get_packet()
                received += 1
                out(f"{clock_stamp()}  recv {len(data)} B  {describe_packet(data)}")
                if args.hex:
                    out(f"{clock_stamp()}  hex  {hex_bytes(data, 256)}")
                if args.count and received >= args.count:
                    break
            if end is not None and time.monotonic() >= end:
                break
            if not count:
                time.sleep(IDLE_SLEEP)

        server_closed = closed
        if server_closed:
            out(f"{clock_stamp()}  the server closed the connection")
        else:
            _disconnect(peer)
            out(f"{clock_stamp()}  disconnected")
        if args.count and received < args.count and not stop.stop:
            why = "the server closed the connection" if server_closed else "time is up"
            raise CLIError(f"received {received} of {args.count} packets: {why}")
    return EXIT_OK
