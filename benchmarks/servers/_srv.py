"""Bits shared by the Python benchmark servers (stdin commands, state messages).

Each server prints ``READY <port>`` and then obeys the common line protocol on
stdin (see README.md beside this file).  Commands arrive on a reader thread and
are handed to the server's own loop: ``on_line`` is called from that thread.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import struct
import sys
import threading
import time
from typing import Any, Callable

now_ns = time.monotonic_ns
_STATE_HEAD = struct.Struct("<QQQ")


def parser() -> argparse.ArgumentParser:
    """The arguments every benchmark server takes: ``--port`` and ``--mode``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", choices=["echo", "sink"], default="sink")
    return ap


def start(ap: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Parse the arguments (of ``ap``, else the common ones) and prepare the process."""
    a = (ap or parser()).parse_args()
    setup()
    return a


def setup() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def say(*words: object) -> None:
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def read_commands(on_line: Callable[[str], None]) -> threading.Thread:
    """Read stdin lines on a daemon thread; EOF counts as QUIT."""

    def run() -> None:
        for line in sys.stdin:
            line = line.strip()
            if line:
                on_line(line)
        on_line("QUIT")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def state_message(tick: int, size: int, sched_ns: int) -> bytes:
    """A game state: send time (monotonic ns), tick and the time the tick was due,
    zero padded to ``size`` bytes."""
    head = _STATE_HEAD.pack(now_ns(), tick, sched_ns)
    return head + bytes(size - len(head))


def quit_now() -> None:
    sys.stdout.flush()
    os._exit(0)


class AsyncServer:
    """The line protocol of an asyncio benchmark server, shared by picows, websockets and
    aiohttp: the set of open connections, counting received messages (EXPECT, COUNT, and
    DONE when the expected count is reached), BCAST, GAME, CONNS and QUIT.

    ``send_all(targets, msg)`` sends one message to every target; with ``awaits`` it is
    a coroutine function (aiohttp's sends must be awaited), and BCAST runs as a task.
    Must be created inside the running loop.
    """

    def __init__(self, send_all: Callable[[list[Any], bytes], Any], awaits: bool = False) -> None:
        self.loop = asyncio.get_running_loop()
        self.conns: set[Any] = set()
        self.count = 0
        self.expect = 0
        self.t_first = 0
        self._send_all = send_all
        self._awaits = awaits
        self._tasks: set[asyncio.Task[None]] = set()  # referenced until the process exits

    def received(self) -> None:
        """One message reached the server's Python code (sink mode)."""
        c = self.count
        if not c:
            self.t_first = now_ns()
        c += 1
        self.count = c
        if c == self.expect:
            say("DONE", c, self.t_first, now_ns())

    async def _send(self, targets: list[Any], msg: bytes) -> None:
        r = self._send_all(targets, msg)
        if self._awaits:
            await r

    async def _bcast(self, k: int, size: int) -> None:
        msg = bytes(size)
        t0 = now_ns()
        targets = list(self.conns)
        for _ in range(k):
            await self._send(targets, msg)
        say("BCASTED", t0, now_ns())

    async def _game(self, hz: int, secs: float, size: int) -> None:
        loop = self.loop
        period = 1.0 / hz
        start = loop.time()
        start_ns = int(start * 1e9)
        n = int(hz * secs)
        for tick in range(n):
            await asyncio.sleep(max(0.0, start + tick * period - loop.time()))
            msg = state_message(tick, size, start_ns + int(tick * period * 1e9))
            await self._send(list(self.conns), msg)
        say("GAMEDONE", n, self.count)

    def _task(self, coro: Any) -> None:
        self._tasks.add(self.loop.create_task(coro))

    def command(self, line: str) -> None:
        words = line.split()
        op = words[0]
        if op == "EXPECT":
            self.count, self.expect = 0, int(words[1])
        elif op == "COUNT":
            say("COUNT", self.count)
        elif op == "CONNS":
            say("CONNS", len(self.conns))
        elif op == "BCAST":
            k, size = int(words[1]), int(words[2])
            if self._awaits:
                self._task(self._bcast(k, size))
            else:  # synchronous sends: the whole broadcast inside this call
                msg = bytes(size)
                t0 = now_ns()
                targets = list(self.conns)
                for _ in range(k):
                    self._send_all(targets, msg)
                say("BCASTED", t0, now_ns())
        elif op == "GAME":
            self._task(self._game(int(words[1]), float(words[2]), int(words[3])))
        elif op == "QUIT":
            quit_now()

    def ready(self, port: int) -> None:
        """Start obeying stdin and say ``READY <port>``."""
        read_commands(lambda line: self.loop.call_soon_threadsafe(self.command, line))
        say("READY", port)
