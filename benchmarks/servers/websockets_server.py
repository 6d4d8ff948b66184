#!/usr/bin/env python3
"""Benchmark server "websockets": ``websockets.asyncio.server.serve`` (websockets >= 13).

compression=None, max_size=None, ping_interval=None, backlog 4096; other
settings are the library's defaults (max_queue 16, write_limit 32 KiB).  Echo
is ``async for m in ws: await ws.send(m)``; broadcast is
``websockets.asyncio.server.broadcast()``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _srv
from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", choices=["echo", "sink"], default="sink")
    a = ap.parse_args()
    _srv.setup()
    loop = asyncio.get_running_loop()
    conns: set = set()
    tasks: set = set()  # keeps the tasks referenced until the process exits
    st = {"count": 0, "expect": 0, "t_first": 0}
    echo = a.mode == "echo"
    now_ns = _srv.now_ns

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        conns.add(ws)
        try:
            if echo:
                async for m in ws:
                    await ws.send(m)
            else:
                async for _m in ws:
                    c = st["count"]
                    if not c:
                        st["t_first"] = now_ns()
                    c += 1
                    st["count"] = c
                    if c == st["expect"]:
                        _srv.say("DONE", c, st["t_first"], now_ns())
        except ConnectionClosed:
            pass
        finally:
            conns.discard(ws)

    async def game(hz: int, secs: float, size: int) -> None:
        period = 1.0 / hz
        start = loop.time()
        start_ns = int(start * 1e9)
        n = int(hz * secs)
        for tick in range(n):
            await asyncio.sleep(max(0.0, start + tick * period - loop.time()))
            broadcast(conns, _srv.state_message(tick, size, start_ns + int(tick * period * 1e9)))
        _srv.say("GAMEDONE", n, st["count"])

    def command(line: str) -> None:
        words = line.split()
        op = words[0]
        if op == "EXPECT":
            st["count"], st["expect"] = 0, int(words[1])
        elif op == "COUNT":
            _srv.say("COUNT", st["count"])
        elif op == "CONNS":
            _srv.say("CONNS", len(conns))
        elif op == "BCAST":
            k, size = int(words[1]), int(words[2])
            msg = bytes(size)
            t0 = now_ns()
            targets = list(conns)
            for _ in range(k):
                broadcast(targets, msg)
            _srv.say("BCASTED", t0, now_ns())
        elif op == "GAME":
            tasks.add(loop.create_task(game(int(words[1]), float(words[2]), int(words[3]))))
        elif op == "QUIT":
            _srv.quit_now()

    async with serve(handler, "127.0.0.1", a.port, compression=None, max_size=None,
                     ping_interval=None, backlog=4096, open_timeout=30) as server:
        _srv.read_commands(lambda line: loop.call_soon_threadsafe(command, line))
        _srv.say("READY", next(iter(server.sockets)).getsockname()[1])
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
