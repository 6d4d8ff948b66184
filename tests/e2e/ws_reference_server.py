"""A small reference server for the Godot 4 WebSocket multiplayer protocol (test-only).

It speaks the server side of ``shared/spec/godot-api.md`` §7.1 with the ``websockets``
package, independently of the project's own implementation, so the end-to-end harness can
be proven against a real Godot client before (and besides) our own server:

1. after the WebSocket handshake, send the client's id as one 4-byte little-endian int32
   binary message (ids come from a fixed sequence, so tests can assert them);
2. afterwards every message is a raw packet: optionally echoed back, and recorded;
3. the test can send, broadcast and disconnect from its own thread.

Like Godot's server it offers no permessage-deflate and sends no pings. Every connection's
life is recorded as :class:`ServerEvent` items (``connected``, ``packet``, ``closed``).
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

__all__ = ["DEFAULT_IDS", "ReferenceServer", "ServerEvent"]

_T = TypeVar("_T")

DEFAULT_IDS = (1234567, 987654321, 2147483647, 2, 1600000001, 424242)
"""Ids given to connections in order (then counting up from 3000000000 // 2)."""


@dataclass(frozen=True)
class ServerEvent:
    """One thing that happened on the server.

    ``kind`` is ``connected``, ``packet`` (``data`` holds the payload, ``text`` tells a text
    message) or ``closed`` (``close_code``/``close_reason`` are what the client's close frame
    said; ``None`` if the connection ended without one).
    """

    kind: str
    peer_id: int
    data: bytes = b""
    text: bool = False
    close_code: int | None = None
    close_reason: str | None = None
    at: float = 0.0


class ReferenceServer:
    """Godot 4 ``WebSocketMultiplayerPeer`` server side on 127.0.0.1, in a background thread."""

    def __init__(
        self,
        *,
        echo: bool = True,
        ids: Iterable[int] = DEFAULT_IDS,
        id_message: Callable[[int], bytes] | None = None,
    ) -> None:
        """``echo``: send every packet back to its sender. ``ids``: ids to hand out, in order.
        ``id_message``: the first message for an id (default: ``struct.pack("<i", id)``);
        tests change it to check the client's validation.
        """
        self.echo = echo
        self._ids: Iterator[int] = itertools.chain(ids, itertools.count(1_500_000_000))
        self._id_message = id_message or (lambda peer_id: struct.pack("<i", peer_id))
        self._events: list[ServerEvent] = []
        self._changed = threading.Condition()
        self._peers: dict[int, ServerConnection] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ws-reference", daemon=True
        )
        self._server: Server | None = None
        self.port = 0

    # -- life cycle

    def start(self) -> ReferenceServer:
        """Listen on a free port of 127.0.0.1 (see :attr:`url`)."""
        return self.start_on(0)

    def start_on(self, port: int) -> ReferenceServer:
        """Listen on ``port`` of 127.0.0.1 (0: a free one)."""
        self._thread.start()

        async def open_server() -> Server:
            return await serve(
                self._handle,
                "127.0.0.1",
                port,
                compression=None,
                ping_interval=None,
                max_size=1 << 20,
            )

        self._server = self._call(open_server())
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            server = self._server
            self._server = None
            server.close()
            self._call(asyncio.wait_for(server.wait_closed(), 5))
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    # -- what happened

    @property
    def events(self) -> list[ServerEvent]:
        with self._changed:
            return list(self._events)

    def events_of(self, kind: str, peer_id: int | None = None) -> list[ServerEvent]:
        return [
            event
            for event in self.events
            if event.kind == kind and (peer_id is None or event.peer_id == peer_id)
        ]

    def packets_from(self, peer_id: int) -> list[bytes]:
        return [event.data for event in self.events_of("packet", peer_id)]

    def connected_ids(self) -> list[int]:
        """Ids of all connections that got their id, in connection order."""
        return [event.peer_id for event in self.events_of("connected")]

    def wait_for(self, predicate: Callable[[list[ServerEvent]], bool], timeout: float) -> bool:
        """Wait (bounded) until ``predicate(events)`` is true; return whether it became true."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self._events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def wait_connected(self, count: int, timeout: float) -> list[int]:
        """Wait until ``count`` clients got ids; return those ids (raises on timeout)."""
        if not self.wait_for(
            lambda events: sum(e.kind == "connected" for e in events) >= count, timeout
        ):
            raise TimeoutError(f"{count} clients did not connect in {timeout} s: {self.events}")
        return self.connected_ids()[:count]

    # -- acting (from any thread)

    def send(self, peer_id: int, data: bytes) -> None:
        """Send one raw packet (a binary message) to a connected client."""
        self._call(self._peers[peer_id].send(data))

    def broadcast(self, data: bytes) -> list[int]:
        """Send one raw packet to every connected client; return their ids."""

        async def send_all() -> list[int]:
            peers = list(self._peers.items())
            await asyncio.gather(*(ws.send(data) for _peer_id, ws in peers))
            return [peer_id for peer_id, _ws in peers]

        return self._call(send_all())

    def disconnect(self, peer_id: int, code: int = 1000, reason: str = "") -> None:
        """Close one client's connection with a close frame (waits for the handshake)."""
        self._call(self._peers[peer_id].close(code, reason))

    # -- internals

    def _call(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _record(self, event: ServerEvent) -> None:
        with self._changed:
            self._events.append(event)
            self._changed.notify_all()

    async def _handle(self, ws: ServerConnection) -> None:
        peer_id = next(self._ids)
        try:
            await ws.send(self._id_message(peer_id))
            self._peers[peer_id] = ws
            self._record(ServerEvent("connected", peer_id, at=time.monotonic()))
            async for message in ws:
                is_text = isinstance(message, str)
                data = message.encode() if isinstance(message, str) else bytes(message)
                self._record(
                    ServerEvent("packet", peer_id, data=data, text=is_text, at=time.monotonic())
                )
                if self.echo:
                    await ws.send(data)
        except ConnectionClosed:
            pass
        finally:
            self._peers.pop(peer_id, None)
            self._record(
                ServerEvent(
                    "closed",
                    peer_id,
                    close_code=ws.close_code,
                    close_reason=ws.close_reason,
                    at=time.monotonic(),
                )
            )


def _more_than(count: int) -> Callable[[list[ServerEvent]], bool]:
    return lambda events: len(events) > count


def main() -> None:
    """Run an echoing reference server by hand: ``python tests/e2e/ws_reference_server.py 9080``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int, nargs="?", default=9080)
    parser.add_argument("--no-echo", action="store_true", help="do not echo packets back")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long")
    options = parser.parse_args()
    server = ReferenceServer(echo=not options.no_echo)
    server.start_on(options.port)
    print(f"listening on {server.url} for {options.seconds:.0f} s; Ctrl-C stops", flush=True)
    deadline = time.monotonic() + options.seconds
    seen = 0
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            server.wait_for(_more_than(seen), timeout=remaining)
            for event in server.events[seen:]:
                print(event, flush=True)
                seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
