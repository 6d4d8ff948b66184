#!/usr/bin/env python3
"""Each library's own client against its own server: echo round trips (W1, W4).

    own_client.py --peer ours|picows|websockets|aiohttp --port P --size S --n N --warmup W

Prints one JSON line: elapsed_s, round_trips, p50_ns, p99_ns (and the sorted
latencies when --all-latencies).  Client settings mirror the servers': no
compression, no size limit that a 1 MiB message would hit, no pings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import percentile

pc = time.perf_counter_ns


def result(lat: list[int], elapsed_ns: int) -> dict:
    lat.sort()
    return {
        "elapsed_s": elapsed_ns / 1e9,
        "round_trips": len(lat),
        "p50_ns": percentile(lat, 50),
        "p99_ns": percentile(lat, 99),
    }


def run_ours(url: str, size: int, n: int, warmup: int) -> dict:
    from godot_websocket import WebSocketPeer

    ws = WebSocketPeer()
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
    lat = [0] * n
    t_start = 0
    for i in range(warmup + n):
        if i == warmup:
            t_start = pc()
        t0 = pc()
        put(payload)
        spins = 0
        while True:
            poll()
            if avail():
                break
            spins += 1
            if not spins & 0xFFFF and time.monotonic() > deadline + 120:
                raise SystemExit("ours: echo timeout")
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=100)
    a = ap.parse_args()
    url = f"ws://127.0.0.1:{a.port}/"
    if a.peer == "ours":
        out = run_ours(url, a.size, a.n, a.warmup)
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
