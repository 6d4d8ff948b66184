"""SceneMultiplayer over real WebSocketMultiplayerPeer sockets on 127.0.0.1.

A Python server and Python clients, each a SceneMultiplayer: RPCs with many argument
types both ways, client-to-client traffic through the relay, authentication, peers that
leave.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from godot_websocket import Error, MultiplayerPeer, WebSocketMultiplayerPeer
from godot_websocket.scene import SceneMultiplayer, SharedSecretAuth, rpc
from godot_websocket.variant import (
    Color,
    NodePath,
    PackedInt32Array,
    StringName,
    Vector2,
    Vector3i,
)

PollUntil = Callable[..., Any]

VALUES: list[Any] = [
    0, -129, 2**33, True, False, 0.1, "héllo", StringName("sn"), NodePath("Main/Child:x"),
    Vector2(1.5, -2), Vector3i(1, 2, 3), Color(1, 0, 0, 1), [1, "a", None, [2.5]],
    {"k": [1, 2], 3: None}, b"\x00\xff", None, PackedInt32Array([7, -7]),
]


class Lobby:
    """The same script on every side (as a Godot project would have)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.mp: SceneMultiplayer | None = None
        self.calls: list[tuple[str, int, tuple[Any, ...]]] = []

    def _record(self, method: str, *args: Any) -> None:
        assert self.mp is not None
        self.calls.append((method, self.mp.get_remote_sender_id(), args))

    @rpc("any_peer")
    def c2s(self, *args: Any) -> None:
        self._record("c2s", *args)

    @rpc
    def s2c(self, *args: Any) -> None:
        self._record("s2c", *args)

    @rpc("any_peer", "call_local")
    def shout(self, text: str) -> None:
        self._record("shout", text)

    @rpc("any_peer", "call_remote", "unreliable_ordered", 2)
    def whisper(self, text: str) -> None:
        self._record("whisper", text)


class Side:
    def __init__(self, transport: WebSocketMultiplayerPeer, name: str) -> None:
        self.transport = transport
        self.mp = SceneMultiplayer(transport)
        self.lobby = Lobby(name)
        self.lobby.mp = self.mp
        self.mp.register_node("/root/Lobby", self.lobby)
        self.events: list[tuple[Any, ...]] = []
        for signal in ("peer_connected", "peer_disconnected", "peer_packet",
                       "connected_to_server", "server_disconnected",
                       "peer_authentication_failed", "peer_authenticating"):
            getattr(self.mp, signal).connect(
                lambda *args, _s=signal: self.events.append((_s, *args)))

    def poll(self) -> None:
        self.mp.poll()

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [e[1:] for e in self.events if e[0] == name]


@pytest.fixture
def world() -> Iterator[Callable[..., tuple[Side, list[Side]]]]:
    made: list[WebSocketMultiplayerPeer] = []

    def make(clients: int = 2, configure: Callable[[Side], None] | None = None,
             configure_client: Callable[[Side], None] | None = None) -> tuple[Side, list[Side]]:
        transport = WebSocketMultiplayerPeer()
        made.append(transport)
        assert transport.create_server(0, "127.0.0.1") == Error.OK
        server = Side(transport, "server")
        if configure:
            configure(server)
        url = f"ws://127.0.0.1:{transport.get_local_port()}"
        sides = []
        for index in range(clients):
            peer = WebSocketMultiplayerPeer()
            made.append(peer)
            assert peer.create_client(url) == Error.OK
            side = Side(peer, f"client{index}")
            if configure_client:
                configure_client(side)
            sides.append(side)
        return server, sides

    yield make
    for transport in made:
        transport.close()


def test_rpcs_both_ways_and_relay(world: Any, poll_until: PollUntil) -> None:
    server, (a, b) = world(2)
    everyone = [server, a, b]
    assert poll_until(lambda: len(server.mp.get_peers()) == 2 and len(a.mp.get_peers()) == 2
                      and len(b.mp.get_peers()) == 2, everyone)
    a_id, b_id = a.mp.get_unique_id(), b.mp.get_unique_id()
    assert sorted(server.mp.get_peers()) == sorted([a_id, b_id])
    assert a.mp.get_peers() == [1, b_id] and b.mp.get_peers() == [1, a_id]
    assert a.named("connected_to_server") == [()]

    assert a.mp.rpc_id(1, "/root/Lobby", "c2s", *VALUES) == Error.OK
    assert poll_until(lambda: server.lobby.calls, everyone)
    assert server.lobby.calls == [("c2s", a_id, tuple(VALUES))]
    for value, got in zip(VALUES, server.lobby.calls[0][2]):
        assert type(got) is type(value), (value, got)

    assert server.mp.rpc_id(b_id, "Lobby", "s2c", *VALUES) == Error.OK
    assert poll_until(lambda: b.lobby.calls, everyone)
    assert b.lobby.calls == [("s2c", 1, tuple(VALUES))]

    # Client to client through the server: the receiver sees the real sender.
    assert a.mp.rpc_id(b_id, "Lobby", "whisper", "psst") == Error.OK
    assert a.mp.send_bytes(b"to-b", b_id) == Error.OK
    assert a.mp.send_bytes(b"to-all") == Error.OK
    assert poll_until(lambda: len(b.lobby.calls) == 2 and len(b.named("peer_packet")) == 2,
                      everyone)
    assert b.lobby.calls[1] == ("whisper", a_id, ("psst",))
    assert b.named("peer_packet") == [(a_id, b"to-b"), (a_id, b"to-all")]
    assert poll_until(lambda: server.named("peer_packet"), everyone)
    assert server.named("peer_packet") == [(a_id, b"to-all")]
    assert not [c for c in server.lobby.calls if c[0] == "whisper"]

    # call_local broadcast: runs on the caller with its own id, and everywhere else.
    assert b.mp.rpc("Lobby", "shout", "hey") == Error.OK
    assert b.lobby.calls[-1] == ("shout", b_id, ("hey",))
    assert poll_until(lambda: a.lobby.calls and server.lobby.calls[-1][0] == "shout", everyone)
    assert a.lobby.calls == [("shout", b_id, ("hey",))]
    assert server.lobby.calls[-1] == ("shout", b_id, ("hey",))

    # Authority: "s2c" is authority-mode; a client may not call it on another client.
    assert a.mp.rpc_id(b_id, "Lobby", "s2c", 1) == Error.OK
    assert a.mp.rpc_id(b_id, "Lobby", "whisper", "after") == Error.OK
    assert poll_until(lambda: b.lobby.calls[-1][0] == "whisper", everyone)
    assert [c[0] for c in b.lobby.calls].count("s2c") == 1

    # A client leaves: the other one is told (DEL_PEER).
    a.transport.close()
    assert poll_until(lambda: b.named("peer_disconnected"), everyone)
    assert b.named("peer_disconnected") == [(a_id,)]
    assert poll_until(lambda: server.mp.get_peers() == [b_id], [server, b])
    assert server.named("peer_disconnected") == [(a_id,)]


def test_auth_over_sockets(world: Any, poll_until: PollUntil) -> None:
    auth = SharedSecretAuth(b"open sesame")
    secrets = iter([b"open sesame", b"wrong"])

    def client_auth(side: Side) -> None:
        secret = next(secrets)

        def on_authenticating(peer: int) -> None:
            side.mp.send_auth(peer, secret)
            side.mp.complete_auth(peer)

        side.mp.auth_callback = lambda peer, data: None
        side.mp.peer_authenticating.connect(on_authenticating)

    server, (good, bad) = world(2, configure=lambda s: auth.install(s.mp),
                                configure_client=client_auth)
    everyone = [server, good, bad]
    assert poll_until(lambda: good.named("connected_to_server")
                      and bad.named("server_disconnected"), everyone, timeout=10)
    good_id = good.mp.get_unique_id()
    assert server.mp.get_peers() == [good_id]
    assert good.named("peer_connected") == [(1,)]
    assert bad.named("peer_authentication_failed") == [(1,)]
    assert bad.named("connected_to_server") == []
    assert len(server.named("peer_authenticating")) == 2
    assert good.mp.rpc_id(1, "Lobby", "c2s", "in") == Error.OK
    assert poll_until(lambda: server.lobby.calls, everyone)
    assert server.lobby.calls == [("c2s", good_id, ("in",))]


def test_auth_timeout_over_sockets(world: Any, poll_until: PollUntil) -> None:
    def strict(side: Side) -> None:
        side.mp.auth_callback = lambda peer, data: None
        side.mp.auth_timeout = 0.2

    def silent_client(side: Side) -> None:
        side.mp.auth_callback = lambda peer, data: None  # pending, never completes
        side.mp.auth_timeout = 0  # waits forever for the server

    server, (client,) = world(1, configure=strict, configure_client=silent_client)
    assert poll_until(lambda: client.named("server_disconnected"), [server, client], timeout=5)
    assert len(server.named("peer_authentication_failed")) == 1
    assert client.named("peer_authentication_failed") == [(1,)]
    assert server.mp.get_peers() == [] and server.mp.get_authenticating_peers() == []
    assert client.transport.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED


def test_relay_off_over_sockets(world: Any, poll_until: PollUntil, poll_for: Any) -> None:
    server, (a, b) = world(2, configure=lambda s: s.mp.set_server_relay_enabled(False))
    everyone = [server, a, b]
    assert poll_until(lambda: len(server.mp.get_peers()) == 2, everyone)
    poll_for(0.2, everyone)
    assert a.mp.get_peers() == [1] and b.mp.get_peers() == [1]
    assert a.mp.send_bytes(b"x") == Error.OK  # wrapped by the client, dropped by the server
    poll_for(0.2, everyone)
    assert server.named("peer_packet") == [] and b.named("peer_packet") == []
