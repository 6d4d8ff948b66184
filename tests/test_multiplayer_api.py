"""WebSocketMultiplayerPeer: properties, enums, constants and the state table (spec §1.1, §1.7,
§2, §3), with both access styles (Godot's setters/getters and Python properties)."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable

import pytest

from godot_websocket import (
    Error,
    MultiplayerPeer,
    PacketPeer,
    WebSocketMultiplayerPeer,
    WebSocketPeer,
)
from mp_helpers import CONNECTED, CONNECTING, DISCONNECTED, make_server, pump, url_of

W = WebSocketMultiplayerPeer


def f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


# ------------------------------------------------------------------ enums / constants


def test_enum_and_constant_values() -> None:
    for cls in (MultiplayerPeer, W):
        assert cls.CONNECTION_DISCONNECTED == 0
        assert cls.CONNECTION_CONNECTING == 1
        assert cls.CONNECTION_CONNECTED == 2
        assert cls.TRANSFER_MODE_UNRELIABLE == 0
        assert cls.TRANSFER_MODE_UNRELIABLE_ORDERED == 1
        assert cls.TRANSFER_MODE_RELIABLE == 2
        assert cls.TARGET_PEER_BROADCAST == 0
        assert cls.TARGET_PEER_SERVER == 1
        assert cls.ConnectionStatus.CONNECTION_CONNECTED == 2
        assert cls.TransferMode.TRANSFER_MODE_UNRELIABLE_ORDERED == 1
    assert [m.name for m in W.ConnectionStatus] == [
        "CONNECTION_DISCONNECTED",
        "CONNECTION_CONNECTING",
        "CONNECTION_CONNECTED",
    ]
    assert [m.name for m in W.TransferMode] == [
        "TRANSFER_MODE_UNRELIABLE",
        "TRANSFER_MODE_UNRELIABLE_ORDERED",
        "TRANSFER_MODE_RELIABLE",
    ]
    # the Error values the multiplayer peer returns
    assert (Error.OK, Error.FAILED, Error.ERR_UNAVAILABLE, Error.ERR_UNCONFIGURED) == (0, 1, 2, 3)
    assert (Error.ERR_OUT_OF_MEMORY, Error.ERR_CANT_CREATE, Error.ERR_ALREADY_IN_USE) == (6, 20, 22)
    assert Error.ERR_INVALID_PARAMETER == 31


def test_class_hierarchy() -> None:
    p = W()
    assert isinstance(p, MultiplayerPeer)
    assert isinstance(p, PacketPeer)
    assert hasattr(p.peer_connected, "connect") and hasattr(p.peer_disconnected, "emit")


# ------------------------------------------------------------------ defaults


def test_defaults_both_styles() -> None:
    p = W()
    assert p.supported_protocols == [] and p.get_supported_protocols() == []
    assert p.handshake_headers == [] and p.get_handshake_headers() == []
    assert p.inbound_buffer_size == 65535 and p.get_inbound_buffer_size() == 65535
    assert p.outbound_buffer_size == 65535 and p.get_outbound_buffer_size() == 65535
    assert p.max_queued_packets == 4096 and p.get_max_queued_packets() == 4096
    assert p.handshake_timeout == 3.0 and p.get_handshake_timeout() == 3.0
    assert p.refuse_new_connections is False and p.is_refusing_new_connections() is False
    assert p.transfer_mode == 2 and p.get_transfer_mode() == W.TRANSFER_MODE_RELIABLE
    assert p.transfer_channel == 0 and p.get_transfer_channel() == 0
    assert p.encode_buffer_max_size == 8388608 and p.get_encode_buffer_max_size() == 8388608


def test_fixed_answers_of_an_idle_peer() -> None:
    p = W()
    assert p.get_max_packet_size() == 65535 - 9
    assert p.is_server_relay_supported() is True
    assert p.get_packet_channel() == 0
    assert p.get_packet_mode() == W.TRANSFER_MODE_RELIABLE
    assert p.get_target_peer() == 0
    assert p.get_available_packet_count() == 0
    assert p.get_local_port() == 0
    assert p.get_peer_ids() == []


# ------------------------------------------------------------------ properties


PROPS = [
    # name, getter, setter, value, expected read-back
    (
        "supported_protocols",
        "get_supported_protocols",
        "set_supported_protocols",
        [" chat ", "\tgame\n", "x"],
        ["chat", "game", "x"],
    ),
    (
        "handshake_headers",
        "get_handshake_headers",
        "set_handshake_headers",
        ["X-One: 1", " X-Two:  two "],
        ["X-One: 1", " X-Two:  two "],
    ),
    ("inbound_buffer_size", "get_inbound_buffer_size", "set_inbound_buffer_size", 1234, 1234),
    ("outbound_buffer_size", "get_outbound_buffer_size", "set_outbound_buffer_size", 777, 777),
    ("max_queued_packets", "get_max_queued_packets", "set_max_queued_packets", 12, 12),
    ("handshake_timeout", "get_handshake_timeout", "set_handshake_timeout", 0.25, 0.25),
    (
        "refuse_new_connections",
        "is_refusing_new_connections",
        "set_refuse_new_connections",
        True,
        True,
    ),
    ("transfer_mode", "get_transfer_mode", "set_transfer_mode", 0, 0),
    ("transfer_mode", "get_transfer_mode", "set_transfer_mode", 1, 1),
    ("transfer_channel", "get_transfer_channel", "set_transfer_channel", 7, 7),
    # not clamped to the editor's 0..255 hint
    ("transfer_channel", "get_transfer_channel", "set_transfer_channel", 300, 300),
    (
        "encode_buffer_max_size",
        "get_encode_buffer_max_size",
        "set_encode_buffer_max_size",
        4096,
        4096,
    ),
]


@pytest.mark.parametrize(
    "name,getter,setter,value,expected", PROPS, ids=[f"{p[0]}={p[3]!r}" for p in PROPS]
)
def test_property_both_access_styles(
    name: str, getter: str, setter: str, value: object, expected: object
) -> None:
    a = W()
    getattr(a, setter)(value)
    assert getattr(a, getter)() == expected
    assert getattr(a, name) == expected
    b = W()
    setattr(b, name, value)
    assert getattr(b, getter)() == expected
    assert getattr(b, name) == expected


def test_list_properties_are_copies() -> None:
    p = W()
    protocols = ["a", "b"]
    p.supported_protocols = protocols
    protocols.append("c")
    got = p.get_supported_protocols()
    got.append("d")
    assert p.supported_protocols == ["a", "b"]
    p.handshake_headers = ["X: 1"]
    p.handshake_headers.append("Y: 2")
    assert p.get_handshake_headers() == ["X: 1"]


def test_handshake_timeout_is_stored_as_truncated_milliseconds() -> None:
    p = W()
    p.handshake_timeout = 1.0015  # 1001.4999... ms -> 1001 ms
    assert p.handshake_timeout == f32(1.001)
    assert p.handshake_timeout != 1.001  # a float32 widened to float64
    assert abs(p.handshake_timeout - 1.00100004673) < 1e-10
    p.set_handshake_timeout(0.0019)  # 1.9 ms -> 1 ms
    assert p.get_handshake_timeout() == f32(0.001)
    p.set_handshake_timeout(2)  # an int is seconds too
    assert p.get_handshake_timeout() == 2.0
    p.set_handshake_timeout(0.0001)  # > 0 but truncates to 0 ms
    assert p.get_handshake_timeout() == 0.0


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5])
def test_handshake_timeout_rejects_non_positive(
    bad: float, caplog: pytest.LogCaptureFixture
) -> None:
    p = W()
    p.handshake_timeout = 0.5
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        p.set_handshake_timeout(bad)
        p.handshake_timeout = bad
    assert p.handshake_timeout == 0.5
    assert len([r for r in caplog.records if r.name == "godot_websocket"]) == 2


@pytest.mark.parametrize(
    "value,expected",
    [(1024, 1024), (1025, 2048), (4096, 4096), (5000, 8192), (268435456, 268435456)],
)
def test_encode_buffer_max_size_rounds_up_to_power_of_two(value: int, expected: int) -> None:
    p = W()
    p.encode_buffer_max_size = value
    assert p.get_encode_buffer_max_size() == expected


@pytest.mark.parametrize("bad", [1000, 1023, 0, -1, 268435457])
def test_encode_buffer_max_size_rejects_out_of_range(
    bad: int, caplog: pytest.LogCaptureFixture
) -> None:
    p = W()
    p.set_encode_buffer_max_size(4096)
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        p.set_encode_buffer_max_size(bad)
    assert p.encode_buffer_max_size == 4096
    assert any(r.name == "godot_websocket" for r in caplog.records)


def test_max_packet_size_follows_outbound_buffer_size() -> None:
    p = W()
    assert p.get_max_packet_size() == 65526
    p.outbound_buffer_size = 1000
    assert p.get_max_packet_size() == 991
    p.set_outbound_buffer_size(9)
    assert p.get_max_packet_size() == 0


def test_generate_unique_id_range() -> None:
    p = W()
    ids = [p.generate_unique_id() for _ in range(5000)]
    assert all(isinstance(i, int) and 2 <= i <= 2147483647 for i in ids)
    assert len(set(ids)) > 4900  # random, not a counter or a constant


def test_server_relay_supported_in_every_state() -> None:
    server, port = make_server()
    client = W()
    try:
        assert server.is_server_relay_supported() is True
        client.create_client(url_of(port))
        assert client.is_server_relay_supported() is True
    finally:
        client.close()
        server.close()
    assert server.is_server_relay_supported() is True


def test_settings_survive_close_and_clear() -> None:
    """close() resets the connection state, not the settings, target, mode, channel or refuse
    flag (spec §1.2 set_target_peer, §1.5)."""
    server, _port = make_server()
    server.set_target_peer(-5)
    server.transfer_mode = W.TRANSFER_MODE_UNRELIABLE
    server.transfer_channel = 3
    server.refuse_new_connections = True
    server.inbound_buffer_size = 999
    server.supported_protocols = ["p"]
    server.handshake_timeout = 1.5
    server.close()
    assert server.get_target_peer() == -5
    assert server.transfer_mode == 0 and server.transfer_channel == 3
    assert server.refuse_new_connections is True
    assert server.inbound_buffer_size == 999 and server.supported_protocols == ["p"]
    assert server.handshake_timeout == 1.5


# ------------------------------------------------------------------ state table §1.7


def test_state_table(raw_ws_server) -> None:
    # new
    p = W()
    assert (p.get_connection_status(), p.is_server(), p.get_unique_id(), p.get_peer_ids()) == (
        DISCONNECTED,
        False,
        0,
        [],
    )
    # server running
    server, port = make_server()
    assert (
        server.get_connection_status(),
        server.is_server(),
        server.get_unique_id(),
        server.get_peer_ids(),
    ) == (CONNECTED, True, 1, [])
    # client handshaking / waiting for its id: a server that does the WebSocket handshake
    # but never sends the id
    silent = raw_ws_server()
    waiting = W()
    assert waiting.create_client(silent.url) == Error.OK
    assert (
        waiting.get_connection_status(),
        waiting.is_server(),
        waiting.get_unique_id(),
        waiting.get_peer_ids(),
    ) == (CONNECTING, False, 0, [1])
    assert isinstance(waiting.get_peer(1), WebSocketPeer)
    silent.accept(peers=waiting)
    assert pump(waiting, lambda: waiting.get_peer(1).get_ready_state() == WebSocketPeer.STATE_OPEN)
    assert (waiting.get_connection_status(), waiting.get_unique_id()) == (CONNECTING, 0)
    # client with its id
    client = W()
    client.create_client(url_of(port))
    assert pump([server, client], lambda: client.get_connection_status() == CONNECTED)
    cid = client.get_unique_id()
    assert cid >= 2 and client.is_server() is False and client.get_peer_ids() == [1]
    assert server.get_peer_ids() == [cid]
    # closed
    for peer in (server, client, waiting):
        peer.close()
        assert (
            peer.get_connection_status(),
            peer.is_server(),
            peer.get_unique_id(),
            peer.get_peer_ids(),
            peer.get_local_port(),
        ) == (DISCONNECTED, False, 0, [], 0)


def test_poll_on_idle_peer_does_nothing() -> None:
    p = W()
    events: list[int] = []
    p.peer_connected.connect(events.append)
    p.peer_disconnected.connect(events.append)
    for _ in range(3):
        p.poll()
    assert events == [] and p.get_connection_status() == DISCONNECTED


def test_server_side_requested_url_keeps_path_and_query(poll_until: Callable[..., object]) -> None:
    """Server side: ``ws://`` + Host header + request target, query string included."""
    from godot_websocket import WebSocketMultiplayerPeer, WebSocketPeer

    server = WebSocketMultiplayerPeer()
    assert server.create_server(0, "127.0.0.1") == 0
    port = server.get_local_port()
    seen: list[str] = []
    server.peer_connected.connect(
        lambda peer_id: seen.append(server.get_peer(peer_id).get_requested_url())  # type: ignore[union-attr]
    )
    client = WebSocketPeer()
    assert client.connect_to_url(f"ws://127.0.0.1:{port}/game/room?a=1&b=two") == 0
    try:
        assert poll_until(lambda: seen, (server, client))
        assert seen == [f"ws://127.0.0.1:{port}/game/room?a=1&b=two"]
    finally:
        client.close(-1)
        server.close()
