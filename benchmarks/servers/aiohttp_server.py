#!/usr/bin/env python3
"""Benchmark server "aiohttp": an aiohttp ``web.WebSocketResponse`` handler.

compress=False, max_msg_size=0 (no limit), no heartbeat, no access log,
backlog 4096.  Echo is ``async for msg in ws: await ws.send_bytes(msg.data)``;
broadcast awaits ``send_bytes()`` on every connection in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _srv
from aiohttp import WSMsgType, web


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
    binary = WSMsgType.BINARY

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conns.add(ws)
        try:
            async for msg in ws:
                if msg.type is not binary:
                    continue
                if echo:
                    await ws.send_bytes(msg.data)
                    continue
                c = st["count"]
                if not c:
                    st["t_first"] = now_ns()
                c += 1
                st["count"] = c
                if c == st["expect"]:
                    _srv.say("DONE", c, st["t_first"], now_ns())
        finally:
            conns.discard(ws)
        return ws

    async def bcast(k: int, size: int) -> None:
        msg = bytes(size)
        t0 = now_ns()
        targets = list(conns)
        for _ in range(k):
            for ws in targets:
                await ws.send_bytes(msg)
        _srv.say("BCASTED", t0, now_ns())

    async def game(hz: int, secs: float, size: int) -> None:
        period = 1.0 / hz
        start = loop.time()
        start_ns = int(start * 1e9)
        n = int(hz * secs)
        for tick in range(n):
            await asyncio.sleep(max(0.0, start + tick * period - loop.time()))
            msg = _srv.state_message(tick, size, start_ns + int(tick * period * 1e9))
            for ws in list(conns):
                await ws.send_bytes(msg)
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
            tasks.add(loop.create_task(bcast(int(words[1]), int(words[2]))))
        elif op == "GAME":
            tasks.add(loop.create_task(game(int(words[1]), float(words[2]), int(words[3]))))
        elif op == "QUIT":
            _srv.quit_now()

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", a.port, backlog=4096)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    _srv.read_commands(lambda line: loop.call_soon_threadsafe(command, line))
    _srv.say("READY", port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
