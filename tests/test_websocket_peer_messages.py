"""WebSocketPeer as a client of python ``websockets`` and of a hand-written server:
messages, handshake, close codes (spec §3, §4.3, §4.6)."""

from __future__ import annotations

import logging
import os
import queue
import socket
import time
from typing import Any

import pytest
from websockets.protocol import State as WSState

from godot_websocket import Error, WebSocketPeer

S = WebSocketPeer
TIMEOUT = 5.0


class Recorder:
    """A websockets handler that records every message it receives."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Any] = queue.Queue()

    def __call__(self, conn: Any) -> None:
        for msg in conn:
            self.messages.put(msg)

    def get(self, timeout: float = TIMEOUT) -> Any:
        return self.messages.get(timeout=timeout)

    def empty(self) -> bool:
        return self.messages.empty()


def server_closed(conn: Any) -> bool:
    return conn.protocol.state is WSState.CLOSED


def read_all(peer: WebSocketPeer) -> list[tuple[bytes, bool]]:
    out = []
    while peer.get_available_packet_count():
        data = peer.get_packet()
        assert peer.get_packet_error() == Error.OK
        out.append((data, peer.was_string_packet()))
    return out


# ------------------------------------------------------------------ messages


def test_text_and_binary_round_trip(ws_server, connect_peer, poll_until) -> None:
    srv = ws_server()  # echo
    peer = connect_peer(srv.url)
    assert peer.send_text("héllo ✓") == Error.OK
    assert peer.send(b"\x00\x01\xff") == Error.OK
    assert peer.send(b"as text", S.WRITE_MODE_TEXT) == Error.OK
    assert peer.send(b"as binary", S.WRITE_MODE_BINARY) == Error.OK
    assert peer.put_packet(bytearray(b"pp")) == Error.OK
    assert peer.put_packet(memoryview(b"mv")) == Error.OK
    assert poll_until(lambda: peer.get_available_packet_count() == 6, peer)
    assert read_all(peer) == [
        ("héllo ✓".encode(), True),
        (b"\x00\x01\xff", False),
        (b"as text", True),
        (b"as binary", False),
        (b"pp", False),
        (b"mv", False),
    ]
    # nothing left: ERR_UNAVAILABLE, and was_string_packet keeps the last value
    assert peer.get_packet() == b""
    assert peer.get_packet_error() == Error.ERR_UNAVAILABLE
    assert peer.was_string_packet() is False
    assert peer.send_text("t") == Error.OK
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    assert peer.get_packet() == b"t"
    assert peer.was_string_packet() is True
    peer.get_packet()
    assert peer.get_packet_error() == Error.ERR_UNAVAILABLE
    assert peer.was_string_packet() is True


def test_messages_reach_the_server_as_sent(ws_server, connect_peer) -> None:
    rec = Recorder()
    srv = ws_server(rec)
    peer = connect_peer(srv.url)
    assert peer.send_text("text") == Error.OK
    assert peer.put_packet(b"\x01\x02") == Error.OK
    assert peer.send(b"t2", S.WRITE_MODE_TEXT) == Error.OK
    assert [rec.get(), rec.get(), rec.get()] == ["text", b"\x01\x02", "t2"]


def test_empty_messages(ws_server, connect_peer, poll_until) -> None:
    rec = Recorder()
    srv = ws_server(rec)
    peer = connect_peer(srv.url)
    assert peer.put_packet(b"") == Error.OK  # nothing sent
    assert peer.send(b"") == Error.OK  # an empty binary frame
    assert peer.send(b"", S.WRITE_MODE_TEXT) == Error.OK  # an empty text frame
    assert peer.send_text("") == Error.OK
    assert peer.put_packet(b"") == Error.OK
    assert peer.send(b"end") == Error.OK
    assert [rec.get() for _ in range(4)] == [b"", "", "", b"end"]


def test_empty_messages_from_the_server(ws_server, connect_peer, poll_until) -> None:
    def handler(conn: Any) -> None:
        conn.send(b"")
        conn.send("")
        conn.send(b"x")
        for _ in conn:
            pass

    peer = connect_peer(ws_server(handler).url)
    assert poll_until(lambda: peer.get_available_packet_count() == 3, peer)
    assert read_all(peer) == [(b"", False), (b"", True), (b"x", False)]


def test_fragmented_messages_are_reassembled(ws_server, connect_peer, poll_until) -> None:
    def handler(conn: Any) -> None:
        conn.send(["frag", "mented ", "téxt"])
        conn.send([b"\x00" * 3000, b"", b"\x01" * 3000])
        conn.send("after")
        for _ in conn:
            pass

    peer = connect_peer(ws_server(handler).url)
    assert poll_until(lambda: peer.get_available_packet_count() == 3, peer)
    assert read_all(peer) == [
        ("fragmented téxt".encode(), True),
        (b"\x00" * 3000 + b"\x01" * 3000, False),
        (b"after", True),
    ]


def test_fragments_with_interleaved_ping(raw_ws_server, connect_peer, poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    conn.send_frame(0x2, b"abc", fin=False)
    conn.send_frame(0x9, b"ping-data")  # control frame inside a fragmented message
    conn.send_frame(0x0, b"def", fin=False)
    conn.send_frame(0x0, b"ghi", fin=True)
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    assert read_all(peer) == [(b"abcdefghi", False)]
    pong = conn.recv_frame()
    assert (pong.fin, pong.opcode, pong.payload, pong.masked) == (True, 0xA, b"ping-data", True)


def test_client_frames_are_masked_and_unvalidated(raw_ws_server, connect_peer) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    # No UTF-8 validation on send: the bytes go out as they are, in a text frame.
    assert peer.send(b"\xff\xfe", S.WRITE_MODE_TEXT) == Error.OK
    assert peer.send(b"x" * 70000) == Error.ERR_OUT_OF_MEMORY  # > outbound_buffer_size
    assert peer.send(b"y" * 300) == Error.OK
    f1, f2 = conn.recv_frame(), conn.recv_frame()
    assert (f1.fin, f1.opcode, f1.payload, f1.masked) == (True, 0x1, b"\xff\xfe", True)
    assert (f2.fin, f2.opcode, f2.payload, f2.masked) == (True, 0x2, b"y" * 300, True)


def test_pings_answered_and_not_exposed(raw_ws_server, connect_peer, poll_for) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    # (one ping at a time: lws answers only the latest of pings that arrive together,
    # which RFC 6455 allows; Godot answers each)
    conn.send_frame(0x9, b"")
    assert conn.recv_frame()[1:3] == (0xA, b"")
    conn.send_frame(0xA, b"unsolicited pong")
    conn.send_frame(0x9, b"\x01\x02")
    assert conn.recv_frame()[1:3] == (0xA, b"\x01\x02")
    poll_for(0.05, peer)
    assert peer.get_available_packet_count() == 0
    assert peer.get_ready_state() == S.STATE_OPEN


def test_put_var_get_var(ws_server, connect_peer, poll_until) -> None:
    peer = connect_peer(ws_server().url)
    assert peer.put_var({"a": [1, 2.5, "x"]}) == Error.OK
    assert peer.put_var(7) == Error.OK
    assert poll_until(lambda: peer.get_available_packet_count() == 2, peer)
    assert peer.get_var() == {"a": [1, 2.5, "x"]}
    assert peer.get_var() == 7
    assert peer.get_var() is None  # nothing queued


# ------------------------------------------------------------------ handshake


def test_request_path_host_and_custom_headers(ws_server, connect_peer) -> None:
    srv = ws_server(Recorder())
    url = f"ws://127.0.0.1:{srv.port}/chat/room?x=1&y=%20#fragment"
    peer = connect_peer(url, handshake_headers=["X-Token: abc 123", "X-Other:two"])
    conn = srv.next_connection()
    req = conn.request
    assert req.path == "/chat/room?x=1&y=%20"
    assert req.headers["Host"] == f"127.0.0.1:{srv.port}"
    assert req.headers["X-Token"] == "abc 123"
    assert req.headers["X-Other"] == "two"
    assert req.headers["Sec-WebSocket-Version"] == "13"
    assert "Sec-WebSocket-Protocol" not in req.headers
    assert peer.get_requested_url() == url
    assert peer.get_selected_protocol() == ""


def test_request_path_defaults_to_slash(raw_ws_server, connect_peer) -> None:
    srv = raw_ws_server()
    connect_peer(f"127.0.0.1:{srv.port}")
    conn = srv.accept()
    assert conn.request_line == "GET / HTTP/1.1"
    assert conn.headers["host"] == f"127.0.0.1:{srv.port}"
    assert conn.headers["upgrade"].lower() == "websocket"
    assert "upgrade" in conn.headers["connection"].lower()
    assert len(conn.headers["sec-websocket-key"]) == 24


def test_subprotocol_selected(ws_server, connect_peer, poll_until) -> None:
    srv = ws_server(Recorder(), subprotocols=["superchat", "chat"])
    peer = connect_peer(srv.url, supported_protocols=[" chat ", "superchat"])
    conn = srv.next_connection()
    assert conn.request.headers["Sec-WebSocket-Protocol"] == "chat,superchat"
    assert conn.subprotocol == "superchat"
    assert peer.get_selected_protocol() == "superchat"
    peer.close()
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_selected_protocol() == "superchat"  # kept until the next connect
    assert peer.connect_to_url(srv.url) == Error.OK
    assert peer.get_selected_protocol() == ""


def test_subprotocol_server_picks_none(ws_server, connect_peer, poll_until) -> None:
    # We offered protocols, the server answered without any: Godot fails the handshake.
    srv = ws_server(Recorder())
    peer = connect_peer(srv.url, expect_open=False, supported_protocols=["chat"])
    assert poll_until(lambda: peer.get_ready_state() != S.STATE_CONNECTING, peer)
    assert peer.get_ready_state() == S.STATE_CLOSED
    assert peer.get_close_code() == -1
    assert peer.get_selected_protocol() == ""


def test_subprotocol_server_picks_another(raw_ws_server, connect_peer, poll_until) -> None:
    srv = raw_ws_server(protocol="other")
    peer = connect_peer(srv.url, expect_open=False, supported_protocols=["chat", "v2"])
    assert poll_until(lambda: peer.get_ready_state() != S.STATE_CONNECTING, peer)
    assert peer.get_ready_state() == S.STATE_CLOSED
    assert peer.get_close_code() == -1
    assert srv.accept().headers["sec-websocket-protocol"] == "chat,v2"


def test_subprotocol_unrequested(raw_ws_server, connect_peer, poll_until) -> None:
    srv = raw_ws_server(protocol="chat")
    peer = connect_peer(srv.url, expect_open=False)
    assert poll_until(lambda: peer.get_ready_state() != S.STATE_CONNECTING, peer)
    assert peer.get_ready_state() == S.STATE_CLOSED
    assert peer.get_close_code() == -1


def test_handshake_rejected_by_server(ws_server, connect_peer, poll_until) -> None:
    def reject(conn: Any, request: Any) -> Any:
        return conn.respond(403, "no\n")

    srv = ws_server(Recorder(), process_request=reject)
    peer = connect_peer(srv.url, expect_open=False)
    assert poll_until(lambda: peer.get_ready_state() != S.STATE_CONNECTING, peer)
    assert peer.get_ready_state() == S.STATE_CLOSED
    assert peer.get_close_code() == -1


def test_connection_refused(free_port, connect_peer, poll_until) -> None:
    peer = connect_peer(f"ws://127.0.0.1:{free_port}/", expect_open=False)
    assert peer.get_ready_state() == S.STATE_CONNECTING
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == -1
    assert peer.get_close_reason() == ""
    assert peer.get_available_packet_count() == 0
    assert peer.send(b"x") == Error.FAILED


def test_connected_host_port_and_url(ws_server, connect_peer, poll_until) -> None:
    srv = ws_server(Recorder())
    url = srv.url + "/p#f"
    peer = connect_peer(url)
    conn = srv.next_connection()
    assert peer.get_connected_host() == "127.0.0.1"
    assert peer.get_connected_port() == srv.port
    assert peer.get_requested_url() == url
    assert conn.remote_address[0] == "127.0.0.1"
    peer.close()
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_requested_url() == url  # kept after the close
    assert peer.get_connected_host() == ""
    assert peer.get_connected_port() == 0


def test_ipv6_literal(raw_ws_server, connect_peer) -> None:
    try:
        srv = raw_ws_server(family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback")
    peer = connect_peer(f"ws://[::1]:{srv.port}/v6")
    conn = srv.accept()
    assert conn.request_line == "GET /v6 HTTP/1.1"
    assert peer.get_connected_host() == "::1"
    assert peer.get_connected_port() == srv.port


def _client_socket_for(peer_port: int, server_port: int) -> socket.socket:
    """Our process's own TCP socket from local port ``peer_port`` to ``server_port``."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if (s.family == socket.AF_INET and s.type == socket.SOCK_STREAM
                    and s.getsockname()[1] == peer_port and s.getpeername()[1] == server_port):
                return s
        except OSError:
            pass
        s.close()
    raise AssertionError("client socket not found")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_set_no_delay(ws_server, connect_peer, poll_until) -> None:
    srv = ws_server(Recorder())
    peer = connect_peer(srv.url)
    conn = srv.next_connection()
    sock = _client_socket_for(conn.remote_address[1], srv.port)
    try:
        def nodelay() -> int:
            return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)

        assert nodelay() != 0  # on by default
        peer.set_no_delay(False)
        assert poll_until(lambda: nodelay() == 0, peer)
        peer.set_no_delay(True)
        assert poll_until(lambda: nodelay() != 0, peer)
    finally:
        sock.close()


# ------------------------------------------------------------------ closing


def test_we_close_with_code_and_reason(ws_server, connect_peer, poll_until) -> None:
    srv = ws_server(Recorder())
    peer = connect_peer(srv.url)
    conn = srv.next_connection()
    peer.close(4001, "bye ✓")
    assert peer.get_ready_state() == S.STATE_CLOSING
    assert peer.get_close_code() == -1  # nothing received yet
    assert peer.send(b"x") == Error.FAILED
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert conn.protocol.close_rcvd.code == 4001
    assert conn.protocol.close_rcvd.reason == "bye ✓"
    # the server echoed our frame: that is the close code we report
    assert (peer.get_close_code(), peer.get_close_reason()) == (4001, "bye ✓")
    assert poll_until(lambda: server_closed(conn))


def test_close_defaults(ws_server, connect_peer, poll_until) -> None:
    srv = ws_server(Recorder())
    peer = connect_peer(srv.url)
    conn = srv.next_connection()
    peer.close()
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert (conn.protocol.close_rcvd.code, conn.protocol.close_rcvd.reason) == (1000, "")
    assert (peer.get_close_code(), peer.get_close_reason()) == (1000, "")
    peer.close()  # CLOSED: no effect
    peer.close(-1)
    assert (peer.get_close_code(), peer.get_close_reason()) == (1000, "")


@pytest.mark.parametrize(
    ("code", "reason", "wire"),
    [
        (1000, "", b"\x03\xe8"),
        (4999, "r", b"\x13\x87r"),
        (1005, "", b"\x03\xed"),  # the sent code is not validated
        (3000, "x" * 123, b"\x0b\xb8" + b"x" * 123),
    ],
)
def test_close_frame_on_the_wire(raw_ws_server, connect_peer, poll_until,
                                 code: int, reason: str, wire: bytes) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    peer.close(code, reason)
    f = conn.recv_frame()
    assert (f.opcode, f.payload, f.masked) == (0x8, wire, True)
    conn.send_frame(0x8, f.payload)  # echo
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == code
    assert conn.recv_eof()


def test_close_reason_too_long(raw_ws_server, connect_peer, poll_until, poll_for,
                               caplog: pytest.LogCaptureFixture) -> None:
    # Godot's frame engine refuses the close frame; the state is CLOSING all the same.
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        peer.close(1000, "é" * 62)  # 124 bytes
    assert "123" in caplog.text
    assert peer.get_ready_state() == S.STATE_CLOSING
    poll_for(0.2, peer)
    assert peer.get_ready_state() == S.STATE_CLOSING
    with pytest.raises(TimeoutError):
        conn.recv_frame(timeout=0.05)  # nothing was sent
    conn.send_close(4004, b"fine")
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert (peer.get_close_code(), peer.get_close_reason()) == (4004, "fine")


def test_server_closes_with_code_and_reason(ws_server, connect_peer, poll_until) -> None:
    def handler(conn: Any) -> None:
        conn.close(4002, "server says bye")

    srv = ws_server(handler)
    peer = connect_peer(srv.url, expect_open=False)
    conn = srv.next_connection()
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert (peer.get_close_code(), peer.get_close_reason()) == (4002, "server says bye")
    # we echoed code and reason
    assert poll_until(lambda: conn.protocol.close_rcvd is not None)
    assert (conn.protocol.close_rcvd.code, conn.protocol.close_rcvd.reason) == (
        4002, "server says bye")


def test_remote_close_without_status(raw_ws_server, connect_peer, poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    conn.send_close(None)
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert (peer.get_close_code(), peer.get_close_reason()) == (0, "")
    f = conn.recv_frame()
    assert f.opcode == 0x8


def test_remote_drops_tcp(raw_ws_server, connect_peer, poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    conn.close()
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert (peer.get_close_code(), peer.get_close_reason()) == (-1, "")


def test_close_minus_one_drops_at_once(ws_server, connect_peer, poll_until, poll_for) -> None:
    srv = ws_server(Recorder())
    peer = connect_peer(srv.url)
    conn = srv.next_connection()
    peer.close(-1)
    assert peer.get_ready_state() == S.STATE_CLOSED
    assert peer.get_close_code() == -1
    assert peer.send(b"x") == Error.FAILED
    assert poll_until(lambda: server_closed(conn))
    assert conn.protocol.close_rcvd is None  # no close frame, TCP just ended
    poll_for(0.05, peer)
    assert peer.get_ready_state() == S.STATE_CLOSED
    assert peer.get_close_code() == -1


def test_close_minus_one_while_closing_keeps_code(raw_ws_server, connect_peer) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    peer.close(4000)
    assert conn.recv_frame().opcode == 0x8
    peer.close(-1)
    assert peer.get_ready_state() == S.STATE_CLOSED
    assert peer.get_close_code() == -1
    assert conn.recv_eof()


def test_close_while_connecting(raw_ws_server, connect_peer, poll_for) -> None:
    srv = raw_ws_server(handshake=False)  # accepts TCP, never answers the upgrade
    peer = connect_peer(srv.url, expect_open=False)
    sock = srv.accept()
    peer.close()
    assert peer.get_ready_state() == S.STATE_CLOSED
    assert peer.get_close_code() == -1
    sock.settimeout(TIMEOUT)
    data = b""
    while True:  # the upgrade request, then EOF
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"GET / HTTP/1.1\r\n")
    poll_for(0.05, peer)
    assert peer.get_ready_state() == S.STATE_CLOSED


def test_messages_while_closing_are_not_readable(raw_ws_server, connect_peer,
                                                 poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    conn.send_frame(0x2, b"before")
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    peer.close(1000, "")
    assert peer.get_ready_state() == S.STATE_CLOSING
    assert peer.get_available_packet_count() == 0
    assert conn.recv_frame().opcode == 0x8
    conn.send_frame(0x1, b"during 1")
    conn.send_frame(0x2, b"during 2")
    seen = []

    def check() -> bool:
        seen.append(peer.get_available_packet_count())
        if peer.get_ready_state() == S.STATE_CLOSING:
            assert peer.get_packet() == b""
            assert peer.get_packet_error() == Error.FAILED
        return len(seen) > 50

    poll_until(check, peer)
    assert set(seen) == {0}
    conn.send_close(1000)
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_available_packet_count() == 0
    assert peer.get_packet() == b""
    assert peer.get_packet_error() == Error.FAILED


def test_unread_messages_discarded_at_closed(raw_ws_server, connect_peer, poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    for i in range(3):
        conn.send_frame(0x2, bytes([i]))
    assert poll_until(lambda: peer.get_available_packet_count() == 3, peer)
    # more messages arrive together with the close frame: none of it is readable
    conn.sock.sendall(b"\x82\x01\x07\x82\x01\x08" + b"\x88\x02\x03\xe8")
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == 1000
    assert peer.get_available_packet_count() == 0
    assert peer.get_packet() == b""
    assert peer.get_packet_error() == Error.FAILED


def test_reuse_after_closed(ws_server, connect_peer, poll_until) -> None:
    srv = ws_server()  # echo
    peer = connect_peer(srv.url + "/one")
    assert peer.send_text("1") == Error.OK
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    assert peer.get_packet() == b"1"
    assert peer.send_text("unread") == Error.OK
    peer.close(4000, "first")
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == 4000
    # second connection on the same object
    assert peer.connect_to_url(srv.url + "/two") == Error.OK
    assert peer.get_ready_state() == S.STATE_CONNECTING
    assert peer.get_close_code() == -1
    assert peer.get_close_reason() == ""
    assert peer.was_string_packet() is False
    assert peer.get_requested_url() == srv.url + "/two"
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
    assert peer.send(b"2") == Error.OK
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    assert peer.get_packet() == b"2"
    assert srv.connections[1].request.path == "/two"
    peer.close()
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == 1000


def test_reuse_while_closing(ws_server, connect_peer, poll_until) -> None:
    srv = ws_server()
    peer = connect_peer(srv.url)
    peer.close()
    assert peer.get_ready_state() == S.STATE_CLOSING
    assert peer.connect_to_url(srv.url + "/again") == Error.OK  # CLOSING is allowed
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
    assert peer.send(b"z") == Error.OK
    assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
    assert peer.get_packet() == b"z"
    assert peer.get_close_code() == -1  # nothing from the old connection leaks in


def test_connect_while_open_is_refused(ws_server, connect_peer) -> None:
    srv = ws_server()
    peer = connect_peer(srv.url)
    assert peer.connect_to_url(srv.url) == Error.ERR_ALREADY_IN_USE
    assert peer.get_ready_state() == S.STATE_OPEN
    assert peer.send(b"still fine") == Error.OK


def test_outbound_buffered_amount_idle(ws_server, connect_peer, poll_until) -> None:
    peer = connect_peer(ws_server().url)
    assert peer.get_current_outbound_buffered_amount() == 0
    for _ in range(10):
        peer.send(b"x" * 1000)
    assert poll_until(lambda: peer.get_current_outbound_buffered_amount() == 0, peer)
    assert poll_until(lambda: peer.get_available_packet_count() == 10, peer)


def test_state_only_changes_in_poll(ws_server, connect_peer) -> None:
    srv = ws_server(lambda conn: conn.close(4003, "x"))
    peer = connect_peer(srv.url, expect_open=False)
    conn = srv.next_connection()
    deadline = time.monotonic() + TIMEOUT
    while not server_closed(conn) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert server_closed(conn)
    assert peer.get_ready_state() == S.STATE_CONNECTING  # no poll() yet
    peer.poll()
    assert peer.get_ready_state() == S.STATE_CLOSED
    assert peer.get_close_code() == 4003



# ------------------------------------------------------------------ protocol errors


@pytest.mark.parametrize(
    "text",
    ["plain", "é", "€", "𝄞 emoji 🎉", "\uffff", "\U0010ffff", "\ud7ff\ue000", ""],
)
def test_valid_utf8_text_accepted(raw_ws_server, connect_peer, poll_until, text: str) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    data = text.encode()
    conn.send_frame(0x1, data)
    # the same text cut in the middle of every character, as fragments
    cut = max(1, len(data) // 2 + 1) if len(data) > 1 else 0
    conn.send_frame(0x1, data[:cut], fin=False)
    conn.send_frame(0x0, data[cut:], fin=True)
    assert poll_until(lambda: peer.get_available_packet_count() == 2, peer)
    assert read_all(peer) == [(data, True), (data, True)]


@pytest.mark.parametrize(
    "frames",
    [
        [(0x1, b"\xff\xfe", True)],
        [(0x1, b"\xc0\xaf", True)],  # overlong '/'
        [(0x1, b"ok \xed\xa0\x80", True)],  # surrogate
        [(0x1, b"\xf4\x90\x80\x80", True)],  # past U+10FFFF
        [(0x1, b"\xe2\x82", True)],  # truncated
        [(0x1, b"abc", False), (0x0, b"\xe2\x82", True)],  # truncated at the end
        [(0x1, b"x" * 5000 + b"\x80", True)],  # after a long ASCII run
    ],
    ids=["ff", "overlong", "surrogate", "too-high", "truncated", "fragmented", "long"],
)
def test_invalid_utf8_text_closes_1007(raw_ws_server, connect_peer, poll_until,
                                       frames: list[tuple[int, bytes, bool]]) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    conn.send_frame(0x2, b"\xff binary is not checked")
    for op, data, fin in frames:
        conn.send_frame(op, data, fin)
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert (peer.get_close_code(), peer.get_close_reason()) == (
        1007, "Invalid frame payload data")
    f = conn.recv_frame()
    assert (f.opcode, f.payload) == (0x8, b"\x03\xef")  # the code alone, as wslay sends it
    assert conn.recv_eof()


@pytest.mark.parametrize(
    "wire",
    [bytes([0xC2, 1, 0x41]), bytes([0x83, 1, 0x41]), bytes([0x80, 1, 0x41]),
     b"\x02\x01a\x82\x01b", b"\x89\x7e\x00\x7e" + b"x" * 126],
    ids=["rsv1", "opcode3", "continuation-first", "data-inside-fragmented", "long-ping"],
)
def test_protocol_errors_drop_the_connection(raw_ws_server, connect_peer, poll_until,
                                             wire: bytes) -> None:
    # Godot answers these with close 1002 and reports 1002 "Protocol error"; lws drops the
    # TCP connection without telling us why (see docs/differences.md): CLOSED, -1.
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    conn.sock.sendall(wire)
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == -1
    assert conn.recv_eof()


def test_invalid_close_code_from_remote(raw_ws_server, connect_peer, poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    conn.send_close(999, b"bad")
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == 1002
    f = conn.recv_frame()
    assert (f.opcode, f.payload[:2]) == (0x8, b"\x03\xea")


def test_websockets_closes_without_status(ws_server, connect_peer, poll_until) -> None:
    srv = ws_server(lambda conn: conn.close(None))  # an empty close frame
    peer = connect_peer(srv.url, expect_open=False)
    conn = srv.next_connection()
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert (peer.get_close_code(), peer.get_close_reason()) == (0, "")
    assert poll_until(lambda: server_closed(conn))


def test_wss_url_is_accepted(free_port, connect_peer, poll_until) -> None:
    # TLS is available in this build: row 6 of the connect_to_url table does not apply.
    peer = connect_peer(f"wss://127.0.0.1:{free_port}/", expect_open=False)
    assert peer.get_ready_state() == S.STATE_CONNECTING
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == -1


def test_close_while_closing_has_no_effect(raw_ws_server, connect_peer, poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    peer.close(4001, "first")
    peer.close(4002, "second")
    peer.close()
    assert peer.get_ready_state() == S.STATE_CLOSING
    f = conn.recv_frame()
    assert (f.opcode, f.payload) == (0x8, b"\x0f\xa1first")
    with pytest.raises(TimeoutError):
        conn.recv_frame(timeout=0.1)  # one close frame only
    conn.send_frame(0x8, f.payload)
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert (peer.get_close_code(), peer.get_close_reason()) == (4001, "first")


def test_close_zero_sends_an_empty_close_frame(raw_ws_server, ws_server, connect_peer,
                                               poll_until) -> None:
    srv = raw_ws_server()
    peer = connect_peer(srv.url)
    conn = srv.accept()
    peer.close(0)
    assert peer.get_ready_state() == S.STATE_CLOSING
    f = conn.recv_frame()
    assert (f.opcode, f.payload, f.masked) == (0x8, b"", True)
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == 0
    # a compliant server takes it as a close without status (no protocol error)
    wsrv = ws_server(lambda c: [None for _ in c])
    peer2 = connect_peer(wsrv.url)
    wconn = wsrv.next_connection()
    peer2.close(0)
    assert poll_until(lambda: peer2.get_ready_state() == S.STATE_CLOSED, peer2)
    assert poll_until(lambda: wconn.protocol.close_rcvd is not None)
    assert (wconn.protocol.close_rcvd.code, wconn.protocol.close_rcvd.reason) == (1005, "")
