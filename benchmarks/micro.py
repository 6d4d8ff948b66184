#!/usr/bin/env python3
"""Python-side costs of the hot calls, against real connected peers on 127.0.0.1.

    python benchmarks/micro.py [--quick] [--reps N] [--out FILE]

The server is a ``WebSocketMultiplayerPeer`` in this process; its clients are raw
sockets in a helper subprocess (this same file with ``--helper``) that read and
discard everything, and send bursts of messages when told.  Measured, in ns per call
(median over --reps repetitions, each timing a loop of many calls):

* idle ``poll()`` of a server with 1 and with 100 connected peers, and of a client;
* ``poll()`` per message when it drains a backlog of N queued 32-byte messages;
* ``get_packet()`` amortised over N queued packets (and with ``get_packet_peer()``);
* ``put_packet()`` amortised, to one peer (``set_target_peer(id)``);
* broadcast ``put_packet()`` to 100 peers (``set_target_peer(0)``);
* the batch extension, in ns per packet: ``get_packets()`` and
  ``get_packets_with_peers()`` taking a whole backlog in one call, ``put_packets()``
  of 256-packet lists to one peer and broadcast to 100 peers.

Writes JSON (default benchmarks/results/<date>-micro.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import select
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_DIR, raise_nofile

pc = time.perf_counter_ns


# ---------------------------------------------------------------- helper process


def helper(port: int, conns: int) -> None:
    """Open ``conns`` connections, discard what arrives; on "SEND n size" flood
    connection 0 with n messages; exit on "QUIT" or EOF."""
    import loadgen

    raise_nofile()
    socks, _ = loadgen.open_connections(port, conns, expect_id=True)
    stop = threading.Event()

    def drain() -> None:
        ep = select.epoll()
        by_fd = {s.fileno(): s for s in socks}
        for fd in by_fd:
            ep.register(fd, select.EPOLLIN)
        buf = bytearray(1 << 18)
        while not stop.is_set():
            for fd, _ in ep.poll(0.1):
                try:
                    if not by_fd[fd].recv_into(buf):
                        ep.unregister(fd)
                except (BlockingIOError, ConnectionError):
                    pass

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    print("OPEN", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "SEND":
            loadgen.flood(socks[:1], int(words[1]), int(words[2]))
            print("SENT", flush=True)
        elif words[0] == "QUIT":
            break
    stop.set()
    loadgen.close_all(socks)


class Helper:
    def __init__(self, port: int, conns: int) -> None:
        self.p = subprocess.Popen(
            [sys.executable, __file__, "--helper", str(port), str(conns)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def wait_line(self, word: str, timeout: float = 30.0) -> None:
        assert self.p.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.p.stdout], [], [], 0.5)
            if r:
                line = self.p.stdout.readline()
                if not line:
                    raise RuntimeError("helper exited")
                if line.startswith(word):
                    return
        raise RuntimeError(f"helper: no {word} in {timeout}s")

    def send(self, line: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def close(self) -> None:
        try:
            self.send("QUIT")
            self.p.wait(10)
        except Exception:
            self.p.kill()  # the helper we started, by its handle
            self.p.wait(10)


# ---------------------------------------------------------------- measurements


def new_server() -> Any:
    from godot_websocket import Error, WebSocketMultiplayerPeer

    mp = WebSocketMultiplayerPeer()
    mp.set_inbound_buffer_size(64 << 20)
    mp.set_outbound_buffer_size(256 << 20)
    mp.set_max_queued_packets(1 << 21)
    assert mp.create_server(0, "127.0.0.1") == Error.OK
    return mp


def wait_peers(mp: Any, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(mp.get_peer_ids()) < n:
        mp.poll()
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(mp.get_peer_ids())}/{n} peers connected")
        time.sleep(0.001)


def per_call(fn: Callable[[], None], calls: int) -> float:
    """ns per call of a loop of ``calls`` calls of fn (loop overhead included, as in real code)."""
    t0 = pc()
    for _ in range(calls):
        fn()
    return (pc() - t0) / calls


def empty_loop(calls: int) -> float:
    t0 = pc()
    for _ in range(calls):
        pass
    return (pc() - t0) / calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--helper", nargs=2, type=int, metavar=("PORT", "CONNS"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.helper:
        helper(*a.helper)
        return 0
    raise_nofile()
    reps = a.reps or (2 if a.quick else 7)
    calls = 2000 if a.quick else 200_000
    n_msgs = 2000 if a.quick else 200_000
    n_bcast = 200 if a.quick else 20_000
    vals: dict[str, list[float]] = {}
    labels = {
        "idle_poll_server_1": "idle poll(), server with 1 peer",
        "idle_poll_server_100": "idle poll(), server with 100 peers",
        "idle_poll_client": "idle poll(), client (WebSocketMultiplayerPeer)",
        "poll_drain_per_msg": "poll() draining a backlog, per 32-byte message",
        "get_packet": "get_packet(), amortised (32-byte packets queued)",
        "get_packet_peer_and_get": "get_packet_peer() + get_packet(), amortised",
        "put_packet_one_peer": "put_packet() of 32 bytes to one peer, amortised",
        "put_packet_broadcast_100": "broadcast put_packet() of 64 bytes to 100 peers, per call",
        "get_packets": "get_packets() of a whole backlog, per packet",
        "get_packets_with_peers": "get_packets_with_peers() of a whole backlog, per packet",
        "put_packets_one_peer": "put_packets() of 256 x 32 bytes to one peer, per packet",
        "put_packets_broadcast_100":
            "broadcast put_packets() of 256 x 64 bytes to 100 peers, per packet",
        "empty_loop": "(for reference: the empty Python loop per iteration)",
    }

    from godot_websocket import Error, WebSocketMultiplayerPeer

    def add(key: str, v: float) -> None:
        vals.setdefault(key, []).append(v)

    # -- one peer: idle poll, drain, get_packet, put_packet --------------------------
    mp = new_server()
    h = Helper(mp.get_local_port(), 1)
    try:
        wait_peers(mp, 1)
        h.wait_line("OPEN")
        pid = mp.get_peer_ids()[0]
        client = WebSocketMultiplayerPeer()
        assert client.create_client(f"ws://127.0.0.1:{mp.get_local_port()}/") == Error.OK
        deadline = time.monotonic() + 10
        while client.get_connection_status() != client.CONNECTION_CONNECTED:
            client.poll()
            mp.poll()
            if time.monotonic() > deadline:
                raise RuntimeError("client did not connect")
            time.sleep(0.001)
        for _ in range(reps):
            add("empty_loop", empty_loop(calls))
            add("idle_poll_server_1", per_call(mp.poll, calls))
            add("idle_poll_client", per_call(client.poll, calls))
        client.close()
        mp.poll()

        def backlog() -> tuple[int, int]:
            """n_msgs messages sit in the core, not yet polled; one timed poll() takes
            them in.  Returns (ns of that poll, messages it took)."""
            mp.poll()
            h.send(f"SEND {n_msgs} 32")
            h.wait_line("SENT", 120)
            time.sleep(0.3 if a.quick else 1.0)  # the service thread reads them all
            t0 = pc()
            mp.poll()
            dt_poll = pc() - t0
            got = mp.get_available_packet_count()
            deadline = time.monotonic() + 30
            while got < n_msgs:  # late stragglers: poll them in too (not timed)
                mp.poll()
                got = mp.get_available_packet_count()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {got}/{n_msgs} messages arrived")
                time.sleep(0.01)
            return dt_poll, got

        for _ in range(reps):
            dt_poll, got = backlog()
            add("poll_drain_per_msg", dt_poll / n_msgs if got == n_msgs else float("nan"))
            half = got // 2
            add("get_packet", per_call(mp.get_packet, half))
            def both(get_peer: Any = mp.get_packet_peer, get: Any = mp.get_packet) -> None:
                get_peer()
                get()

            add("get_packet_peer_and_get", per_call(both, got - half))
            # put_packet to one peer
            mp.set_target_peer(pid)
            payload = bytes(32)
            put = mp.put_packet
            t0 = pc()
            for _ in range(n_msgs):
                put(payload)
            add("put_packet_one_peer", (pc() - t0) / n_msgs)
            time.sleep(0.3 if a.quick else 1.0)  # let the core send them out
            # the batch extension
            _, got = backlog()
            t0 = pc()
            n = len(mp.get_packets())
            add("get_packets", (pc() - t0) / n if n == got else float("nan"))
            _, got = backlog()
            t0 = pc()
            n = len(mp.get_packets_with_peers()[0])
            add("get_packets_with_peers", (pc() - t0) / n if n == got else float("nan"))
            batch = [payload] * 256
            puts = mp.put_packets
            t0 = pc()
            for _ in range(n_msgs // 256):
                puts(batch)
            add("put_packets_one_peer", (pc() - t0) / (n_msgs // 256 * 256))
            time.sleep(0.3 if a.quick else 1.0)
    finally:
        h.close()
        mp.close()

    # -- 100 peers: idle poll, broadcast -----------------------------------------------
    mp = new_server()
    h = Helper(mp.get_local_port(), 100)
    try:
        wait_peers(mp, 100)
        h.wait_line("OPEN")
        for _ in range(reps):
            add("idle_poll_server_100", per_call(mp.poll, max(100, calls // 10)))
        mp.set_target_peer(0)
        payload = bytes(64)
        put = mp.put_packet
        for _ in range(reps):
            mp.poll()
            t0 = pc()
            for _ in range(n_bcast):
                put(payload)
            add("put_packet_broadcast_100", (pc() - t0) / n_bcast)
            time.sleep(0.3 if a.quick else 1.5)  # drain before the next repetition
        batch = [payload] * 256
        puts = mp.put_packets
        for _ in range(reps):
            mp.poll()
            k = max(1, n_bcast // 256)
            t0 = pc()
            for _ in range(k):
                puts(batch)
            add("put_packets_broadcast_100", (pc() - t0) / (k * 256))
            time.sleep(0.3 if a.quick else 1.5)
    finally:
        h.close()
        mp.close()

    summary = {}
    for key, label in labels.items():
        v = sorted(x for x in vals.get(key, []) if x == x)
        if not v:
            continue
        summary[key] = {"label": label, "median": statistics.median(v), "min": v[0],
                        "max": v[-1], "values": v}
    from run import package_fingerprint

    result = {
        "meta": {"date": dt.datetime.now().isoformat(timespec="seconds"),
                 "package_fingerprint": package_fingerprint(),
                 "command": " ".join([Path(sys.executable).name, *sys.argv]),
                 "reps": reps, "calls": calls, "messages": n_msgs,
                 "broadcasts": n_bcast, "quick": a.quick},
        "summary": summary,
    }
    date = dt.datetime.now().strftime("%Y-%m-%d")
    out = Path(a.out) if a.out else BENCH_DIR / "results" / f"{date}-micro.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    for info in summary.values():
        print(f"{info['label']:<62} {info['median']:10.1f} ns  "
              f"({info['min']:.1f}-{info['max']:.1f})")
    print(f"wrote {out}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
