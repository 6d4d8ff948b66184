"""Helpers shared by the benchmark driver, the load generator and micro.py.

* WebSocket framing for a raw client (pre-masked frames, the upgrade request).
* :class:`ServerProc`: one benchmark server in a subprocess, driven through the
  common line protocol on stdin/stdout (see ``benchmarks/servers/README.md``).
* Process accounting from ``/proc`` (RSS, CPU seconds of every thread).
* Statistics (median, min/max, IQR, percentiles).

All traffic goes to 127.0.0.1.  Every wait has a deadline.
"""

from __future__ import annotations

import os
import queue
import random
import resource
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
SERVERS_DIR = BENCH_DIR / "servers"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def raise_nofile() -> int:
    """Raise the soft open-file limit to the hard one; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


# ---------------------------------------------------------------- framing


def upgrade_request(port: int, path: str = "/") -> bytes:
    """A minimal RFC 6455 upgrade request: no sub-protocol, no extensions (no compression)."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode("ascii")


def _xor(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if n == 0:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        n, "little"
    )


def frame_header(n: int, opcode: int = 0x2, masked: bool = False) -> bytes:
    mbit = 0x80 if masked else 0
    if n < 126:
        return bytes((0x80 | opcode, mbit | n))
    if n <= 0xFFFF:
        return bytes((0x80 | opcode, mbit | 126)) + struct.pack("!H", n)
    return bytes((0x80 | opcode, mbit | 127)) + struct.pack("!Q", n)


def client_frame(payload: bytes, opcode: int = 0x2, mask: bytes | None = None) -> bytes:
    """One final, masked client frame (a random mask key unless ``mask`` is given)."""
    if mask is None:
        mask = random.randbytes(4)
    return frame_header(len(payload), opcode, True) + mask + _xor(payload, mask)


def server_frame_size(n: int) -> int:
    """Bytes on the wire of an unmasked (server-to-client) frame with an n-byte payload."""
    return len(frame_header(n)) + n


ID_FRAME_SIZE = server_frame_size(4)  # the id message of Godot's multiplayer protocol


# ---------------------------------------------------------------- /proc


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid`` (seconds)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])
    return total - idle, total


def self_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------- statistics


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[k]


def summarize(values: list[float]) -> dict[str, Any]:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return {"n": 0}
    if len(vals) >= 4:
        q = statistics.quantiles(vals, n=4)
        iqr = [q[0], q[2]]
    else:
        iqr = [vals[0], vals[-1]]
    return {
        "n": len(vals),
        "median": statistics.median(vals),
        "min": vals[0],
        "max": vals[-1],
        "iqr": iqr,
        "values": vals,
    }


# ---------------------------------------------------------------- server processes


class ServerError(RuntimeError):
    pass


class ServerProc:
    """A benchmark server subprocess speaking the common stdin/stdout line protocol."""

    def __init__(self, argv: list[str], log_path: Path, ready_timeout: float = 30.0,
                 env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            bufsize=0,
        )
        self.pid = self.proc.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        tokens = self.expect("READY", ready_timeout)
        self.port = int(tokens[1])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._lines.put(raw.decode("utf-8", "replace").strip())
        self._lines.put(None)

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((command + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise ServerError(f"server {self.argv[0]} is gone ({e})") from None

    def expect(self, prefix: str, timeout: float) -> list[str]:
        """Wait for the next stdout line starting with ``prefix``; returns its tokens."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServerError(f"timeout waiting for {prefix!r} from {self.argv} "
                                  f"(log {self.log_path})")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise ServerError(f"server exited ({self.proc.poll()}) while waiting for "
                                  f"{prefix!r}; see {self.log_path}")
            if line.startswith(prefix):
                return line.split()

    def ask(self, command: str, reply: str, timeout: float = 10.0) -> list[str]:
        self.send(command)
        return self.expect(reply, timeout)

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            try:
                self.send("QUIT")
            except ServerError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # this PID only: a process we started
                self.proc.wait(timeout)
        self._log.close()

    def __enter__(self) -> ServerProc:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def python_exe() -> str:
    return sys.executable
