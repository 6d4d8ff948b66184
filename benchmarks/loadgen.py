"""The common load generator: raw non-blocking sockets and pre-framed messages.

Every server faces this same client, so differences in the numbers are the
servers'.  It is fast because it never parses what it does not need to:

* frames it sends are built (and masked, with random keys) once, then written
  in large batches: one ``send()`` carries up to ~1000 frames (W2);
* what it receives is counted in bytes when the frame sizes are known (W3),
  and parsed frame by frame only where a payload must be read (W6 timestamps);
* round trips (W1/W4) are blocking ``sendall``/``recv_into`` on one socket.

One process, one thread, ``epoll``.  Everything has a deadline.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time
from typing import Any

from common import (
    HOST,
    ID_FRAME_SIZE,
    client_frame,
    server_frame_size,
    upgrade_request,
)

_LINGER0 = struct.pack("ii", 1, 0)
EPOLLIN, EPOLLOUT = select.EPOLLIN, select.EPOLLOUT


class LoadError(RuntimeError):
    pass


def _new_socket(linger0: bool) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if linger0:
        # close() sends RST: no TIME_WAIT pile-up across thousands of connections
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)
    return s


def open_connections(
    port: int, n: int, *, window: int = 256, expect_id: bool = False,
    timeout: float = 60.0, linger0: bool = True,
) -> tuple[list[socket.socket], float]:
    """Open ``n`` WebSocket connections, at most ``window`` handshakes in flight.

    A connection counts as open when the 101 response arrived and, for servers of
    Godot's multiplayer protocol (``expect_id``), also the 4-byte id message that
    follows it.  Returns the non-blocking sockets and the seconds it took.
    """
    req = upgrade_request(port)
    tail = ID_FRAME_SIZE if expect_id else 0
    ep = select.epoll()
    states: dict[int, list[Any]] = {}
    socks: list[socket.socket] = []
    started = 0
    t0 = time.perf_counter()
    deadline = time.monotonic() + timeout
    try:
        while len(socks) < n:
            while started < n and started - len(socks) < window:
                s = _new_socket(linger0)
                err = s.connect_ex((HOST, port))
                if err not in (0, errno.EINPROGRESS):
                    s.close()
                    raise LoadError(f"connect: {errno.errorcode.get(err, err)} "
                                    f"after {len(socks)} connections")
                states[s.fileno()] = [s, 0, b""]
                ep.register(s.fileno(), EPOLLOUT)
                started += 1
            if time.monotonic() > deadline:
                raise LoadError(f"timeout: {len(socks)}/{n} connections open after {timeout}s")
            for fd, _ev in ep.poll(0.5):
                st = states[fd]
                s = st[0]
                if st[1] == 0:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise LoadError(f"connect failed: {errno.errorcode.get(err, err)} "
                                        f"after {len(socks)} connections")
                    s.send(req)
                    st[1] = 1
                    ep.modify(fd, EPOLLIN)
                    continue
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    raise LoadError(f"handshake failed: {e} after {len(socks)}") from None
                if not data:
                    raise LoadError(f"server closed during the handshake after {len(socks)}")
                st[2] += data
                buf = st[2]
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    continue
                if not buf.startswith(b"HTTP/1.1 101"):
                    raise LoadError(f"handshake refused: {buf[:80]!r}")
                if len(buf) - (i + 4) < tail:
                    continue
                if len(buf) - (i + 4) > tail:
                    raise LoadError("unexpected data after the handshake")
                ep.unregister(fd)
                del states[fd]
                socks.append(s)
    except BaseException:
        for st in states.values():
            st[0].close()
        for s in socks:
            s.close()
        raise
    finally:
        ep.close()
    return socks, time.perf_counter() - t0


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def round_trips(sock: socket.socket, payload_size: int, n: int, warmup: int,
                timeout: float = 30.0) -> dict[str, Any]:
    """Send one message, wait for its echo, repeat (W1, W4).  Blocking socket."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    frame = client_frame(bytes(payload_size))
    exp = server_frame_size(payload_size)
    buf = bytearray(exp)
    view = memoryview(buf)
    pc = time.perf_counter_ns
    lat = [0] * n
    sendall = sock.sendall
    recv_into = sock.recv_into
    deadline = time.monotonic() + timeout * 4
    t_start = 0
    for i in range(warmup + n):
        if i == warmup:
            t_start = pc()
        t0 = pc()
        sendall(frame)
        got = 0
        while got < exp:
            r = recv_into(view[got:])
            if not r:
                raise LoadError("server closed the connection")
            got += r
        if i >= warmup:
            lat[i - warmup] = pc() - t0
        if (i & 255) == 0 and time.monotonic() > deadline:
            raise LoadError("round trips took too long")
    elapsed = (pc() - t_start) / 1e9
    if buf[0] != 0x82:
        raise LoadError(f"unexpected echo frame header {buf[:2].hex()}")
    lat.sort()
    return {
        "elapsed_s": elapsed,
        "round_trips": n,
        "lat_ns_sorted": lat,
    }


def flood(socks: list[socket.socket], msgs_per_conn: int, size: int,
          timeout: float = 120.0, chunk_frames: int = 1024) -> dict[str, Any]:
    """Every connection sends ``msgs_per_conn`` binary messages as fast as it can (W2)."""
    frames = b"".join(client_frame(bytes(size)) for _ in range(chunk_frames))
    flen = len(frames) // chunk_frames
    clen = len(frames)
    total = msgs_per_conn * flen
    view = memoryview(frames)
    ep = select.epoll()
    by_fd = {s.fileno(): s for s in socks}
    sent = dict.fromkeys(by_fd, 0)
    for fd in by_fd:
        ep.register(fd, EPOLLOUT)
    remaining = len(socks)
    deadline = time.monotonic() + timeout
    t_start = time.monotonic_ns()
    try:
        while remaining:
            if time.monotonic() > deadline:
                raise LoadError("flood: timeout while sending")
            for fd, ev in ep.poll(0.5):
                if ev & (select.EPOLLERR | select.EPOLLHUP):
                    raise LoadError("flood: connection closed by the server")
                s = by_fd[fd]
                off = sent[fd]
                while off < total:
                    pos = off % clen
                    k = min(clen - pos, total - off)
                    try:
                        r = s.send(view[pos : pos + k])
                    except BlockingIOError:
                        break
                    off += r
                sent[fd] = off
                if off >= total:
                    ep.unregister(fd)
                    remaining -= 1
    finally:
        ep.close()
    return {"t_start_ns": t_start, "t_sent_ns": time.monotonic_ns(), "frame_bytes": flen}


def count_bytes(socks: list[socket.socket], bytes_per_conn: int,
                timeout: float = 120.0) -> int:
    """Read until every connection received ``bytes_per_conn`` bytes; returns the end time (ns)."""
    ep = select.epoll()
    by_fd = {s.fileno(): s for s in socks}
    got = dict.fromkeys(by_fd, 0)
    for fd in by_fd:
        ep.register(fd, EPOLLIN)
    buf = bytearray(1 << 18)
    remaining = len(socks)
    deadline = time.monotonic() + timeout
    try:
        while remaining:
            if time.monotonic() > deadline:
                missing = sum(bytes_per_conn - v for v in got.values())
                raise LoadError(f"count_bytes: timeout, {missing} bytes missing")
            for fd, _ev in ep.poll(0.5):
                try:
                    r = by_fd[fd].recv_into(buf)
                except BlockingIOError:
                    continue
                if not r:
                    raise LoadError("count_bytes: connection closed by the server")
                v = got[fd] + r
                got[fd] = v
                if v >= bytes_per_conn:
                    if v > bytes_per_conn:
                        raise LoadError("count_bytes: more bytes than expected")
                    ep.unregister(fd)
                    remaining -= 1
    finally:
        ep.close()
    return time.monotonic_ns()


def game_clients(socks: list[socket.socket], hz: int, secs: float, in_size: int,
                 state_size: int, grace: float = 10.0) -> dict[str, Any]:
    """W6 clients: each sends an ``in_size`` input ``hz`` times a second (phases spread
    evenly over the period) for ``secs`` seconds, and reads every state message,
    recording now - (send time stamped in its first 8 bytes)."""
    n = len(socks)
    period = int(1e9 / hz)
    rounds = int(hz * secs)
    total = n * rounds
    frame = client_frame(bytes(in_size))
    ep = select.epoll()
    by_fd = {}
    bufs: dict[int, bytearray] = {}
    pending: dict[int, bytes] = {}
    for s in socks:
        fd = s.fileno()
        by_fd[fd] = s
        bufs[fd] = bytearray()
        ep.register(fd, EPOLLIN)
    fds = [s.fileno() for s in socks]
    lat: list[int] = []
    due: list[int] = []
    states = 0
    expected_states = rounds * n
    now_ns = time.monotonic_ns
    t0 = now_ns() + 20_000_000
    end = t0 + rounds * period
    hard_end = end + int(grace * 1e9)
    k = 0
    blocked = 0
    try:
        while True:
            now = now_ns()
            while k < total:
                r, i = divmod(k, n)
                if t0 + r * period + (i * period) // n > now:
                    break
                fd = fds[i]
                data = pending.pop(fd, b"") + frame
                try:
                    sent = by_fd[fd].send(data)
                except BlockingIOError:
                    sent = 0
                if sent < len(data):
                    pending[fd] = data[sent:]
                    blocked += 1
                k += 1
            if k >= total and (states >= expected_states or now > hard_end):
                break
            if k < total:
                r, i = divmod(k, n)
                wait = max(0, t0 + r * period + (i * period) // n - now) / 1e9
            else:
                wait = 0.05
            for fd, _ev in ep.poll(wait):
                try:
                    data = by_fd[fd].recv(262144)
                except BlockingIOError:
                    continue
                if not data:
                    raise LoadError("game: connection closed by the server")
                t = now_ns()
                b = bufs[fd]
                b += data
                pos = 0
                blen = len(b)
                while blen - pos >= 2:
                    ln = b[pos + 1] & 0x7F
                    if ln < 126:
                        hl = 2
                    elif ln == 126:
                        if blen - pos < 4:
                            break
                        ln = (b[pos + 2] << 8) | b[pos + 3]
                        hl = 4
                    else:
                        if blen - pos < 10:
                            break
                        ln = int.from_bytes(b[pos + 2 : pos + 10], "big")
                        hl = 10
                    if blen - pos < hl + ln:
                        break
                    if ln == state_size:
                        lat.append(t - int.from_bytes(b[pos + hl : pos + hl + 8], "little"))
                        due.append(t - int.from_bytes(b[pos + hl + 16 : pos + hl + 24],
                                                      "little"))
                        states += 1
                    pos += hl + ln
                if pos:
                    del b[:pos]
    finally:
        ep.close()
    lat.sort()
    due.sort()
    return {
        "due_p99_ns": due[min(len(due) - 1, round(0.99 * (len(due) - 1)))] if due else 0,
        "due_max_ns": due[-1] if due else 0,
        "inputs_sent": k,
        "inputs_blocked": blocked,
        "states_received": states,
        "states_expected": expected_states,
        "lat_ns_sorted": lat,
        "t_start_ns": t0,
        "t_end_ns": now_ns(),
    }
