"""The server side of the handshake and of framing, over raw sockets and python-``websockets``.

Non-TLS listeners speak the protocol in the core (``csrc/wsserver.c``, ``csrc/wsproto.c``);
``GODOT_WEBSOCKET_SERVER=lws`` puts them back on the libwebsockets server.  Every test here
runs against whichever is selected and expects what the libwebsockets server did, except
where noted (``RAW``): the requested path is reported as sent, and unmasked client frames
fail the connection with 1002."""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from typing import Any

import pytest

from godot_websocket import WebSocketMultiplayerPeer
from mp_helpers import make_server, pump, url_of
from ws_frames import SAMPLE_ACCEPT as ACCEPT
from ws_frames import SAMPLE_KEY as KEY
from ws_frames import encode_frame
from ws_frames import upgrade_request as request

RAW = os.environ.get("GODOT_WEBSOCKET_SERVER") != "lws"
FORBIDDEN = b"HTTP/1.0 403 Forbidden\r\n"


def frame(op: int, payload: bytes = b"", fin: bool = True, mask: bytes | None = b"\x11\x22\x33\x44",
          rsv: int = 0) -> bytes:
    """A client's frame (masked unless ``mask`` is None)."""
    return encode_frame(op, payload, fin, mask, rsv)


class Exchange:
    """One raw connection to ``server``: what it wrote back, whether it hung up, packets."""

    def __init__(self, server: WebSocketMultiplayerPeer, port: int) -> None:
        self.server = server
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.data = b""
        self.eof = False
        self.packets: list[bytes] = []

    def send(self, data: bytes, chunk: int = 0) -> None:
        if not chunk:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            self.step(0.0005)

    def step(self, wait: float) -> None:
        self.server.poll()
        while self.server.get_available_packet_count():
            self.packets.append(self.server.get_packet())
        r, _, _ = select.select([self.sock], [], [], wait)
        if r and not self.eof:
            try:
                d = self.sock.recv(1 << 20)
            except OSError:
                d = b""
            if not d:
                self.eof = True
            self.data += d

    def run(self, seconds: float, until: Any = None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.eof:
            self.step(0.005)
            if until is not None and until():
                return

    def head(self) -> bytes:
        return self.data.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"

    def after_head(self) -> bytes:
        """What followed the 101 head, without the id message of the multiplayer protocol."""
        rest = self.data.partition(b"\r\n\r\n")[2]
        assert rest[:2] == b"\x82\x04", rest[:8]
        return rest[6:]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Any:
    srv, port = make_server(handshake_headers=["X-Test: 1"], inbound_buffer_size=65536)
    srv.port = port  # type: ignore[attr-defined]
    yield srv
    srv.close()


def exchange(srv: Any, data: bytes, seconds: float = 0.5, chunk: int = 0) -> Exchange:
    ex = Exchange(srv, srv.port)
    ex.send(data, chunk)
    ex.run(seconds)
    return ex


def opened(ex: Exchange) -> bool:
    return ex.data.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")


OK_REQUESTS = {
    "plain": request(),
    "query": request("/a/b?x=1&y=2"),
    "version_12": request(wsver="12"),
    "no_version": request(wsver=None),
    "short_key": request(key="abc"),
    "http_1_0": request(version="HTTP/1.0"),
    "connection_list": request(connection="keep-alive, Upgrade"),
    "connection_lower": request(connection="upgrade"),
    "lowercase_names": request().replace(b"Upgrade: websocket", b"upgrade: WebSocket")
    .replace(b"Sec-WebSocket-Key", b"sec-websocket-key"),
    "lf_only": request().replace(b"\r\n", b"\n"),
    "extension_offered": request(extra=("Sec-WebSocket-Extensions: permessage-deflate",)),
    "repeated_key": request(extra=("Sec-WebSocket-Key: " + KEY,)),
    "many_headers": request(extra=tuple(f"X-H{i}: v" for i in range(200))),
    "head_near_4096": request(extra=("X-Big: " + "a" * 3900,)),
    "post": request(method="POST"),
    "head_method": request(method="HEAD"),
}
DROPPED_REQUESTS = {
    "no_host": request(host=False),
    "no_key": request(key=None),
    "no_upgrade": request(upgrade=None),
    "connection_keep_alive": request(connection="keep-alive"),
    "plain_http": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "head_over_4096": request(extra=("X-Big: " + "a" * 4000,)),
    "two_big_headers": request(extra=("X-A: " + "a" * 2000, "X-B: " + "b" * 2000)),
    "blank_in_name": request().replace(b"Upgrade: websocket", b"Upgrade :websocket"),
    "protocol_not_served": request(extra=("Sec-WebSocket-Protocol: chat",)),
}
FORBIDDEN_REQUESTS = {
    "upgrade_other": request(upgrade="foo"),
    "upgrade_list": request(upgrade="websocket, foo"),
    "unknown_method": request(method="FOO"),
    "no_uri": b"GET\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n\r\n",
    "garbage": b"\x00\x01\x02garbage\r\n\r\n",
}


@pytest.mark.parametrize("name", list(OK_REQUESTS))
def test_requests_that_open(server: Any, name: str) -> None:
    ex = exchange(server, OK_REQUESTS[name], 0.3)
    try:
        assert opened(ex), ex.data[:200]
        assert f"Sec-WebSocket-Accept: {ACCEPT if name != 'short_key' else ''}".encode() in ex.data
        assert not ex.eof
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
    finally:
        ex.close()


@pytest.mark.parametrize("name", list(DROPPED_REQUESTS))
def test_requests_dropped_without_an_answer(server: Any, name: str) -> None:
    ex = exchange(server, DROPPED_REQUESTS[name], 1.0)
    ex.close()
    assert ex.data == b"" and ex.eof
    assert server.get_peer_ids() == []


@pytest.mark.parametrize("name", list(FORBIDDEN_REQUESTS))
def test_requests_answered_403(server: Any, name: str) -> None:
    ex = exchange(server, FORBIDDEN_REQUESTS[name], 1.0)
    ex.close()
    assert ex.data.startswith(FORBIDDEN) and ex.data.endswith(b"<h1>403</h1></body></html>")
    assert ex.eof and server.get_peer_ids() == []


def test_response_bytes_with_protocol_and_headers() -> None:
    srv, port = make_server(supported_protocols=["game", "chat"],
                            handshake_headers=["X-A: 1", "X-B: two"])
    try:
        ex = Exchange(srv, port)
        ex.send(request(extra=("Sec-WebSocket-Protocol: foo, chat, game",)))
        ex.run(2, lambda: b"\r\n\r\n" in ex.data)
        assert ex.head() == (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\n"
            "X-A: 1\r\nX-B: two\r\n\r\n").encode()
        assert pump(srv, lambda: len(srv.get_peer_ids()) == 1)
        assert srv.get_peer(srv.get_peer_ids()[0]).get_selected_protocol() == "chat"
        ex.close()
    finally:
        srv.close()


@pytest.mark.parametrize("offer, selected", [
    ((), None),
    (("Sec-WebSocket-Protocol: chat",), "chat"),
    (("Sec-WebSocket-Protocol: foo, game, chat",), "game"),
    (("Sec-WebSocket-Protocol:   chat  ",), "chat"),
    (("Sec-WebSocket-Protocol: foo", "Sec-WebSocket-Protocol: chat"), "chat"),
    (("Sec-WebSocket-Protocol: GAME",), None),
    (("Sec-WebSocket-Protocol: foo",), None),
])
def test_protocol_selection(offer: tuple[str, ...], selected: str | None) -> None:
    srv, port = make_server(supported_protocols=["game", "chat"])
    try:
        ex = Exchange(srv, port)
        ex.send(request(extra=offer))
        ex.run(1.0)
        if selected is None:
            assert ex.data == b"" and ex.eof
        else:
            assert opened(ex)
            assert f"Sec-WebSocket-Protocol: {selected}\r\n".encode() in ex.head()
            assert pump(srv, lambda: len(srv.get_peer_ids()) == 1)
            assert srv.get_peer(srv.get_peer_ids()[0]).get_selected_protocol() == selected
        ex.close()
    finally:
        srv.close()


@pytest.mark.parametrize("path, lws_url", [
    ("/", "/"),
    ("/a/b?x=1&y=2", "/a/b?x=1&y=2"),
    ("/%41b%20c?x=%41&y", "/Ab c?x=A&y"),
    ("//a///b/./c/../d", "/a/b/d"),
])
def test_requested_url(server: Any, path: str, lws_url: str) -> None:
    ex = exchange(server, request(path), 0.2)
    try:
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
        url = server.get_peer(server.get_peer_ids()[0]).get_requested_url()
        # RAW: the path as sent, as Godot reports it (lws decoded and normalised it)
        assert url == "ws://127.0.0.1" + (path if RAW else lws_url)
    finally:
        ex.close()


def test_request_and_frames_one_byte_at_a_time(server: Any) -> None:
    msgs = [b"a", b"x" * 200, b"y" * 60000]
    stream = request() + frame(0x2, msgs[0]) + frame(0x2, b"x" * 100, fin=False) + \
        frame(0x9, b"p") + frame(0x0, b"x" * 100) + frame(0x2, msgs[2][:30000], fin=False)
    ex = Exchange(server, server.port)
    ex.send(stream, chunk=1)
    tail = frame(0x0, msgs[2][30000:])
    ex.send(tail, chunk=997)
    ex.run(5, lambda: len(ex.packets) == 3)
    try:
        assert ex.packets == msgs
        assert ex.after_head() == b"\x8a\x01p"  # the pong
    finally:
        ex.close()


@pytest.mark.parametrize("frames, wire", [
    (frame(0x2, b"x", rsv=0x40), b"\x88\x0a\x03\xearsv bits"),
    (frame(0x2, b"x", rsv=0x10), b"\x88\x0a\x03\xearsv bits"),
    (frame(0x3, b"x"), b"\x88\x09\x03\xeabad opc"),
    (frame(0x0, b"x"), b"\x88\x0a\x03\xeabad cont"),
    (frame(0x2, b"a", fin=False) + frame(0x2, b"b"), b"\x88\x0a\x03\xeabad cont"),
    (frame(0x9, b"x", fin=False), b"\x88\x0a\x03\xeafrag ctl"),
], ids=["rsv1", "rsv3", "opcode", "continuation_first", "data_in_fragmented", "fragmented_ping"])
def test_framing_errors_close_1002_with_lws_reason(server: Any, frames: bytes,
                                                   wire: bytes) -> None:
    ex = Exchange(server, server.port)
    ex.send(request())
    ex.run(2, lambda: len(ex.data) >= 6 + len(ex.head()))
    ex.send(frames)
    ex.run(0.5)
    try:
        assert ex.after_head() == wire and not ex.eof
        assert ex.packets == []
        # the reply to the close ends it (lws: for the RSV cases only its 5 s close
        # timeout, its parser being out of step after them)
        ex.send(frame(0x8, struct.pack("!H", 1002)))
        ex.run(8)
        assert ex.eof
        assert pump(server, lambda: server.get_peer_ids() == [])
    finally:
        ex.close()


@pytest.mark.parametrize("frames", [
    frame(0x9, b"x" * 126),
    bytes([0x82, 0xFF, 0x80]) + b"\0" * 7 + b"\1\2\3\4",
], ids=["control_126", "length_bit_63"])
def test_frames_that_drop_the_connection(server: Any, frames: bytes) -> None:
    ex = Exchange(server, server.port)
    ex.send(request())
    ex.run(2, lambda: len(ex.data) >= 6 + len(ex.head()))
    ex.send(frames)
    ex.run(2)
    try:
        assert ex.eof and ex.after_head() == b""
        assert pump(server, lambda: server.get_peer_ids() == [])
    finally:
        ex.close()


def test_unmasked_frames(server: Any) -> None:
    ex = Exchange(server, server.port)
    ex.send(request())
    ex.run(2, lambda: len(ex.data) >= 6 + len(ex.head()))
    ex.send(frame(0x2, b"hello", mask=None))
    ex.run(0.5)
    try:
        if RAW:  # RFC 6455 5.1: a server must fail an unmasked frame (lws took it)
            assert ex.after_head() == b"\x88\x0a\x03\xeaunmasked" and ex.packets == []
        else:
            assert ex.after_head() == b"" and ex.packets == [b"hello"]
    finally:
        ex.close()


@pytest.mark.parametrize("body, echo", [
    (struct.pack("!H", 1000) + b"bye", struct.pack("!H", 1000) + b"bye"),
    (b"", b""),
    (b"\x03", b"\x03"),
    (struct.pack("!H", 1005), struct.pack("!H", 1002)),
    (struct.pack("!H", 999), struct.pack("!H", 1002)),
    (struct.pack("!H", 4000) + b"x", struct.pack("!H", 4000) + b"x"),
])
def test_close_frames_echoed(server: Any, body: bytes, echo: bytes) -> None:
    ex = Exchange(server, server.port)
    ex.send(request())
    ex.run(2, lambda: len(ex.data) >= 6 + len(ex.head()))
    ex.send(frame(0x8, body) + frame(0x2, b"late"))
    ex.run(2)
    try:
        assert ex.after_head() == bytes([0x88, len(echo)]) + echo and ex.eof
        assert ex.packets == []
    finally:
        ex.close()


def test_two_pings_get_one_pong(server: Any) -> None:
    ex = Exchange(server, server.port)
    ex.send(request())
    ex.run(2, lambda: len(ex.data) >= 6 + len(ex.head()))
    ex.send(frame(0x9, b"a") + frame(0x9, b"b"))
    ex.run(0.3)
    try:
        assert ex.after_head() == b"\x8a\x01a"
    finally:
        ex.close()


def test_websockets_client_round_trips(ws_connect) -> None:
    srv, port = make_server(supported_protocols=["game"], inbound_buffer_size=4 << 20,
                            outbound_buffer_size=4 << 20)
    try:
        conn = ws_connect(url_of(port) + "/room?x=1", subprotocols=["other", "game"],
                          max_size=None)
        assert conn.subprotocol == "game"
        assert pump(srv, lambda: len(srv.get_peer_ids()) == 1)
        pid = srv.get_peer_ids()[0]
        assert srv.get_peer(pid).get_requested_url() == f"ws://127.0.0.1:{port}/room?x=1"
        conn.recv(timeout=5)  # the id
        for size in (0, 1, 125, 126, 65535, 65536, 1 << 20):
            payload = os.urandom(size)
            conn.send(payload)
            if size == 0:
                continue  # an empty packet is not delivered (Godot's multiplayer peer)
            assert pump(srv, lambda: srv.get_available_packet_count() > 0)
            assert srv.get_packet() == payload
            srv.set_target_peer(pid)
            srv.put_packet(payload)
            assert conn.recv(timeout=5) == payload
        conn.close(4001, "done")
        assert pump(srv, lambda: srv.get_peer_ids() == [])
    finally:
        srv.close()


def test_large_messages_to_a_slow_reader() -> None:
    """A server's large message goes out from the caller's thread when nothing else is
    queued; what the socket does not take then is written later, before anything else."""
    srv, port = make_server(outbound_buffer_size=64 << 20)
    try:
        ex = Exchange(srv, port)
        ex.send(request())
        ex.run(2, lambda: len(ex.data) >= 6 + len(ex.head()))
        pid = srv.get_peer_ids()[0]
        ex.data = b""
        msgs = [os.urandom(8 << 20), b"small", os.urandom(3 << 20), os.urandom(300000)]
        srv.set_target_peer(pid)
        for m in msgs:
            assert srv.put_packet(m) == 0
            srv.poll()
        time.sleep(0.3)  # the socket's buffers fill up meanwhile
        total = sum(len(m) + (10 if len(m) > 65535 else 2) for m in msgs)
        ex.run(10, lambda: len(ex.data) >= total)
        got, data = [], ex.data
        while data:
            n, off = data[1] & 0x7F, 2
            if n == 127:
                (n,), off = struct.unpack_from("!Q", data, 2), 10
            assert data[0] == 0x82 and not data[1] & 0x80
            got.append(data[off:off + n])
            data = data[off + n:]
        assert got == msgs
        ex.close()
    finally:
        srv.close()
