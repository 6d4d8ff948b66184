#!/usr/bin/env python3
"""Each library's own client against its own server.

Echo round trips (W1, W4):

    own_client.py --peer ours|ours-nt|picows|websockets|aiohttp --port P --size S --n N --warmup W
                  [--idle yield|wait]   (ours: spin on poll() or block in wait())

prints one JSON line: elapsed_s, round_trips, p50_ns, p99_ns.

Fan-in (W2):

    own_client.py --workload fanin --peer P --port P --conns C --total N --size 64

opens C connections with the library's client API and, once all are open,
prints ``READY 0 C``; it then waits for ``GO`` on stdin, sends N // C binary
messages of ``size`` bytes on every connection as fast as the library lets it,
and prints ``RESULT {json}`` (t_start_ns: CLOCK_MONOTONIC just before the first
send, the clock of the servers' DONE line; t_end_ns: the last message handed to
the library; retries, pauses).  The connections stay open (and the library
keeps writing) until ``QUIT`` or EOF on stdin.  The driver speaks to it as to
a server (common.ServerProc).

Client settings mirror the servers': no compression, no size limit that a
1 MiB message would hit, no pings.

``--peer ours-batch`` / ``ours-nt-batch`` (fan-in only) send each burst with one
``put_packets()`` call, the package's batch extension, instead of a put_packet()
per message.

``--peer ours-nt`` runs the ours client code on a no-thread context
(``Context(threaded=False)``): every I/O step, sends included, happens inside
``poll()`` on this thread, so the loops below poll after each send or burst.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import queue
import sys
import threading
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import percentile

pc = time.perf_counter_ns
now_ns = time.monotonic_ns  # the servers' clock (benchmarks/servers/_srv.py)
BURST = 256  # fan-in: messages a connection sends before the next one gets a turn


def result(lat: list[int], elapsed_ns: int) -> dict:
    lat.sort()
    return {
        "elapsed_s": elapsed_ns / 1e9,
        "round_trips": len(lat),
        "p50_ns": percentile(lat, 50),
        "p99_ns": percentile(lat, 99),
    }


OURS = ("ours", "ours-yield", "ours-nt", "ours-nt-yield", "ours-batch", "ours-nt-batch")


def ours_context(peer: str) -> Any:
    """The context our peers use: None (the process-wide threaded one) for "ours",
    "ours-yield" and "ours-batch", a no-thread ``Context(threaded=False)`` for
    "ours-nt", "ours-nt-yield" and "ours-nt-batch"."""
    if peer.startswith("ours-nt"):
        from godot_websocket import Context

        return Context(threaded=False)
    return None


def run_ours(url: str, size: int, n: int, warmup: int, ctx: Any = None,
             idle: str = "yield") -> dict:
    """Echo round trips; with a no-thread ``ctx`` the put_packet() leaves during the
    first poll() (or wait()) of the wait loop.  ``idle``: what the loop does while the
    echo is not there: ``yield`` (poll, os.sched_yield(), poll again: spins) or
    ``wait`` (``ws.wait()``: sleeps until the echo arrives)."""
    from godot_websocket import WebSocketPeer

    ws = WebSocketPeer(context=ctx)
    ws.set_inbound_buffer_size(16 << 20)
    ws.set_outbound_buffer_size(16 << 20)
    ws.connect_to_url(url)
    deadline = time.monotonic() + 10
    poll, avail, get, put = ws.poll, ws.get_available_packet_count, ws.get_packet, ws.put_packet
    # the server's first message is the multiplayer id: wait for it and drop it
    while not avail():
        poll()
        if time.monotonic() > deadline:
            raise SystemExit("ours: no id from the server")
        time.sleep(0.001)
    get()
    payload = bytes(size)
    yield_ = os.sched_yield
    use_wait = idle == "wait"
    # (looked up only when used: older builds of the package, compared in A/B runs, lack it)
    wait = ws.wait if use_wait else None
    lat = [0] * n
    t_start = 0
    for i in range(warmup + n):
        if i == warmup:
            t_start = pc()
        t0 = pc()
        put(payload)
        spins = 0
        while True:
            if wait is not None and not wait(1.0) and time.monotonic() > deadline + 120:
                raise SystemExit("ours: echo timeout")
            poll()
            if avail():
                break
            spins += 1
            if not spins & 0xFFFF and time.monotonic() > deadline + 120:
                raise SystemExit("ours: echo timeout")
            if not use_wait:
                yield_()
        if len(get()) != size:
            raise SystemExit("ours: bad echo")
        if i >= warmup:
            lat[i - warmup] = pc() - t0
    out = result(lat, pc() - t_start)
    ws.close(-1)
    return out


async def run_picows(url: str, size: int, n: int, warmup: int) -> dict:
    from picows import WSListener, WSMsgType, ws_connect

    loop = asyncio.get_running_loop()
    done = loop.create_future()
    payload = bytes(size)
    lat = [0] * n
    st = {"i": 0, "t0": 0, "t_start": 0}

    class Client(WSListener):
        def on_ws_connected(self, transport) -> None:  # type: ignore[no-untyped-def]
            st["t0"] = pc()
            transport.send(WSMsgType.BINARY, payload)

        def on_ws_frame(self, transport, frame) -> None:  # type: ignore[no-untyped-def]
            if frame.msg_type is not WSMsgType.BINARY:
                return
            t = pc()
            i = st["i"]
            if i >= warmup:
                lat[i - warmup] = t - st["t0"]
            elif i == warmup - 1:
                st["t_start"] = t
            i += 1
            st["i"] = i
            if i == warmup + n:
                done.set_result(t)
                return
            st["t0"] = pc()
            transport.send(WSMsgType.BINARY, payload)

    transport, _ = await ws_connect(Client, url, max_frame_size=64 << 20)
    t_end = await asyncio.wait_for(done, 180)
    transport.disconnect()
    return result(lat, t_end - st["t_start"])


async def run_websockets(url: str, size: int, n: int, warmup: int) -> dict:
    from websockets.asyncio.client import connect

    payload = bytes(size)
    lat = [0] * n
    async with connect(url, compression=None, max_size=None, ping_interval=None) as ws:
        t_start = 0
        for i in range(warmup + n):
            if i == warmup:
                t_start = pc()
            t0 = pc()
            await ws.send(payload)
            await ws.recv()
            if i >= warmup:
                lat[i - warmup] = pc() - t0
        return result(lat, pc() - t_start)


async def run_aiohttp(url: str, size: int, n: int, warmup: int) -> dict:
    import aiohttp

    payload = bytes(size)
    lat = [0] * n
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, compress=0, max_msg_size=0, autoping=True) as ws:
            t_start = 0
            for i in range(warmup + n):
                if i == warmup:
                    t_start = pc()
                t0 = pc()
                await ws.send_bytes(payload)
                await ws.receive()
                if i >= warmup:
                    lat[i - warmup] = pc() - t0
            return result(lat, pc() - t_start)


# ---------------------------------------------------------------- fan-in (W2)


class Control:
    """The driver's commands (one per line on stdin), read on a daemon thread."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            if line.strip():
                self.lines.put(line.strip())
        self.lines.put(None)  # EOF

    def wait(self, word: str, timeout: float, tick: Callable[[], None] | None = None) -> bool:
        """Wait (bounded) for ``word``; False on EOF or QUIT.  ``tick`` runs every 10 ms."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"fan-in client: no {word} from the driver in {timeout} s")
            try:
                line = self.lines.get(timeout=min(left, 0.01) if tick else left)
            except queue.Empty:
                if tick:
                    tick()
                continue
            if line is None or line == "QUIT":
                return word == "QUIT"
            if line == word:
                return True


def say(*words: object) -> None:
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def fanin_result(t_start: int, t_end: int, conns: int, per_conn: int, **extra: Any) -> None:
    say("RESULT", json.dumps({"t_start_ns": t_start, "t_end_ns": t_end, "conns": conns,
                              "messages": conns * per_conn, **extra},
                             separators=(",", ":")))


def fanin_ours(url: str, conns: int, per_conn: int, size: int, ctl: Control,
               outbound: int, max_queued: int, ctx: Any = None, batch: bool = False) -> None:
    """WebSocketPeer per connection, as a Godot client would: put_packet() in a loop,
    poll() every peer after each burst.  A full outbound queue (ERR_OUT_OF_MEMORY)
    is waited out: poll, yield, retry the same message (counted, never dropped).
    All peers share ``ctx`` (None: the threaded default); with a no-thread context
    the poll() after each burst is what writes it out.  ``batch`` ("ours-batch",
    "ours-nt-batch"): each burst is one put_packets() call (the package's batch
    extension; all or nothing, so a refused burst is retried whole)."""
    from godot_websocket import Error, WebSocketPeer

    # the peer logs every refused send; a refusal is expected here and retried
    logging.getLogger("godot_websocket").addFilter(
        lambda r: "outbound buffer full" not in r.getMessage())
    peers = []
    for _ in range(conns):
        ws = WebSocketPeer(context=ctx)
        ws.set_outbound_buffer_size(outbound)
        ws.set_max_queued_packets(max_queued)
        err = ws.connect_to_url(url)
        if err != Error.OK:
            raise SystemExit(f"ours: connect_to_url: {err!r}")
        peers.append(ws)
    # open = the handshake done and the server's id message (4 bytes) received and dropped
    waiting = set(range(conns))
    deadline = time.monotonic() + 60
    while waiting:
        for i in list(waiting):
            ws = peers[i]
            ws.poll()
            state = ws.get_ready_state()
            if state == WebSocketPeer.STATE_OPEN and ws.get_available_packet_count():
                if len(ws.get_packet()) != 4:
                    raise SystemExit("ours: the first message is not a 4-byte id")
                waiting.discard(i)
            elif state == WebSocketPeer.STATE_CLOSED:
                raise SystemExit(f"ours: connection closed ({ws.get_close_code()})")
        if time.monotonic() > deadline:
            raise SystemExit(f"ours: {conns - len(waiting)}/{conns} connections open after 60 s")
        time.sleep(0.001)
    say("READY", 0, conns)
    if not ctl.wait("GO", 120):
        return

    def poll_all() -> None:
        for ws in peers:
            ws.poll()

    payload = bytes(size)
    # the lists a batch burst sends: BURST payloads, and the shorter last one
    bursts = {n: [payload] * n for n in {BURST, per_conn % BURST or BURST}}
    ok, full = Error.OK, Error.ERR_OUT_OF_MEMORY
    yield_ = os.sched_yield
    left = [per_conn] * conns
    remaining = conns
    retries = 0
    rounds = 0
    deadline = time.monotonic() + 300
    t_start = now_ns()
    while remaining:
        moved = False
        for i, ws in enumerate(peers):
            k = left[i]
            if not k:
                continue
            n = min(BURST, k)
            sent = 0
            if batch:
                r = ws.put_packets(bursts[n])
                if r is ok:
                    sent = n
                elif r == full:
                    retries += 1
                else:
                    raise SystemExit(f"ours: put_packets: {r!r} "
                                     f"(state {ws.get_ready_state()!r})")
            put = ws.put_packet
            while not batch and sent < n:
                r = put(payload)
                if r is not ok:
                    if r == full:
                        retries += 1
                        break
                    raise SystemExit(f"ours: put_packet: {r!r} (state {ws.get_ready_state()!r})")
                sent += 1
            if sent:
                moved = True
                left[i] = k - sent
                if sent == k:
                    remaining -= 1
            ws.poll()
        rounds += 1
        if not moved:
            yield_()  # every queue is full: let the service thread (or the kernel) move
        if not rounds & 63 and time.monotonic() > deadline:
            raise SystemExit("ours: sending took longer than 300 s")
    t_end = now_ns()
    fanin_result(t_start, t_end, conns, per_conn, retries=retries)
    if ctx is not None and not ctx.threaded:
        # no service thread: what is still queued only leaves inside poll(), so poll
        # (as a game loop with nothing else to do would) until every queue is empty
        drain_deadline = time.monotonic() + 300
        while any(ws.get_current_outbound_buffered_amount() for ws in peers):
            poll_all()
            yield_()
            if time.monotonic() > drain_deadline:
                raise SystemExit("ours: queued messages not written after 300 s")
    # what is still queued leaves on the service thread (threaded context); keep
    # polling until QUIT
    ctl.wait("QUIT", 600, tick=poll_all)


async def _wait_go(ctl: Control) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, ctl.wait, "GO", 120.0)


async def _wait_quit(ctl: Control) -> None:
    await asyncio.get_running_loop().run_in_executor(None, ctl.wait, "QUIT", 600.0)


async def _send_all(pumps: list[Any], conns: int, per_conn: int, **extra: Any) -> None:
    t_start = now_ns()
    await asyncio.wait_for(asyncio.gather(*pumps), 300)
    t_end = now_ns()
    fanin_result(t_start, t_end, conns, per_conn, **extra)


async def fanin_picows(url: str, conns: int, per_conn: int, size: int, ctl: Control) -> None:
    """transport.send() in a loop; when the transport pauses writing (buffer above its
    high-water mark) the connection waits for resume_writing()."""
    from picows import WSListener, WSMsgType, ws_connect

    loop = asyncio.get_running_loop()
    binary = WSMsgType.BINARY
    st = {"pauses": 0}

    class Client(WSListener):
        def __init__(self) -> None:
            self.resumed: asyncio.Future[None] | None = None

        def on_ws_frame(self, transport, frame) -> None:  # type: ignore[no-untyped-def]
            pass

        def pause_writing(self) -> None:
            st["pauses"] += 1
            self.resumed = loop.create_future()

        def resume_writing(self) -> None:
            if self.resumed is not None and not self.resumed.done():
                self.resumed.set_result(None)
            self.resumed = None

    pairs = await asyncio.wait_for(asyncio.gather(*(
        ws_connect(Client, url, max_frame_size=64 << 20, websocket_handshake_timeout=30)
        for _ in range(conns))), 60)
    say("READY", 0, conns)
    if not await _wait_go(ctl):
        return
    payload = bytes(size)

    async def pump(transport, client: Client) -> None:  # type: ignore[no-untyped-def]
        send = transport.send
        for i in range(per_conn):
            if client.resumed is not None:
                await client.resumed
            send(binary, payload)
            if i % BURST == BURST - 1:
                await asyncio.sleep(0)

    await _send_all([pump(t, c) for t, c in pairs], conns, per_conn, **st)
    await _wait_quit(ctl)


async def _pump_sends(send: Any, payload: bytes, per_conn: int) -> None:
    """One connection's share: ``await send(payload)`` per message, yielding to the loop
    after every burst so the connections interleave."""
    for i in range(per_conn):
        await send(payload)
        if i % BURST == BURST - 1:
            await asyncio.sleep(0)


async def fanin_websockets(url: str, conns: int, per_conn: int, size: int,
                           ctl: Control) -> None:
    """``await ws.send()`` in a loop (it waits for the transport to drain when needed)."""
    from websockets.asyncio.client import connect

    clients = await asyncio.wait_for(asyncio.gather(*(
        connect(url, compression=None, max_size=None, ping_interval=None, open_timeout=30)
        for _ in range(conns))), 60)
    say("READY", 0, conns)
    if not await _wait_go(ctl):
        return
    payload = bytes(size)
    await _send_all([_pump_sends(ws.send, payload, per_conn) for ws in clients], conns, per_conn)
    await _wait_quit(ctl)


async def fanin_aiohttp(url: str, conns: int, per_conn: int, size: int, ctl: Control) -> None:
    """``await ws.send_bytes()`` in a loop (it drains the transport when needed)."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        clients = await asyncio.wait_for(asyncio.gather(*(
            session.ws_connect(url, compress=0, max_msg_size=0, autoping=True)
            for _ in range(conns))), 60)
        say("READY", 0, conns)
        if not await _wait_go(ctl):
            return
        payload = bytes(size)
        await _send_all([_pump_sends(ws.send_bytes, payload, per_conn) for ws in clients],
                        conns, per_conn)
        await _wait_quit(ctl)


def fanin(a: argparse.Namespace, url: str) -> None:
    per_conn = max(1, a.total // a.conns)
    ctl = Control()
    if a.peer in OURS:
        fanin_ours(url, a.conns, per_conn, a.size, ctl, a.outbound, a.max_queued,
                   ours_context(a.peer), batch=a.peer.endswith("-batch"))
    elif a.peer == "picows":
        asyncio.run(fanin_picows(url, a.conns, per_conn, a.size, ctl))
    elif a.peer == "websockets":
        asyncio.run(fanin_websockets(url, a.conns, per_conn, a.size, ctl))
    elif a.peer == "aiohttp":
        asyncio.run(fanin_aiohttp(url, a.conns, per_conn, a.size, ctl))
    else:
        raise SystemExit(f"no own client for {a.peer}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--workload", choices=["echo", "fanin"], default="echo")
    ap.add_argument("--idle", choices=["yield", "wait"], default="yield",
                    help="echo, ours: spin on poll() (yield) or block in wait()")
    ap.add_argument("--conns", type=int, default=1, help="fan-in: connections")
    ap.add_argument("--total", type=int, default=10000, help="fan-in: messages in all")
    ap.add_argument("--outbound", type=int, default=64 << 20,
                    help="fan-in, ours: outbound_buffer_size per connection")
    ap.add_argument("--max-queued", type=int, default=1 << 17,
                    help="fan-in, ours: max_queued_packets per connection")
    a = ap.parse_args()
    url = f"ws://127.0.0.1:{a.port}/"
    if a.workload == "fanin":
        fanin(a, url)
        sys.stdout.flush()
        os._exit(0)  # no closing handshakes: the driver stops the server next
    if a.peer in OURS:
        out = run_ours(url, a.size, a.n, a.warmup, ours_context(a.peer), a.idle)
    elif a.peer == "picows":
        out = asyncio.run(run_picows(url, a.size, a.n, max(1, a.warmup)))
    elif a.peer == "websockets":
        out = asyncio.run(run_websockets(url, a.size, a.n, a.warmup))
    elif a.peer == "aiohttp":
        out = asyncio.run(run_aiohttp(url, a.size, a.n, a.warmup))
    else:
        raise SystemExit(f"no own client for {a.peer}")
    print(json.dumps(out), flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
