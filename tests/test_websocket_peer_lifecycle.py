"""WebSocketPeer object lifecycle: garbage collection, interpreter exit, no-thread contexts."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

from websockets.protocol import State as WSState

from godot_websocket import Error, WebSocketPeer
from godot_websocket._core import Context
from ws_frames import read_to_eof

S = WebSocketPeer


def _server_closed(conn: Any) -> bool:
    return conn.protocol.state is WSState.CLOSED


def _hold(conn: Any) -> None:
    for _ in conn:
        pass


def test_deleting_an_open_peer_drops_the_connection(ws_server, poll_until) -> None:
    def handler(conn: Any) -> None:
        conn.send(b"unread")
        _hold(conn)

    srv = ws_server(handler)
    peer = WebSocketPeer()
    assert peer.connect_to_url(srv.url) == Error.OK
    assert poll_until(lambda p=peer: p.get_available_packet_count() == 1, peer)
    assert peer.send(b"x" * 1000) == Error.OK
    conn = srv.next_connection()
    del peer
    gc.collect()
    assert poll_until(lambda: _server_closed(conn))
    assert conn.protocol.close_rcvd is None  # TCP dropped, no close frame (as Godot)
    assert srv.errors == []


def test_deleting_a_connecting_peer(raw_ws_server) -> None:
    srv = raw_ws_server(handshake=False)
    peer = WebSocketPeer()
    assert peer.connect_to_url(srv.url) == Error.OK
    sock = srv.accept()
    del peer
    gc.collect()
    data = read_to_eof(sock, 5)
    assert data.startswith(b"GET / HTTP/1.1\r\n")


def test_deleting_peers_in_every_state(ws_server, raw_ws_server, free_port,
                                       poll_until) -> None:
    srv = ws_server(_hold)
    hang = raw_ws_server(handshake=False)
    peers = [WebSocketPeer() for _ in range(5)]
    peers[0].connect_to_url(srv.url)
    peers[1].connect_to_url(srv.url)
    peers[2].connect_to_url(hang.url)
    peers[3].connect_to_url(f"ws://127.0.0.1:{free_port}")
    # peers[4] never connects
    assert poll_until(lambda ps=peers: ps[0].get_ready_state() == S.STATE_OPEN
                      and ps[1].get_ready_state() == S.STATE_OPEN, peers[:2])
    peers[1].close()  # CLOSING when deleted
    conns = [srv.next_connection(), srv.next_connection()]
    del peers
    gc.collect()
    assert poll_until(lambda: all(_server_closed(c) for c in conns))


def _exit_env() -> dict[str, str]:
    """The child's environment.  These tests check that exiting with open connections
    neither hangs nor crashes; under a sanitizer build the memory still owned by Python
    objects that the interpreter does not free at exit is not a leak, so leak checking
    is off in the child (it stays on for the test suite itself)."""
    env = dict(os.environ)
    if env.get("GWS_SANITIZER"):
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


def test_interpreter_exit_with_open_connections(ws_server, raw_ws_server, free_port) -> None:
    srv = ws_server()  # echo
    hang = raw_ws_server(handshake=False)
    script = textwrap.dedent(
        """
        import sys, time
        from godot_websocket import WebSocketPeer
        from godot_websocket._core import Context

        ok, hang, refused = sys.argv[1:4]
        peers = []
        for i in range(3):
            p = WebSocketPeer()
            p.heartbeat_interval = 0.05
            assert p.connect_to_url(ok) == 0
            peers.append(p)
        nothread = WebSocketPeer(context=Context(threaded=False))
        assert nothread.connect_to_url(ok) == 0
        peers.append(nothread)
        deadline = time.monotonic() + 5
        while any(p.get_ready_state() != 1 for p in peers) and time.monotonic() < deadline:
            for p in peers:
                p.poll()
            time.sleep(0.001)
        assert all(p.get_ready_state() == 1 for p in peers)
        for p in peers:
            assert p.send(b"x" * 60000) == 0
        p = WebSocketPeer()
        assert p.connect_to_url(hang) == 0  # stays CONNECTING
        peers.append(p)
        p = WebSocketPeer()
        assert p.connect_to_url(refused) == 0
        peers.append(p)
        peers[0].close(1000, "closing at exit")
        cycle = [WebSocketPeer()]
        cycle.append(cycle)  # an unreachable cycle: collected at exit
        assert cycle[0].connect_to_url(ok) == 0
        print("ready", flush=True)
        """
    )
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", script, srv.url, hang.url, f"ws://127.0.0.1:{free_port}"],
        capture_output=True, text=True, timeout=20, env=_exit_env(),
    )
    elapsed = time.monotonic() - t0
    assert proc.stdout.strip() == "ready", proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 5, elapsed


def test_interpreter_exit_from_a_thread_while_polling(ws_server) -> None:
    srv = ws_server()
    script = textwrap.dedent(
        """
        import os, sys, threading, time
        from godot_websocket import WebSocketPeer

        p = WebSocketPeer()
        assert p.connect_to_url(sys.argv[1]) == 0

        def pump():
            while True:
                p.poll()
                if p.get_ready_state() == 1:
                    p.send(b"ping")
                time.sleep(0.001)

        threading.Thread(target=pump, daemon=True).start()
        time.sleep(0.3)
        print("ready", flush=True)
        sys.exit(0)
        """
    )
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script, srv.url],
                          capture_output=True, text=True, timeout=20, env=_exit_env())
    assert proc.stdout.strip() == "ready", proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t0 < 5


# ------------------------------------------------------------------ no-thread context


def test_no_thread_context_end_to_end(ws_server, poll_until, poll_for) -> None:
    srv = ws_server(max_size=None)  # echo
    ctx = Context(threaded=False)
    try:
        peer = WebSocketPeer(context=ctx)
        peer.supported_protocols = []
        peer.inbound_buffer_size = 1 << 20
        peer.outbound_buffer_size = 2 << 20
        assert peer.connect_to_url(srv.url + "/nt") == Error.OK
        # all I/O happens inside poll(): without it, not even the TCP connect
        time.sleep(0.2)
        assert srv.connections == []
        conn = srv.next_connection(peers=peer)
        assert conn.request.path == "/nt"
        assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
        assert peer.send_text("hi") == Error.OK
        assert peer.get_current_outbound_buffered_amount() == 2  # nothing written yet
        blob = bytes(range(256)) * 4096  # 1 MiB: many polls each way
        assert peer.put_packet(blob) == Error.OK
        assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
        assert peer.get_packet() == b"hi"
        assert peer.was_string_packet() is True
        assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
        assert peer.get_packet() == blob
        assert peer.get_connected_host() == "127.0.0.1"
        assert peer.get_connected_port() == srv.port
        # heartbeat runs on lws timers, serviced by poll() too
        peer.heartbeat_interval = 0.05
        poll_for(0.3, peer)
        assert peer.get_ready_state() == S.STATE_OPEN
        peer.close(4010, "nt bye")
        assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
        assert (peer.get_close_code(), peer.get_close_reason()) == (4010, "nt bye")
        assert poll_until(lambda: _server_closed(conn))
        assert (conn.protocol.close_rcvd.code, conn.protocol.close_rcvd.reason) == (
            4010, "nt bye")
        # and the same object connects again
        assert peer.connect_to_url(srv.url) == Error.OK
        assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
        assert peer.send(b"again") == Error.OK
        assert poll_until(lambda: peer.get_available_packet_count() == 1, peer)
        assert peer.get_packet() == b"again"
        peer.close(-1)
    finally:
        ctx.shutdown()


def test_no_thread_context_refused_and_server_close(ws_server, free_port,
                                                    poll_until) -> None:
    ctx = Context(threaded=False)
    try:
        peer = WebSocketPeer(context=ctx)
        assert peer.connect_to_url(f"ws://127.0.0.1:{free_port}") == Error.OK
        assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
        assert peer.get_close_code() == -1
        srv = ws_server(lambda conn: conn.close(4020, "go away"))
        assert peer.connect_to_url(srv.url) == Error.OK
        assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
        assert (peer.get_close_code(), peer.get_close_reason()) == (4020, "go away")
    finally:
        ctx.shutdown()


def test_context_shutdown_closes_peers(ws_server, poll_until) -> None:
    srv = ws_server(_hold)
    ctx = Context(threaded=True)
    peer = WebSocketPeer(context=ctx)
    assert peer.connect_to_url(srv.url) == Error.OK
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
    conn = srv.next_connection()
    ctx.shutdown()
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_CLOSED, peer)
    assert peer.get_close_code() == -1
    assert poll_until(lambda: _server_closed(conn))
    # a shut-down context is replaced by the default one on the next connect
    assert peer.connect_to_url(srv.url) == Error.OK
    assert poll_until(lambda: peer.get_ready_state() == S.STATE_OPEN, peer)
    peer.close(-1)
