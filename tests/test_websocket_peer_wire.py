"""The client's side of the wire, byte for byte: the upgrade request, the checks of the
response, and frames cut at every possible place.  (ws:// clients speak the protocol in
the core itself, csrc/wsclient.c; wss:// ones through libwebsockets.)"""

from __future__ import annotations

import base64
import os
import socket
import struct
import time
from typing import Any

import pytest

from godot_websocket import Error, WebSocketPeer
from ws_frames import accept_key, encode_frame, read_to_eof

S = WebSocketPeer
TIMEOUT = 5.0


def read_request(sock: socket.socket) -> tuple[list[str], str]:
    sock.settimeout(TIMEOUT)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "client closed during the handshake"
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    key = next(v.strip() for n, _, v in (ln.partition(":") for ln in lines[1:])
               if n.strip().lower() == "sec-websocket-key")
    return lines, key


def response(key: str, *extra: str, status: str = "HTTP/1.1 101 Switching Protocols",
             accept: str | None = None, upgrade: str = "websocket",
             connection: str = "Upgrade") -> bytes:
    lines = [status, f"Upgrade: {upgrade}", f"Connection: {connection}",
             f"Sec-WebSocket-Accept: {accept if accept is not None else accept_key(key)}",
             *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def start(raw_ws_server: Any, connect_peer: Any,
          **props: Any) -> tuple[WebSocketPeer, socket.socket, list[str], str]:
    srv = raw_ws_server(handshake=False)
    peer = connect_peer(srv.url + "/a/b?c=d", expect_open=False, **props)
    sock = srv.accept(peers=peer)
    lines, key = read_request(sock)
    return peer, sock, lines, key


@pytest.mark.skipif(os.environ.get("GODOT_WEBSOCKET_CLIENT") == "lws",
                    reason="the lws client adds Pragma and Cache-Control")
def test_request_is_godots_header_list(raw_ws_server, connect_peer) -> None:
    _, _, lines, key = start(raw_ws_server, connect_peer, supported_protocols=["p1", "p2"],
                             handshake_headers=["X-One: 1", "X-Two: 2"])
    port = lines[1].split(":")[-1]
    assert lines == [
        "GET /a/b?c=d HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: p1,p2",
        "X-One: 1",
        "X-Two: 2",
    ]
    assert len(base64.b64decode(key)) == 16


def test_response_byte_by_byte_then_frames_in_the_same_packet(raw_ws_server, connect_peer,
                                                              poll_until) -> None:
    peer, sock, _, key = start(raw_ws_server, connect_peer)
    for b in response(key, "Sec-WebSocket-Extensions:", "X-Whatever: y"):
        sock.send(bytes([b]))
        time.sleep(0.0002)
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
    # frames glued to the end of a response are not lost either
    peer2, sock2, _, key2 = start(raw_ws_server, connect_peer)
    sock2.sendall(response(key2) + encode_frame(0x2, b"\x02\x00\x00\x00") +
                  encode_frame(0x1, b"hi"))
    assert poll_until(lambda: peer2.get_available_packet_count() == 2, peer2)
    assert peer2.get_packet() == b"\x02\x00\x00\x00"
    assert peer2.get_packet() == b"hi"
    assert peer2.was_string_packet()


@pytest.mark.parametrize(
    ("kwargs", "extra"),
    [
        ({"status": "HTTP/1.1 200 OK"}, ()),
        ({"status": "HTTP/1.1 1010 Switching"}, ()),
        ({"accept": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, ()),
        ({"accept": ""}, ()),
        ({"upgrade": "h2c"}, ()),
        ({"connection": "keep-alive"}, ()),
        ({}, ("Sec-WebSocket-Extensions: permessage-deflate",)),
        ({}, ("Sec-WebSocket-Protocol: chat",)),  # nothing was offered
        ({}, ("X-Big: " + "x" * 5000,)),  # the head is over 4096 bytes
    ],
    ids=["200", "1010", "bad-accept", "empty-accept", "upgrade", "connection", "extension",
         "unoffered-protocol", "huge-head"],
)
def test_bad_responses_fail_the_connection(raw_ws_server, connect_peer, poll_until,
                                           kwargs: dict[str, str], extra: tuple[str, ...]) -> None:
    peer, sock, _, key = start(raw_ws_server, connect_peer)
    sock.sendall(response(key, *extra, **kwargs))
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == -1


def test_response_variants_that_are_fine(raw_ws_server, connect_peer, poll_until) -> None:
    for kwargs, extra, proto in [
        ({"upgrade": "WebSocket", "connection": "keep-alive, Upgrade"}, (), ""),
        ({"connection": "upgrade"}, ("sec-websocket-protocol: p2",), "p2"),
    ]:
        peer, sock, _, key = start(raw_ws_server, connect_peer,
                                   supported_protocols=["p1", "p2"] if proto else [])
        sock.sendall(response(key, *extra, **kwargs))
        assert poll_until(lambda p=peer: p.get_ready_state() != S.STATE_CONNECTING, peer)
        assert peer.get_ready_state() == S.STATE_OPEN
        assert peer.get_selected_protocol() == proto


def test_frames_cut_everywhere(raw_ws_server, connect_peer, poll_until) -> None:
    peer, sock, _, key = start(raw_ws_server, connect_peer, inbound_buffer_size=1 << 20)
    sock.sendall(response(key))
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
    msgs = [b"", b"a", b"x" * 125, b"y" * 126, os.urandom(65535), os.urandom(65536),
            os.urandom(70000)]
    wire = b"".join(encode_frame(0x2, m) for m in msgs)
    wire += encode_frame(0x9, b"pp")  # a ping among them
    # masked frames from a server are accepted (as the lws client does)
    wire += encode_frame(0x2, b"masked", mask=b"\x01\x02\x03\x04")
    wire += encode_frame(0x2, os.urandom(3), fin=False) + encode_frame(0x0, b"", fin=False)
    tail = encode_frame(0x0, b"end", fin=True)
    # cut into pieces of every size from 1 to 13 bytes, then one big piece
    i, n = 0, 1
    while i < len(wire) and n < 14:
        sock.sendall(wire[i:i + n])
        i += n
        n += 1
        peer.poll()
    sock.sendall(wire[i:] + tail)
    expect = [*msgs, b"masked"]
    assert poll_until(lambda: peer.get_available_packet_count() == len(expect) + 1, peer)
    got = [peer.get_packet() for _ in range(len(expect) + 1)]
    assert got[:-1] == expect
    assert got[-1][3:] == b"end" and len(got[-1]) == 6
    sock.settimeout(TIMEOUT)
    head = sock.recv(2)
    assert head[0] == 0x8A and head[1] == 0x80 | 2  # the pong, masked
    mask = sock.recv(4)
    assert bytes(b ^ mask[k % 4] for k, b in enumerate(sock.recv(2))) == b"pp"


def test_close_frame_kept_behind_back_pressure(raw_ws_server, connect_peer, poll_until) -> None:
    # messages and the close frame arrive together while reading is held back: the close
    # is seen only after the messages were read, and they all were delivered
    peer, sock, _, key = start(raw_ws_server, connect_peer, inbound_buffer_size=1000)
    sock.sendall(response(key))
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
    blobs = [bytes([i]) * 1000 for i in range(5)]
    sock.sendall(b"".join(encode_frame(0x2, b) for b in blobs) +
                 encode_frame(0x8, struct.pack("!H", 4000) + b"bye"))
    got: list[bytes] = []

    def step() -> bool:
        if peer.get_ready_state() == S.STATE_OPEN and peer.get_available_packet_count():
            got.append(peer.get_packet())
        return peer.get_ready_state() == S.STATE_CLOSED

    assert poll_until(step, peer)
    assert got == blobs
    assert (peer.get_close_code(), peer.get_close_reason()) == (4000, "bye")
    data = read_to_eof(sock, TIMEOUT)
    assert data[0] == 0x88  # our echo, then EOF


def test_stalled_response_is_not_open(raw_ws_server, connect_peer, poll_for) -> None:
    peer, sock, _, key = start(raw_ws_server, connect_peer)
    sock.sendall(response(key)[:-2])  # everything but the final CRLF
    poll_for(0.2, peer)
    assert peer.get_ready_state() == S.STATE_CONNECTING
    sock.sendall(b"\r\n")
    poll_for(0.2, peer)
    assert peer.get_ready_state() == S.STATE_OPEN
    assert peer.send(b"x") == Error.OK


def _to_eof(sock: socket.socket) -> None:
    """Until the client ends TCP (a reset counts: it may close with input unread)."""
    try:
        read_to_eof(sock, TIMEOUT)
    except ConnectionResetError:
        pass


def _read_close(sock: socket.socket) -> bytes:
    """Reads until a whole close frame from the (masking) client arrived; its payload."""
    sock.settimeout(TIMEOUT)
    data = b""
    while True:
        while len(data) >= 2:
            n, off = data[1] & 0x7F, 2
            if n == 126:
                if len(data) < 4:
                    break
                (n,), off = struct.unpack_from("!H", data, 2), 4
            off += 4 if data[1] & 0x80 else 0
            if len(data) < off + n:
                break
            body = bytes(data[off:off + n])
            if data[1] & 0x80:
                m = data[off - 4:off]
                body = bytes(b ^ m[i & 3] for i, b in enumerate(body))
            if data[0] & 0x0F == 0x8:
                return body
            data = data[off + n:]
        chunk = sock.recv(65536)
        assert chunk, "client closed before its close frame"
        data += chunk


@pytest.mark.skipif(os.environ.get("GODOT_WEBSOCKET_CLIENT") == "lws",
                    reason="the core's own ws:// client (wsclient.c)")
def test_reply_to_our_close_while_reading_is_held_back(raw_ws_server, connect_peer,
                                                       poll_until) -> None:
    # unread messages hold reading back; we close: the reply must still end the
    # connection at once (not after the 5 s wait for it)
    peer, sock, _, key = start(raw_ws_server, connect_peer, inbound_buffer_size=1000)
    sock.sendall(response(key))
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
    sock.sendall(b"".join(encode_frame(0x2, bytes([i]) * 1000) for i in range(5)))
    assert poll_until(lambda: peer.get_available_packet_count() >= 1, peer)
    peer.close(4001, "done")
    t0 = time.monotonic()
    assert _read_close(sock) == struct.pack("!H", 4001) + b"done"
    sock.sendall(encode_frame(0x8, struct.pack("!H", 4001)))
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    _to_eof(sock)
    assert time.monotonic() - t0 < 4  # not the 5 s wait


@pytest.mark.skipif(os.environ.get("GODOT_WEBSOCKET_CLIENT") == "lws",
                    reason="the core's own ws:// client (wsclient.c)")
@pytest.mark.parametrize("kind", ["1009", "1007"])
def test_reply_after_a_failure_is_recognised(raw_ws_server, connect_peer, poll_until,
                                             kind: str) -> None:
    # the failing frame arrives with the start of the next one; the rest of that comes
    # after our close, then the reply: it must be recognised, and TCP end at once
    peer, sock, _, key = start(raw_ws_server, connect_peer, inbound_buffer_size=100)
    sock.sendall(response(key))
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
    bad = encode_frame(0x2, b"z" * 5000) if kind == "1009" else encode_frame(0x1, b"\xff")
    after = encode_frame(0x2, b"m" * 300)
    sock.sendall(bad + after[:3])
    rest = after[3:]
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == int(kind)
    t0 = time.monotonic()
    assert _read_close(sock) == struct.pack("!H", int(kind))
    sock.sendall(rest + encode_frame(0x8, struct.pack("!H", int(kind))))
    _to_eof(sock)
    assert time.monotonic() - t0 < 4  # not the 5 s wait


def test_large_messages_to_a_slow_reader(raw_ws_server, connect_peer, poll_until) -> None:
    # a large message goes out from the caller's thread (masked in a block of the pool);
    # what the socket does not take is written later, before anything else
    peer, sock, _, key = start(raw_ws_server, connect_peer, outbound_buffer_size=64 << 20)
    sock.sendall(response(key))
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
    msgs = [os.urandom(8 << 20), b"small", os.urandom(3 << 20), os.urandom(300000)]
    for m in msgs:
        assert peer.send(m) == Error.OK
        peer.poll()
    time.sleep(0.3)  # the socket's buffers fill up meanwhile
    sock.settimeout(TIMEOUT)
    data = bytearray()
    got: list[bytes] = []
    deadline = time.monotonic() + 10
    while len(got) < len(msgs) and time.monotonic() < deadline:
        peer.poll()
        data += sock.recv(1 << 20)
        while len(data) >= 2:
            n, off = data[1] & 0x7F, 2
            if n == 126:
                (n,), off = struct.unpack_from("!H", data, 2), 4
            elif n == 127:
                (n,), off = struct.unpack_from("!Q", data, 2), 10
            if len(data) < off + 4 + n:
                break
            assert data[0] == 0x82 and data[1] & 0x80
            mask = bytes(data[off:off + 4])
            body = bytes(data[off + 4:off + 4 + n])
            key = (mask * (n // 4 + 1))[:n]
            got.append((int.from_bytes(body, "little") ^ int.from_bytes(key, "little"))
                       .to_bytes(n, "little"))
            del data[:off + 4 + n]
    assert got == msgs
