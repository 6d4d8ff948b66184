"""WebSocketPeer without a network: enums, defaults, properties, argument checks (spec §3, §4)."""

from __future__ import annotations

import enum
import logging
import socket

import pytest

from godot_websocket import Error, PacketPeer, WebSocketPeer

S = WebSocketPeer


def test_enums() -> None:
    assert issubclass(S.State, enum.IntEnum)
    assert issubclass(S.WriteMode, enum.IntEnum)
    assert [(m.name, m.value) for m in S.State] == [
        ("STATE_CONNECTING", 0), ("STATE_OPEN", 1), ("STATE_CLOSING", 2), ("STATE_CLOSED", 3)]
    assert [(m.name, m.value) for m in S.WriteMode] == [
        ("WRITE_MODE_TEXT", 0), ("WRITE_MODE_BINARY", 1)]
    assert (S.STATE_CONNECTING, S.STATE_OPEN, S.STATE_CLOSING, S.STATE_CLOSED) == (0, 1, 2, 3)
    assert (S.WRITE_MODE_TEXT, S.WRITE_MODE_BINARY) == (0, 1)
    assert issubclass(S, PacketPeer)


def test_defaults(caplog: pytest.LogCaptureFixture) -> None:
    p = WebSocketPeer()
    assert p.get_ready_state() == S.STATE_CLOSED
    assert isinstance(p.get_ready_state(), S.State)
    assert p.inbound_buffer_size == 65535
    assert p.outbound_buffer_size == 65535
    assert p.max_queued_packets == 4096
    assert p.heartbeat_interval == 0.0
    assert isinstance(p.heartbeat_interval, float)
    assert p.supported_protocols == []
    assert p.handshake_headers == []
    assert p.encode_buffer_max_size == 8388608
    assert p.get_close_code() == -1
    assert p.get_close_reason() == ""
    assert p.get_selected_protocol() == ""
    assert p.get_requested_url() == ""
    assert p.get_available_packet_count() == 0
    assert p.was_string_packet() is False
    assert p.get_current_outbound_buffered_amount() == 0
    assert p.get_packet_error() == Error.OK
    assert p.get_max_packet_size() == 0
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert p.get_connected_host() == ""
        assert p.get_connected_port() == 0
        p.set_no_delay(True)  # no socket: logs, no-op
    assert len(caplog.records) == 3


# name, default, a new value
INT_PROPS = [
    ("inbound_buffer_size", 65535, 1 << 20),
    ("outbound_buffer_size", 65535, 12345),
    ("max_queued_packets", 4096, 7),
]


@pytest.mark.parametrize(("name", "default", "value"), INT_PROPS)
def test_int_property_both_styles(name: str, default: int, value: int) -> None:
    p = WebSocketPeer()
    assert getattr(p, f"get_{name}")() == default
    setattr(p, name, value)
    assert getattr(p, f"get_{name}")() == value
    assert getattr(p, name) == value
    getattr(p, f"set_{name}")(value + 1)
    assert getattr(p, name) == value + 1
    # no validation: zero and negative values are stored as given
    setattr(p, name, 0)
    assert getattr(p, name) == 0
    setattr(p, name, -5)
    assert getattr(p, name) == -5


@pytest.mark.parametrize("name", [n for n, _, _ in INT_PROPS])
@pytest.mark.parametrize("bad", ["10", 1.5, None, [1], True])
def test_int_property_wrong_type(name: str, bad: object) -> None:
    p = WebSocketPeer()
    with pytest.raises(TypeError):
        setattr(p, name, bad)
    with pytest.raises(TypeError):
        getattr(p, f"set_{name}")(bad)
    assert getattr(p, name) == dict((n, d) for n, d, _ in INT_PROPS)[name]


def test_heartbeat_interval_rules(caplog: pytest.LogCaptureFixture) -> None:
    p = WebSocketPeer()
    p.heartbeat_interval = 1.5
    assert p.get_heartbeat_interval() == 1.5
    p.set_heartbeat_interval(2)
    assert p.heartbeat_interval == 2.0
    assert isinstance(p.heartbeat_interval, float)
    # stored as integer milliseconds, truncated
    p.heartbeat_interval = 0.0015
    assert p.heartbeat_interval == 0.001
    p.heartbeat_interval = 0.0009
    assert p.heartbeat_interval == 0.0
    p.heartbeat_interval = 0.25
    # negative: logs an error, value unchanged
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        p.heartbeat_interval = -1.0
        p.set_heartbeat_interval(-0.001)
    assert p.heartbeat_interval == 0.25
    assert len(caplog.records) == 2
    p.heartbeat_interval = 0.0
    assert p.heartbeat_interval == 0.0
    for bad in ("1", None, [1.0]):
        with pytest.raises(TypeError):
            p.heartbeat_interval = bad  # type: ignore[assignment]
    assert p.heartbeat_interval == 0.0


def test_supported_protocols_stripped_and_copied() -> None:
    p = WebSocketPeer()
    src = [" chat ", "\tv2.proto\n", "x"]
    p.supported_protocols = src
    assert p.supported_protocols == ["chat", "v2.proto", "x"]
    assert src == [" chat ", "\tv2.proto\n", "x"]  # the argument is not modified
    got = p.get_supported_protocols()
    got.append("y")
    assert p.get_supported_protocols() == ["chat", "v2.proto", "x"]
    p.set_supported_protocols(("a ",))
    assert p.supported_protocols == ["a"]
    p.set_supported_protocols([])
    assert p.supported_protocols == []


def test_handshake_headers_verbatim_and_copied() -> None:
    p = WebSocketPeer()
    p.handshake_headers = ["X-A: 1 ", " X-B:2"]
    assert p.get_handshake_headers() == ["X-A: 1 ", " X-B:2"]
    p.get_handshake_headers().append("X-C: 3")
    p.handshake_headers.append("X-D: 4")
    assert p.handshake_headers == ["X-A: 1 ", " X-B:2"]
    p.set_handshake_headers([])
    assert p.handshake_headers == []


@pytest.mark.parametrize("name", ["supported_protocols", "handshake_headers"])
@pytest.mark.parametrize("bad", ["chat", b"chat", None, 5, ["ok", 1], [b"x"]])
def test_string_list_wrong_type(name: str, bad: object) -> None:
    p = WebSocketPeer()
    setattr(p, name, ["keep"])
    with pytest.raises(TypeError):
        setattr(p, name, bad)
    with pytest.raises(TypeError):
        getattr(p, f"set_{name}")(bad)
    assert getattr(p, name) == ["keep"]


def test_encode_buffer_max_size_rules(caplog: pytest.LogCaptureFixture) -> None:
    p = WebSocketPeer()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        p.encode_buffer_max_size = 1000  # < 1024: rejected
        assert p.encode_buffer_max_size == 8388608
        p.set_encode_buffer_max_size(256 * 1024 * 1024 + 1)  # > 256 MiB: rejected
        assert p.get_encode_buffer_max_size() == 8388608
    assert len(caplog.records) == 2
    p.encode_buffer_max_size = 1025
    assert p.encode_buffer_max_size == 2048
    p.encode_buffer_max_size = 4096
    assert p.encode_buffer_max_size == 4096
    p.encode_buffer_max_size = 1024
    assert p.encode_buffer_max_size == 1024
    p.encode_buffer_max_size = 256 * 1024 * 1024
    assert p.encode_buffer_max_size == 256 * 1024 * 1024
    with pytest.raises(TypeError):
        p.encode_buffer_max_size = "4096"  # type: ignore[assignment]


def test_calls_on_a_closed_peer(caplog: pytest.LogCaptureFixture) -> None:
    p = WebSocketPeer()
    p.poll()  # nothing to do
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert p.send(b"x") == Error.FAILED
        assert p.send(b"") == Error.FAILED  # send() does not special-case empty data
        assert p.send_text("x") == Error.FAILED
        assert p.put_packet(b"x") == Error.FAILED
        assert p.get_packet() == b""
        assert p.get_packet_error() == Error.FAILED
    # the PacketPeer wrapper: an empty put_packet is OK without looking at the peer
    assert p.put_packet(b"") == Error.OK
    assert p.put_packet(bytearray()) == Error.OK
    p.close()
    p.close(4000, "x")
    p.close(-1)
    assert p.get_ready_state() == S.STATE_CLOSED
    assert p.get_close_code() == -1


def test_argument_types() -> None:
    p = WebSocketPeer()
    for bad in ("text", 5, None, [1, 2]):
        with pytest.raises(TypeError):
            p.send(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            p.put_packet(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        p.send_text(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        p.send(b"x", 2)
    with pytest.raises(TypeError):
        p.send(b"x", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        p.close("1000")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        p.close(1000, b"reason")  # type: ignore[arg-type]


def test_accept_stream_contract() -> None:
    p = WebSocketPeer()
    assert p.accept_stream(None) == Error.ERR_INVALID_PARAMETER
    assert p.accept_stream("not a stream") == Error.ERR_INVALID_PARAMETER
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert p.accept_stream(udp) == Error.ERR_INVALID_PARAMETER
    finally:
        udp.close()
    a, b = socket.socketpair()
    try:
        # a stream socket, but not TCP (tests/test_accept_stream.py: the TCP cases)
        assert p.accept_stream(a) == Error.ERR_INVALID_PARAMETER
        assert p.get_ready_state() == S.STATE_CLOSED
    finally:
        a.close()
        b.close()


def test_accept_stream_while_connecting(raw_ws_server) -> None:
    srv = raw_ws_server(handshake=False)
    p = WebSocketPeer()
    assert p.connect_to_url(srv.url) == Error.OK
    a, b = socket.socketpair()
    try:
        assert p.accept_stream(None) == Error.ERR_INVALID_PARAMETER  # null first
        assert p.accept_stream(a) == Error.ERR_ALREADY_IN_USE
        assert p.accept_stream("x") == Error.ERR_ALREADY_IN_USE  # state before type
    finally:
        a.close()
        b.close()
        p.close()


def test_repr() -> None:
    assert "STATE_CLOSED" in repr(WebSocketPeer())
