"""The wire protocol (spec §7.1) against another WebSocket implementation: the python
``websockets`` package acting as a Godot client of our server, and as a Godot server for our
client, including malformed id messages (spec §1.4, §10.2)."""

from __future__ import annotations

import logging
import struct
import threading

import pytest

from godot_websocket import Error, WebSocketMultiplayerPeer, WebSocketPeer
from mp_helpers import (
    CONNECTED,
    CONNECTING,
    DISCONNECTED,
    Events,
    collect,
    drain,
    make_server,
    pump,
    pump_for,
    url_of,
)

W = WebSocketMultiplayerPeer
# the shared ws_connect fixture opens websockets connections without a context manager
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")


# ------------------------------------------------------------------ websockets as client


def test_websockets_client_gets_its_id_then_raw_packets(ws_connect) -> None:
    server, port = make_server()
    ev = Events(server)
    try:
        conn = ws_connect(url_of(port))
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
        (cid,) = server.get_peer_ids()
        first = conn.recv(timeout=5)
        assert isinstance(first, bytes)  # a binary frame
        assert first == struct.pack("<i", cid) and 2 <= cid <= 2**31 - 1
        assert ev.log == [("connected", cid)]
        # client -> server: raw payloads, no header; text frames are taken as bytes
        conn.send(b"\x00\x01binary")
        conn.send("text é")
        got = collect(server, server, 2)
        assert got == [(cid, b"\x00\x01binary"), (cid, "text é".encode())]
        # server -> client: the bytes exactly, binary frames
        server.set_target_peer(cid)
        assert server.put_packet(b"\xffpayload") == Error.OK
        server.set_target_peer(0)
        assert server.put_packet(b"broadcast") == Error.OK
        assert conn.recv(timeout=5) == b"\xffpayload"
        assert conn.recv(timeout=5) == b"broadcast"
        # a clean close from the client
        conn.close()
        assert pump(server, lambda: ev.disconnected() == [cid])
        assert server.get_peer_ids() == []
    finally:
        server.close()


def test_many_websockets_clients_get_distinct_ids(ws_connect) -> None:
    server, port = make_server()
    try:
        conns = [ws_connect(url_of(port)) for _ in range(10)]
        assert pump(server, lambda: len(server.get_peer_ids()) == 10)
        ids = [struct.unpack("<i", c.recv(timeout=5))[0] for c in conns]
        assert sorted(ids) == sorted(server.get_peer_ids())
        assert len(set(ids)) == 10
        for c, cid in zip(conns, ids):
            c.send(b"%d" % cid)
        got = collect(server, server, 10)
        assert sorted(got) == sorted((cid, b"%d" % cid) for cid in ids)
    finally:
        server.close()


def test_websockets_client_with_subprotocol(ws_connect) -> None:
    server, port = make_server(supported_protocols=["godot-game"])
    try:
        conn = ws_connect(url_of(port), subprotocols=["other", "godot-game"])
        assert conn.subprotocol == "godot-game"
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
        (cid,) = server.get_peer_ids()
        assert server.get_peer(cid).get_selected_protocol() == "godot-game"
        assert conn.recv(timeout=5) == struct.pack("<i", cid)
    finally:
        server.close()


def test_disconnect_peer_closes_websockets_client_cleanly(ws_connect) -> None:
    from websockets.exceptions import ConnectionClosedOK

    server, port = make_server()
    try:
        conn = ws_connect(url_of(port))
        assert pump(server, lambda: len(server.get_peer_ids()) == 1)
        (cid,) = server.get_peer_ids()
        conn.recv(timeout=5)
        server.disconnect_peer(cid)
        server.poll()
        with pytest.raises(ConnectionClosedOK):
            conn.recv(timeout=5)
        assert conn.close_code == 1000 and conn.close_reason == ""
    finally:
        server.close()


# ------------------------------------------------------------------ websockets as server


def godot_server(ws_server, first: bytes | str | None, then: list[bytes] = (),  # type: ignore[assignment]
                 **kwargs: object):
    """A websockets server that sends ``first`` (the id message) and ``then``; records the
    close code of every connection and echoes everything else."""
    closes: list[object] = []
    received: list[object] = []

    def handler(conn) -> None:
        try:
            if first is not None:
                conn.send(first)
            for m in then:
                conn.send(m)
            for msg in conn:
                received.append(msg)
                conn.send(msg)
        finally:
            closes.append(conn.close_code)

    srv = ws_server(handler, **kwargs)
    srv.closes = closes
    srv.received = received
    return srv


def test_our_client_against_a_websockets_godot_server(ws_server) -> None:
    srv = godot_server(ws_server, struct.pack("<i", 1234567))
    client = W()
    ev = Events(client)
    try:
        assert client.create_client(srv.url) == Error.OK
        assert pump(client, lambda: client.get_connection_status() == CONNECTED)
        assert client.get_unique_id() == 1234567
        assert struct.pack("<i", 1234567) == b"\x87\xd6\x12\x00"  # spec §7.1 example
        assert ev.log == [("connected", 1)]
        client.set_target_peer(99)  # ignored by clients
        assert client.put_packet(b"ping") == Error.OK
        assert collect(client, client, 1) == [(1, b"ping")]
        assert srv.received == [b"ping"]  # binary, unchanged
        client.close()
        assert pump([], lambda: srv.closes, timeout=3)
        assert srv.closes == [1006]  # close() drops TCP, no close frame
        assert ev.log == [("connected", 1)]
    finally:
        client.close()


def test_packets_sent_with_the_id_arrive_after_peer_connected(ws_server) -> None:
    srv = godot_server(ws_server, struct.pack("<i", 77), [b"a", b"b", b"c"])
    client = W()
    seen: list[object] = []
    client.peer_connected.connect(lambda i: seen.append(("connected", i,
                                                         client.get_available_packet_count())))
    try:
        client.create_client(srv.url)
        assert pump(client, lambda: client.get_available_packet_count() == 3)
        assert seen == [("connected", 1, 0)]
        assert drain(client) == [(1, b"a"), (1, b"b"), (1, b"c")]
        assert client.get_unique_id() == 77
    finally:
        client.close()


def test_text_frame_id_is_accepted(ws_server) -> None:
    """The first message is the id whether text or binary (spec §7.1.3)."""
    srv = godot_server(ws_server, "\x10\x00\x00\x00")  # 4 UTF-8 bytes, id 16
    client = W()
    ev = Events(client)
    try:
        client.create_client(srv.url)
        assert pump(client, lambda: client.get_connection_status() == CONNECTED)
        assert client.get_unique_id() == 16
        assert ev.log == [("connected", 1)]
    finally:
        client.close()


@pytest.mark.parametrize("payload,shown_id", [
    (b"\x05\x00\x00", 0),                     # 3 bytes
    (b"\x05\x00\x00\x00\x00", 0),             # 5 bytes
    (b"", 0),                                 # empty
    (b"hello world", 0),                      # not an id at all
    (struct.pack("<i", 1), 1),                # the server's own id
    (struct.pack("<i", 0), 0),
    (struct.pack("<i", -5), -5),              # negative (signed little-endian)
    (struct.pack("<i", -2147483648), -2147483648),
    (struct.pack(">i", 7), None),             # big-endian 7 = LE 117440512: valid!
], ids=["3bytes", "5bytes", "empty", "text", "id1", "id0", "negative", "int_min",
        "big_endian"])
def test_malformed_id(ws_server, payload: bytes, shown_id: int | None,
                      caplog: pytest.LogCaptureFixture) -> None:
    srv = godot_server(ws_server, payload)
    client = W()
    ev = Events(client)
    try:
        with caplog.at_level(logging.ERROR, logger="godot_websocket"):
            client.create_client(srv.url)
            if shown_id is None:
                assert pump(client, lambda: client.get_connection_status() == CONNECTED)
                assert client.get_unique_id() == 117440512
                return
            # the poll that reads the id rejects it; the rejected value stays visible
            # until the connection is cleared (spec §1.2 get_unique_id)
            assert pump(client, lambda: client.get_connection_status() == DISCONNECTED or
                        client.get_peer(1).get_ready_state() in (
                            WebSocketPeer.STATE_CLOSING, WebSocketPeer.STATE_CLOSED))
            if client.get_connection_status() == CONNECTING:
                assert client.get_unique_id() == shown_id
            assert pump(client, lambda: client.get_connection_status() == DISCONNECTED)
        assert client.get_unique_id() == 0
        assert ev.log == []  # no peer_connected, no peer_disconnected
        assert any("Invalid ID" in r.getMessage() for r in caplog.records
                   if r.name == "godot_websocket")
        # Godot closes with a normal close frame: 1000, no reason
        assert pump([], lambda: srv.closes, timeout=3)
        assert srv.closes == [1000]
        assert srv.received == []
    finally:
        client.close()


def test_only_the_first_message_is_the_id(ws_server) -> None:
    """A later 4-byte message is a packet, not a new id."""
    srv = godot_server(ws_server, struct.pack("<i", 50), [struct.pack("<i", 60)])
    client = W()
    try:
        client.create_client(srv.url)
        assert pump(client, lambda: client.get_available_packet_count() == 1)
        assert client.get_unique_id() == 50
        assert drain(client) == [(1, struct.pack("<i", 60))]
    finally:
        client.close()


def test_websockets_server_closing_gives_disconnected(ws_server) -> None:
    release = threading.Event()

    def handler(conn) -> None:
        conn.send(struct.pack("<i", 42))
        release.wait(5)
        conn.close(4001, "bye")

    srv = ws_server(handler)
    client = W()
    ev = Events(client)
    inside: list[int] = []
    client.peer_disconnected.connect(lambda i: inside.append(client.get_connection_status()))
    try:
        client.create_client(srv.url)
        assert pump(client, lambda: client.get_connection_status() == CONNECTED)
        release.set()
        assert pump(client, lambda: client.get_connection_status() == DISCONNECTED)
        assert ev.log == [("connected", 1), ("disconnected", 1)]
        assert inside == [CONNECTED]
    finally:
        client.close()


def test_client_waits_for_its_id_forever_once_open(ws_server) -> None:
    """Godot pitfall §10.1: the handshake timeout stops applying once the WebSocket is OPEN."""
    srv = godot_server(ws_server, None)  # handshakes, never sends an id
    client = W()
    ev = Events(client)
    try:
        client.create_client(srv.url)
        assert pump(client, lambda: client.get_peer(1).get_ready_state() ==
                    WebSocketPeer.STATE_OPEN)
        client.handshake_timeout = 0.2
        pump_for(client, 0.8)  # four times the timeout
        assert client.get_connection_status() == CONNECTING
        assert client.get_peer(1).get_ready_state() == WebSocketPeer.STATE_OPEN
        assert ev.log == []
        assert client.put_packet(b"x") == Error.ERR_UNCONFIGURED
    finally:
        client.close()
