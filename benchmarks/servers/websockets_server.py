#!/usr/bin/env python3
"""Benchmark server "websockets": ``websockets.asyncio.server.serve`` (websockets >= 13).

compression=None, max_size=None, ping_interval=None, backlog 4096; other
settings are the library's defaults (max_queue 16, write_limit 32 KiB).  Echo
is ``async for m in ws: await ws.send(m)``; broadcast is
``websockets.asyncio.server.broadcast()``.
"""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _srv
from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed


async def main() -> None:
    a = _srv.start()
    echo = a.mode == "echo"
    srv = _srv.AsyncServer(broadcast)
    conns = srv.conns

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        conns.add(ws)
        try:
            if echo:
                async for m in ws:
                    await ws.send(m)
            else:
                async for _m in ws:
                    srv.received()
        except ConnectionClosed:
            pass
        finally:
            conns.discard(ws)

    async with serve(handler, "127.0.0.1", a.port, compression=None, max_size=None,
                     ping_interval=None, backlog=4096, open_timeout=30) as server:
        srv.ready(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
