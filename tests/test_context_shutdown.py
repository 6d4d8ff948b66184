"""Servers, listeners and clients closed, and their context shut down, without a single
``poll()`` in between free everything.

lws 4.1 initialises a vhost's protocols only once its context ran a service step; a
listener's vhost created before that (a no-thread context never polled, or a threaded
one shut down before its thread's first step) never got ``PROTOCOL_DESTROY`` either,
which is where the vhost lets go of its listener: the listener, its group and the
context leaked.  The scenarios are in ``shutdown_scenarios.py``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shutdown_scenarios import AT_EXIT, SCENARIOS

SANITIZER = os.environ.get("GWS_SANITIZER")
HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", list(SCENARIOS) + list(AT_EXIT))
def test_child_process_exits_clean(name: str) -> None:
    """Each scenario in a child process of its own.  Under ``.ci/sanitize asan`` the child
    inherits the sanitizer with leak detection on, and LeakSanitizer fails its exit on
    anything the scenario left allocated (the test suite's own process only reports at
    its very end, for all tests at once)."""
    proc = subprocess.run(
        [sys.executable, str(HERE / "shutdown_scenarios.py"), name],
        capture_output=True, text=True, timeout=60 if SANITIZER else 20,
    )
    assert "LeakSanitizer" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok", proc.stderr


class _MallInfo2(ctypes.Structure):
    _fields_ = [(f, ctypes.c_size_t) for f in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def _heap_in_use() -> int | None:
    """Bytes allocated with malloc() in the main arena (where the no-thread scenarios
    allocate), mmap'd blocks included; None without glibc's mallinfo2()."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    fn = getattr(libc, "mallinfo2", None)
    if fn is None:
        return None
    fn.restype = _MallInfo2
    info = fn()
    return int(info.uordblks + info.hblkhd)


WARMUP = 3
ROUNDS = 20
# A leaked context alone is more than 256 KiB (its write-batch buffer).
MAX_GROWTH = ROUNDS * 64 * 1024


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_repeated_scenario_leaves_memory_flat(name: str) -> None:
    """The same scenarios in this process, repeated: the heap stays flat.  Under a
    sanitizer (malloc is its own there) each runs once, and LeakSanitizer checks the
    whole run at exit."""
    if SANITIZER:
        SCENARIOS[name]()
        return
    if _heap_in_use() is None:
        pytest.skip("needs glibc's mallinfo2()")
    for _ in range(WARMUP):
        SCENARIOS[name]()
    gc.collect()
    before = _heap_in_use()
    for _ in range(ROUNDS):
        SCENARIOS[name]()
    gc.collect()
    after = _heap_in_use()
    assert before is not None and after is not None
    assert after - before < MAX_GROWTH, (before, after)
