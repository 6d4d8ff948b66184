"""Bits shared by the Python benchmark servers (stdin commands, state messages).

Each server prints ``READY <port>`` and then obeys the common line protocol on
stdin (see README.md beside this file).  Commands arrive on a reader thread and
are handed to the server's own loop: ``on_line`` is called from that thread.
"""

from __future__ import annotations

import os
import resource
import struct
import sys
import threading
import time
from typing import Callable

now_ns = time.monotonic_ns
_STATE_HEAD = struct.Struct("<QQQ")


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
