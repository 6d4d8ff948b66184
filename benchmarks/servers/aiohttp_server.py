#!/usr/bin/env python3
"""Benchmark server "aiohttp": an aiohttp ``web.WebSocketResponse`` handler.

compress=False, max_msg_size=0 (no limit), no heartbeat, no access log,
backlog 4096.  Echo is ``async for msg in ws: await ws.send_bytes(msg.data)``;
broadcast awaits ``send_bytes()`` on every connection in turn.
"""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _srv
from aiohttp import WSMsgType, web


async def main() -> None:
    a = _srv.start()
    echo = a.mode == "echo"
    binary = WSMsgType.BINARY

    async def send_all(targets: list, msg: bytes) -> None:
        for ws in targets:
            await ws.send_bytes(msg)

    srv = _srv.AsyncServer(send_all, awaits=True)
    conns = srv.conns

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
                srv.received()
        finally:
            conns.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", a.port, backlog=4096)
    await site.start()
    srv.ready(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
