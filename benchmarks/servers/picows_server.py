#!/usr/bin/env python3
"""Benchmark server "picows": picows ``ws_create_server`` on the stock asyncio loop.

Echo sends each frame back from ``on_ws_frame``; broadcast calls
``transport.send()`` for every connection.  max_frame_size 64 MiB, no
auto-ping, listen backlog 4096.  (picows never negotiates compression.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _srv
from picows import WSListener, WSMsgType, ws_create_server

BINARY = WSMsgType.BINARY


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

    class Listener(WSListener):
        def on_ws_connected(self, transport) -> None:  # type: ignore[no-untyped-def]
            conns.add(transport)

        def on_ws_disconnected(self, transport) -> None:  # type: ignore[no-untyped-def]
            conns.discard(transport)

        def on_ws_frame(self, transport, frame) -> None:  # type: ignore[no-untyped-def]
            if frame.msg_type is not BINARY:
                if frame.msg_type is WSMsgType.CLOSE:
                    transport.send_close(frame.get_close_code())
                    transport.disconnect()
                return
            if echo:
                transport.send(BINARY, frame.get_payload_as_bytes())
                return
            frame.get_payload_as_bytes()  # the message reaches Python code
            c = st["count"]
            if not c:
                st["t_first"] = now_ns()
            c += 1
            st["count"] = c
            if c == st["expect"]:
                _srv.say("DONE", c, st["t_first"], now_ns())

    async def game(hz: int, secs: float, size: int) -> None:
        period = 1.0 / hz
        start = loop.time()
        start_ns = int(start * 1e9)
        n = int(hz * secs)
        for tick in range(n):
            await asyncio.sleep(max(0.0, start + tick * period - loop.time()))
            msg = _srv.state_message(tick, size, start_ns + int(tick * period * 1e9))
            for t in conns:
                t.send(BINARY, msg)
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
                for t in targets:
                    t.send(BINARY, msg)
            _srv.say("BCASTED", t0, now_ns())
        elif op == "GAME":
            tasks.add(loop.create_task(game(int(words[1]), float(words[2]), int(words[3]))))
        elif op == "QUIT":
            _srv.quit_now()

    server = await ws_create_server(
        lambda request: Listener(), "127.0.0.1", a.port,
        max_frame_size=64 << 20, enable_auto_ping=False, backlog=4096,
        websocket_handshake_timeout=30,
    )
    _srv.read_commands(lambda line: loop.call_soon_threadsafe(command, line))
    _srv.say("READY", server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
