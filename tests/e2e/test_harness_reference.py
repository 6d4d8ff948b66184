"""Prove the e2e harness with a real Godot 4 client against an independent reference server.

The server (``ws_reference_server.py``, built on the ``websockets`` package) implements the
server side of the Godot 4 WebSocket multiplayer protocol (spec godot-api.md §7.1). These
tests check the harness and the demo client, and pin down what the real engine does on the
wire, so that tests against our own server can rely on both.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator

import pytest
from godot_harness import ClientResult, GodotBrowser, RunClients, expected_packet, waiting_marker
from ws_reference_server import DEFAULT_IDS, ReferenceServer, ServerEvent

pytestmark = pytest.mark.e2e

DISCONNECTED, CONNECTING, CONNECTED = 0, 1, 2  # MultiplayerPeer.ConnectionStatus
FIRST_ID = DEFAULT_IDS[0]


@pytest.fixture
def server() -> Iterator[ReferenceServer]:
    """An echoing reference server; ids are handed out in DEFAULT_IDS order."""
    with ReferenceServer(echo=True) as running:
        yield running


def closed_event(server: ReferenceServer, peer_id: int, timeout: float = 5.0) -> ServerEvent:
    assert server.wait_for(
        lambda events: any(e.kind == "closed" and e.peer_id == peer_id for e in events), timeout
    ), f"server never saw peer {peer_id} close: {server.events}"
    return server.events_of("closed", peer_id)[0]


def check_ok(result: ClientResult) -> None:
    assert result.exit_code == 0 and not result.timed_out, result.describe()
    assert not result.page_errors, result.describe()


def test_basic_exchange(server: ReferenceServer, godot_clients: RunClients) -> None:
    """Id message, put_packet both ways with exact bytes, and the order of events."""
    [result] = godot_clients(server.url, "basic", timeout=30)
    check_ok(result)

    assert result.unique_id == FIRST_ID
    connected = result.event("connected")
    assert (connected["peer"], connected["status"]) == (1, CONNECTED)
    sent = [expected_packet("c0", index) for index in range(3)]
    assert server.connected_ids() == [FIRST_ID]
    assert server.packets_from(FIRST_ID) == sent
    assert not any(event.text for event in server.events_of("packet")), "packets must be binary"
    assert result.packets == sent  # echoed back unchanged
    assert [record["from"] for record in result.events("packet")] == [1, 1, 1]
    assert result.event_names == [
        "start",
        "create_client",
        "connected",
        "status",
        "sent",
        "sent",
        "sent",
        "packet",
        "packet",
        "packet",
        "done",
        "exit",
    ]
    assert result.event("create_client")["status"] == CONNECTING
    assert result.lines[0].startswith("Godot Engine v4."), result.describe()
    # When the program quits, the freed peer closes the browser socket with 3001 "destroyed".
    closed = closed_event(server, FIRST_ID)
    assert (closed.close_code, closed.close_reason) == (3001, "destroyed")


def test_large_packet_round_trip(server: ReferenceServer, godot_clients: RunClients) -> None:
    """A 60000-byte packet goes out and comes back intact (hashes, not hex, in the record)."""
    size = 60000
    [result] = godot_clients(
        server.url, "basic", timeout=30, args={"send": 1, "expect": 1, "size": size}
    )
    check_ok(result)
    payload = expected_packet("c0", 0, size)
    assert len(payload) == size
    assert server.packets_from(FIRST_ID) == [payload]
    record = result.event("packet")
    assert record["size"] == size
    assert "hex" not in record
    assert record["sha256"] == hashlib.sha256(payload).hexdigest()


def test_broadcast_reaches_every_client(godot_browser: GodotBrowser) -> None:
    """Three Godot clients connect; one broadcast from the server reaches each exactly once."""
    payload = b"\x00broadcast\xff" + bytes(range(256))
    with ReferenceServer(echo=False) as server:
        run = godot_browser.start_clients(server.url, "broadcast", count=3, timeout=40)
        ids = server.wait_connected(3, timeout=30)
        assert server.broadcast(payload) == ids
        results = run.wait()
        for result in results:
            check_ok(result)
            assert result.packets == [payload], result.describe()
            assert result.event("packet")["from"] == 1
        assert sorted(ids) == sorted(DEFAULT_IDS[:3])
        assert sorted(result.unique_id or 0 for result in results) == sorted(ids)
        assert [result.tag for result in results] == ["c0", "c1", "c2"]
        for peer_id in ids:
            assert server.packets_from(peer_id) == []


def test_client_close_is_seen_by_server(server: ReferenceServer, godot_clients: RunClients) -> None:
    """close() on the Godot client: status DISCONNECTED at once, no signal; server sees 3001."""
    [result] = godot_clients(server.url, "disconnect", timeout=30)
    check_ok(result)
    assert result.packets == [expected_packet("c0", 0)]
    closed = result.event("closed")
    assert (closed["status"], closed["unique_id"], closed["available"]) == (DISCONNECTED, 0, 0)
    assert result.events("peer_disconnected") == []  # close() emits no signal
    event = closed_event(server, FIRST_ID)
    assert (event.close_code, event.close_reason) == (3001, "destroyed")


def test_server_disconnect_is_seen_by_client(
    server: ReferenceServer, godot_browser: GodotBrowser
) -> None:
    """The server closes with 4000 "bye": peer_disconnected(1) with that code, then DISCONNECTED."""
    run = godot_browser.start_clients(
        server.url, "disconnect", timeout=30, args={"then": "wait_disconnect"}
    )
    [peer_id] = server.wait_connected(1, timeout=25)
    # The client has its echo once it sends the marker; only then close (see README).
    marker = waiting_marker("c0")
    assert server.wait_for(lambda events: any(e.data == marker for e in events), timeout=10)
    server.disconnect(peer_id, 4000, "bye")
    [result] = run.wait()
    check_ok(result)

    assert server.packets_from(peer_id) == [expected_packet("c0", 0), marker]
    signal = result.event("peer_disconnected")
    # Emitted inside poll() before the clear: the status still reads CONNECTED.
    expected = {"peer": 1, "status": CONNECTED, "close_code": 4000, "close_reason": "bye"}
    assert {key: signal.get(key) for key in expected} == expected
    assert signal["available"] == 0
    # The server echoed the marker just before closing. Godot drains a WebSocketPeer only
    # while it is OPEN, so when the echo and the close arrive before the same poll() the
    # echo stays unread in the WebSocketPeer and is dropped by the clear. Either way it is
    # accounted for exactly once: delivered, or reported as unread.
    assert result.packets[0] == expected_packet("c0", 0)
    assert result.packets[1:] + [marker] * signal["unread"] == [marker], result.describe()
    statuses = [(r["previous"], r["status"]) for r in result.events("status")]
    assert statuses == [(CONNECTING, CONNECTED), (CONNECTED, DISCONNECTED)]
    names = result.event_names
    assert names.index("peer_disconnected") < names.index("disconnected") < names.index("exit")
    event = closed_event(server, peer_id)
    assert event.close_code == 4000


@pytest.mark.parametrize(
    "id_message",
    [
        pytest.param(lambda peer_id: struct.pack("<i", peer_id)[:3], id="three-bytes"),
        pytest.param(lambda peer_id: struct.pack("<i", 1), id="id-one"),
    ],
)
def test_invalid_id_message_fails_the_connection(
    godot_browser: GodotBrowser, id_message: Callable[[int], bytes]
) -> None:
    """A first message that is not a 4-byte id >= 2: the client closes (1000) and never connects."""
    with ReferenceServer(echo=False, id_message=id_message) as server:
        [result] = godot_browser.run_clients(server.url, "broadcast", timeout=30)
        assert result.exit_code == 4, result.describe()
        assert result.events("connected") == []
        failed = result.event("connection_failed")
        assert failed["unique_id"] == 0  # cleared again
        assert any("Invalid ID received from server" in line for line in result.error_lines), (
            result.describe()
        )
        event = closed_event(server, DEFAULT_IDS[0])
        assert (event.close_code, event.close_reason) == (1000, "")


def test_scene_multiplayer_send_bytes(server: ReferenceServer, godot_clients: RunClients) -> None:
    """send_bytes(data, 1) travels as 03 + data; 03 + data from the server becomes peer_packet."""
    [result] = godot_clients(server.url, "scene_bytes", timeout=30)
    check_ok(result)
    sent = [expected_packet("c0", index) for index in range(2)]
    assert server.packets_from(FIRST_ID) == [b"\x03" + data for data in sent]
    assert result.packets == sent
    assert [record["from"] for record in result.events("packet")] == [1, 1]
    assert len(result.events("connected_to_server")) == 1


def test_argument_layouts_do_not_crash_the_engine(
    server: ReferenceServer, godot_clients: RunClients
) -> None:
    """Regression test for the headless canvas-resize crash worked around in the page.

    Without the workaround these argument lists made startGame() reject with
    "table index is out of bounds" / "null function" (see README.md).
    """
    layouts: list[dict[str, object]] = [{"then": "quit"}, {"zzz": "w"}, {"zzz": "wait_disconnect"}]
    results = godot_clients(server.url, "basic", count=3, timeout=40, per_client_args=layouts)
    for result, extra in zip(results, layouts):
        check_ok(result)
        assert result.args[-1] == "--{}={}".format(*next(iter(extra.items())))
        assert result.packets == [expected_packet(result.tag, index) for index in range(3)]
    assert sorted(result.unique_id or 0 for result in results) == sorted(DEFAULT_IDS[:3])
