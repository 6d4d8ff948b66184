"""Our ``WebSocketMultiplayerPeer`` server against real Godot 4.6 clients (web build in Chromium).

The GDScript client in ``godot_demo/client.gd`` runs unchanged Godot code:
``WebSocketMultiplayerPeer.create_client()``, ``put_packet``, ``close()``, and for the
``scene_bytes`` scenario ``SceneMultiplayer.send_bytes``.  The server is ours.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from godot_harness import ClientResult, GodotBrowser, RunClients, expected_packet, waiting_marker

from godot_websocket import Error, WebSocketMultiplayerPeer

pytestmark = pytest.mark.e2e

CONNECTED = 2


class OurServer:
    """A WebSocketMultiplayerPeer server that records what happens and optionally echoes."""

    def __init__(self, echo: bool) -> None:
        self.peer = WebSocketMultiplayerPeer()
        self.peer.set_handshake_timeout(10.0)
        assert self.peer.create_server(0, "127.0.0.1") == Error.OK
        self.url = f"ws://127.0.0.1:{self.peer.get_local_port()}"
        self.echo = echo
        self.connected: list[int] = []
        self.disconnected: list[tuple[int, int, str]] = []
        self.packets: dict[int, list[bytes]] = {}
        self.peer.peer_connected.connect(self._on_connected)
        self.peer.peer_disconnected.connect(self._on_disconnected)

    def _on_connected(self, peer_id: int) -> None:
        self.connected.append(peer_id)
        ws = self.peer.get_peer(peer_id)
        assert ws is not None and ws.get_connected_host() == "127.0.0.1"

    def _on_disconnected(self, peer_id: int) -> None:
        ws = self.peer.get_peer(peer_id)  # still registered during the signal, as in Godot
        assert ws is not None
        self.disconnected.append((peer_id, ws.get_close_code(), ws.get_close_reason()))

    def poll(self) -> None:
        self.peer.poll()
        while self.peer.get_available_packet_count():
            sender = self.peer.get_packet_peer()
            data = self.peer.get_packet()
            self.packets.setdefault(sender, []).append(data)
            if self.echo:
                self.peer.set_target_peer(sender)
                assert self.peer.put_packet(data) == Error.OK

    def poll_until(self, predicate: object, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if callable(predicate) and predicate():
                return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        self.peer.close()


@pytest.fixture
def echo_server() -> Iterator[OurServer]:
    server = OurServer(echo=True)
    yield server
    server.close()


def check_ok(result: ClientResult) -> None:
    assert result.exit_code == 0 and not result.timed_out, result.describe()
    assert not result.page_errors, result.describe()


def test_godot_client_gets_its_id_and_packets_both_ways(
    echo_server: OurServer, godot_clients: RunClients
) -> None:
    [result] = godot_clients(echo_server.url, "basic", timeout=40, poll=echo_server.poll)
    check_ok(result)
    [peer_id] = echo_server.connected
    assert peer_id >= 2
    assert result.unique_id == peer_id
    sent = [expected_packet("c0", i) for i in range(3)]
    assert echo_server.packets[peer_id] == sent
    assert result.packets == sent
    assert [r["from"] for r in result.events("packet")] == [1, 1, 1]
    # The engine quits: its freed peer closes the socket with 3001 "destroyed".
    assert echo_server.poll_until(lambda: echo_server.disconnected, 10)
    assert echo_server.disconnected == [(peer_id, 3001, "destroyed")]


def test_large_packets_round_trip(echo_server: OurServer, godot_clients: RunClients) -> None:
    # One packet: a Godot web client counts the browser's bufferedAmount against its
    # 65535-byte outbound buffer, so two 60000-byte sends in one frame would not fit.
    size = 60000
    [result] = godot_clients(
        echo_server.url,
        "basic",
        timeout=40,
        args={"send": 1, "expect": 1, "size": size},
        poll=echo_server.poll,
    )
    check_ok(result)
    [peer_id] = echo_server.connected
    sent = [expected_packet("c0", 0, size)]
    assert echo_server.packets[peer_id] == sent
    assert [r["size"] for r in result.events("packet")] == [size]


def test_broadcast_reaches_several_godot_clients(godot_browser: GodotBrowser) -> None:
    server = OurServer(echo=False)
    try:
        run = godot_browser.start_clients(server.url, "broadcast", count=3, timeout=50)
        assert server.poll_until(lambda: len(server.connected) == 3, 40), server.connected
        payload = b"\x00state\xff" + bytes(range(256))
        server.peer.set_target_peer(WebSocketMultiplayerPeer.TARGET_PEER_BROADCAST)
        assert server.peer.put_packet(payload) == Error.OK
        results = run.wait(poll=server.poll)
        for result in results:
            check_ok(result)
            assert result.packets == [payload], result.describe()
        assert sorted(r.unique_id or 0 for r in results) == sorted(server.connected)
        assert len(set(server.connected)) == 3
        assert server.poll_until(lambda: len(server.disconnected) == 3, 10)
        assert sorted(d[0] for d in server.disconnected) == sorted(server.connected)
    finally:
        server.close()


def test_exclusion_target_skips_one_godot_client(godot_browser: GodotBrowser) -> None:
    """``set_target_peer(-id)`` reaches everyone but ``id``.

    Each client first sends one packet, which tells the server which id belongs to which
    client.  The server then sends P1 to everyone but c1, and P2 to c1 alone: c1 must
    receive only P2 (a leaked P1 would arrive first, packets to a peer keep their order).
    """
    server = OurServer(echo=False)
    try:
        run = godot_browser.start_clients(
            server.url,
            "broadcast",
            count=2,
            timeout=50,
            per_client_args=[{"send": 1, "expect": 1}, {"send": 1, "expect": 1}],
        )
        assert server.poll_until(lambda: len(server.packets) == 2, 40), server.packets
        by_tag = {
            packets[0].split(b":")[0].decode(): pid for pid, packets in server.packets.items()
        }
        assert sorted(by_tag) == ["c0", "c1"]
        server.peer.set_target_peer(-by_tag["c1"])
        assert server.peer.put_packet(b"P1 for all but c1") == Error.OK
        server.peer.set_target_peer(by_tag["c1"])
        assert server.peer.put_packet(b"P2 for c1") == Error.OK
        results = {r.tag: r for r in run.wait(poll=server.poll)}
        for result in results.values():
            check_ok(result)
        assert results["c0"].unique_id == by_tag["c0"]
        assert results["c1"].unique_id == by_tag["c1"]
        assert results["c0"].packets == [b"P1 for all but c1"]
        assert results["c1"].packets == [b"P2 for c1"]
    finally:
        server.close()


def test_server_disconnect_peer_is_seen_by_godot(godot_browser: GodotBrowser) -> None:
    server = OurServer(echo=True)
    try:
        run = godot_browser.start_clients(
            server.url, "disconnect", timeout=40, args={"then": "wait_disconnect"}
        )
        marker = waiting_marker("c0")
        assert server.poll_until(lambda: any(marker in p for p in server.packets.values()), 30), (
            server.packets
        )
        [peer_id] = server.connected
        server.peer.disconnect_peer(peer_id)
        [result] = run.wait(poll=server.poll)
        check_ok(result)
        signal = result.event("peer_disconnected")
        assert (signal["peer"], signal["close_code"], signal["close_reason"]) == (1, 1000, "")
        assert signal["status"] == CONNECTED  # emitted before the clear, as Godot does
        assert server.disconnected and server.disconnected[0][0] == peer_id
    finally:
        server.close()


def test_scene_multiplayer_send_bytes_through_our_server(
    echo_server: OurServer, godot_clients: RunClients
) -> None:
    [result] = godot_clients(echo_server.url, "scene_bytes", timeout=40, poll=echo_server.poll)
    check_ok(result)
    [peer_id] = echo_server.connected
    sent = [expected_packet("c0", i) for i in range(2)]
    assert echo_server.packets[peer_id] == [b"\x03" + d for d in sent]
    assert result.packets == sent
    assert len(result.events("connected_to_server")) == 1
