"""Fuzz target for the SceneMultiplayer packet decoder and endpoint.

Each input is used three ways:

1. ``decode_packet(data)`` must return a packet or raise ``ProtocolError`` - nothing else;
2. it is sent by an admitted client, by a pending (authenticating) client, and inside a
   relay envelope to a Python ``SceneMultiplayer`` server;
3. it is sent by a server to a Python ``SceneMultiplayer`` client, bare and relayed.

``poll()`` never raises by design; it logs unexpected exceptions instead, so the target
fails when such a log record appears ("poll() failed" / "Unexpected error"), which would
mean a bug in our code rather than a bad packet.

Run with atheris (``pip install atheris``)::

    python tests/fuzz/fuzz_scene.py -max_total_time=60 [corpus_dir]

or without it (or with ``FUZZ_SCENE_NO_ATHERIS=1``), a bounded mutation loop over the
spec's packets; ``-max_total_time``/``--seconds`` and ``-runs``/``--iterations`` bound it::

    python tests/fuzz/fuzz_scene.py --iterations 20000 --seconds 30 --seed 1

``tests/test_scene_fuzz.py`` runs the bounded loop for a few seconds in CI.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import struct
import sys
import time
from collections.abc import Iterable
from typing import Any

from godot_websocket import Error
from godot_websocket.scene import (
    MemoryMultiplayerPeer,
    MemoryNetwork,
    ProtocolError,
    RPCConfig,
    RPCMode,
    SceneMultiplayer,
    decode_packet,
)

__all__ = ["SEEDS", "FuzzTarget", "mutate", "run_bounded"]

_MD5 = b"d117d38f8ad87dcf9f774752ac384419"
SEEDS: list[bytes] = [
    b"\x01" + _MD5 + b"\x00\x01\x00\x00\x00Main\x00",
    bytes.fromhex("20 15 00 00 80 00 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00") + b"Main\x00",
    bytes.fromhex("00 01 00 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00"),
    bytes.fromhex("a0 0b 00 00 80 02 de ad be ef 01") + b"Main\x00",
    bytes.fromhex("60 0a 00 00 80 00 80 01 02 01") + b"Main/Child\x00",
    bytes.fromhex("02 01 01 00 00 00"),
    bytes.fromhex("02 01 4d 61 69 6e 00"),
    bytes.fromhex("03 de ad be ef"),
    bytes.fromhex("07 00 70 77"),
    bytes.fromhex("07 00"),
    bytes.fromhex("07 01 d2 02 96 49"),
    bytes.fromhex("07 02 d2 02 96 49"),
    bytes.fromhex("07 03 00 00 00 00 03 68 69"),
    bytes.fromhex("07 03 05 00 00 00 00 01 00 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00"),
    bytes.fromhex("1c 00 01 00 02 00 00 00 02 00 00 00 01 00 00 00"),
    bytes.fromhex("20 1d 00 00 80 01 03 1b 00 00 00 01 00 00 00 04 00 00 00 01 00 00 00 6b 00"
                  "00 00 02 2a") + b"Main\x00",
    bytes.fromhex("05 01 00 00 00"),
    bytes.fromhex("16 01 00 00 80 01 00 00 00 00 00 00 00 08 00 00 00 03 00 00 00 00 00 00 3f"),
]


class _BugDetector(logging.Handler):
    """Collects log records that mean an exception escaped our own code."""

    MARKERS = ("poll() failed", "Unexpected error while handling")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.bugs: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(marker in message for marker in self.MARKERS):
            self.bugs.append(self.format(record))


class _Sink:
    """The Python node: accepts any call."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


class FuzzTarget:
    """Python endpoints on in-memory transports, fed one input at a time."""

    CLIENT_ID = 5
    OTHER_ID = 6
    PENDING_ID = 7

    def __init__(self) -> None:
        methods = {name: RPCConfig(RPCMode.RPC_MODE_ANY_PEER) for name in ("hello", "welcome")}
        # Server side: an admitted client, another admitted one, and a pending one.
        self.net = MemoryNetwork()
        server = MemoryMultiplayerPeer()
        server.create_server(self.net)
        self.server = SceneMultiplayer(server)
        self.server.register_node("/root/Main", _Sink(), script_rpc=methods,
                                  node_rpc={"cfg": RPCConfig(RPCMode.RPC_MODE_ANY_PEER)})
        self.server.register_node("/root/Main/Child", _Sink(), script_rpc=methods)
        self.client = self._raw(self.CLIENT_ID)
        self.other = self._raw(self.OTHER_ID)
        self.server.auth_callback = lambda peer, data: None
        self.server.auth_timeout = 0
        self.pending = self._raw(self.PENDING_ID)
        # Client side: a Python client behind a raw server.
        self.net2 = MemoryNetwork()
        self.raw_server = MemoryMultiplayerPeer()
        self.raw_server.create_server(self.net2)
        transport = MemoryMultiplayerPeer()
        transport.create_client(self.net2, 9)
        self.py_client = SceneMultiplayer(transport)
        self.py_client.register_node("/root/Main", _Sink(), script_rpc=methods)
        self.raw_server.poll()
        self.py_client.poll()
        self.raw_server.set_target_peer(9)
        self.raw_server.put_packet(b"\x07\x01" + struct.pack("<i", 77))
        self.py_client.poll()
        self.detector = _BugDetector()

    def _raw(self, peer_id: int) -> MemoryMultiplayerPeer:
        peer = MemoryMultiplayerPeer()
        peer.create_client(self.net, peer_id)
        self.server.poll()
        peer.poll()
        return peer

    @staticmethod
    def _drain(peer: MemoryMultiplayerPeer) -> None:
        peer.poll()
        while peer.get_available_packet_count():
            peer.get_packet()

    def one(self, data: bytes) -> None:
        """Run one input; raises AssertionError when a bug is found."""
        try:
            decode_packet(data)
        except ProtocolError:
            pass
        if not data:
            return
        for peer in (self.client, self.pending):
            peer.set_target_peer(1)
            peer.put_packet(data)
        self.client.put_packet(b"\x07\x03" + struct.pack("<i", 0) + data)
        self.client.put_packet(b"\x07\x03" + struct.pack("<i", self.OTHER_ID) + data)
        assert self.server.poll() == Error.OK
        self.raw_server.put_packet(data)
        self.raw_server.put_packet(b"\x07\x03" + struct.pack("<i", 77) + data)
        assert self.py_client.poll() == Error.OK
        for peer in (self.client, self.other, self.pending, self.raw_server):
            self._drain(peer)
        if self.detector.bugs:
            raise AssertionError("an exception escaped:\n" + "\n".join(self.detector.bugs))

    def __enter__(self) -> FuzzTarget:
        logger = logging.getLogger("godot_websocket")
        self._saved = (logger.propagate, logger.level, list(logger.handlers))
        logger.handlers = [self.detector]
        logger.propagate = False
        logger.setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("godot_websocket")
        logger.propagate, level, logger.handlers = self._saved
        logger.setLevel(level)


def mutate(rng: random.Random, seeds: Iterable[bytes]) -> bytes:
    """A random variation of a seed: flips, inserts, deletes, splices, truncation."""
    pool = list(seeds)
    data = bytearray(rng.choice(pool))
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(6)
        if op == 0 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 1:
            data.insert(rng.randint(0, len(data)), rng.randrange(256))
        elif op == 2 and data:
            del data[rng.randrange(len(data))]
        elif op == 3:
            other = rng.choice(pool)
            cut = rng.randint(0, len(other))
            data[rng.randint(0, len(data)) :] = other[cut:]
        elif op == 4 and len(data) > 1:
            del data[rng.randint(1, len(data)) :]
        elif op == 5 and len(data) >= 5:
            pos = rng.randrange(len(data) - 3)
            data[pos : pos + 4] = struct.pack("<I", rng.choice(
                (0, 1, 0x7FFFFFFF, 0x80000000, 0x80000006, 0xFFFFFFFF, rng.getrandbits(32))))
    return bytes(data)


def run_bounded(iterations: int = 5000, seconds: float = 5.0, seed: int = 0) -> int:
    """Run at most ``iterations`` inputs for at most ``seconds``; returns how many ran."""
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    done = 0
    with FuzzTarget() as target:
        for data in SEEDS:
            target.one(data)
        while done < iterations and time.monotonic() < deadline:
            target.one(mutate(rng, SEEDS))
            done += 1
    return done


def main(argv: list[str] | None = None) -> int:
    """atheris (libFuzzer flags) when installed, else the bounded loop."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if os.environ.get("FUZZ_SCENE_NO_ATHERIS"):
            raise ImportError
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
        parser.add_argument("--iterations", "-runs", type=int, default=20000)
        parser.add_argument("--seconds", "-max_total_time", type=float, default=30.0)
        parser.add_argument("--seed", "-seed", type=int, default=0)
        args, _libfuzzer_flags = parser.parse_known_args(argv)
        count = run_bounded(args.iterations, args.seconds, args.seed)
        print(f"fuzz_scene: {count} inputs, no failure (bounded mode; atheris not installed)")
        return 0
    target = FuzzTarget().__enter__()
    atheris.Setup([sys.argv[0], *argv], target.one)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
