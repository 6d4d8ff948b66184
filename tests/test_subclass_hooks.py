"""Subclasses that override the core operations ``_put_packet``/``_get_packet`` see every
packet, although ``put_packet()``/``get_packet()`` inline the common case for speed."""

from __future__ import annotations

from typing import Any

from godot_websocket import Error, WebSocketMultiplayerPeer, WebSocketPeer
from mp_helpers import connect_clients, make_server, pump


class Counting:
    """Records what goes through the core operations (mixed into both peer classes)."""

    puts: list[bytes]
    gets: list[bytes]

    def _put_packet(self, data: Any) -> Error:
        self.puts.append(bytes(data))
        return super()._put_packet(data)  # type: ignore[misc, no-any-return]

    def _get_packet(self) -> tuple[Error, bytes]:
        err, data = super()._get_packet()  # type: ignore[misc]
        if err == Error.OK:
            self.gets.append(data)
        return err, data


class CountingMP(Counting, WebSocketMultiplayerPeer):
    def __init__(self) -> None:
        self.puts, self.gets = [], []
        super().__init__()


class CountingWS(Counting, WebSocketPeer):
    def __init__(self) -> None:
        self.puts, self.gets = [], []
        super().__init__()


def test_multiplayer_subclass_hooks_see_every_packet() -> None:
    server = CountingMP()
    assert server.create_server(0, "127.0.0.1") == Error.OK
    port = server.get_local_port()
    try:
        (client,) = connect_clients(server, port, 1)
        cid = server.get_peer_ids()[0]
        assert client.put_packet(b"up") == Error.OK
        assert pump([server, client], server.get_available_packet_count)
        assert server.get_packet() == b"up"
        server.set_target_peer(cid)
        assert server.put_packet(b"down") == Error.OK
        assert pump([server, client], client.get_available_packet_count)
        assert client.get_packet() == b"down"
        assert server.gets == [b"up"] and server.puts == [b"down"]
        client.close()
    finally:
        server.close()


def test_websocket_peer_subclass_hooks_see_every_packet() -> None:
    server, port = make_server()
    ws = CountingWS()
    try:
        assert ws.connect_to_url(f"ws://127.0.0.1:{port}") == Error.OK
        assert pump([server, ws], lambda: ws.get_available_packet_count() == 1)
        ws.get_packet()  # the 4-byte id the multiplayer server sends first
        assert pump([server, ws], lambda: len(server.get_peer_ids()) == 1)
        assert ws.put_packet(b"ping") == Error.OK
        assert pump([server, ws], server.get_available_packet_count)
        assert server.get_packet() == b"ping"
        assert len(ws.gets) == 1 and ws.puts == [b"ping"]
    finally:
        ws.close(-1)
        server.close()
