#!/usr/bin/env python3
"""Benchmark server "picows": picows ``ws_create_server`` on the stock asyncio loop.

Echo sends each frame back from ``on_ws_frame``; broadcast calls
``transport.send()`` for every connection.  max_frame_size 64 MiB, no
auto-ping, listen backlog 4096.  (picows never negotiates compression.)
"""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _srv
from picows import WSListener, WSMsgType, ws_create_server

BINARY = WSMsgType.BINARY


async def main() -> None:
    a = _srv.start()
    echo = a.mode == "echo"

    def send_all(targets: list, msg: bytes) -> None:
        for t in targets:
            t.send(BINARY, msg)

    srv = _srv.AsyncServer(send_all)
    conns = srv.conns

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
            srv.received()

    server = await ws_create_server(
        lambda request: Listener(), "127.0.0.1", a.port,
        max_frame_size=64 << 20, enable_auto_ping=False, backlog=4096,
        websocket_handshake_timeout=30,
    )
    srv.ready(server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
