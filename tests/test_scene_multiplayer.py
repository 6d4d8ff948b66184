"""SceneMultiplayer behaviour over the in-memory MultiplayerPeer, with exact bytes.

The other end is usually a *raw* MemoryMultiplayerPeer (no SceneMultiplayer): the test
writes Godot's packets byte for byte (spec scene-multiplayer.md) and checks every byte the
Python endpoint sends back.
"""

from __future__ import annotations

import logging
import struct
import time
from typing import Any

import pytest

from godot_websocket import Error, MultiplayerPeer
from godot_websocket.scene import (
    ChecksumPolicy,
    ConfirmPathLayout,
    MemoryMultiplayerPeer,
    MemoryNetwork,
    RPCConfig,
    RPCMode,
    SceneMultiplayer,
    SharedSecretAuth,
    rpc,
)
from godot_websocket.variant import Vector2

MD5 = "d117d38f8ad87dcf9f774752ac384419"  # MD5("hellowelcome")
MAIN = b"Main\x00"
SIMPLIFY_1 = b"\x01" + MD5.encode() + b"\x00\x01\x00\x00\x00" + MAIN
HELLO_FULL = bytes.fromhex(
    "20 15 00 00 80 00 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00") + MAIN
HELLO_CACHED = bytes.fromhex("00 01 00 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00")
WELCOME_FULL = bytes.fromhex(
    "20 13 00 00 80 01 01 04 00 00 00 02 00 00 00 68 69 00 00") + MAIN
WELCOME_CACHED = bytes.fromhex("00 01 01 01 04 00 00 00 02 00 00 00 68 69 00 00")
UNRELIABLE = MultiplayerPeer.TRANSFER_MODE_UNRELIABLE


def i32(value: int) -> bytes:
    return struct.pack("<i", value)


class Main:
    """The spec's /root/Main: hello (client -> server), welcome (server -> client)."""

    def __init__(self, mp: SceneMultiplayer | None = None) -> None:
        self.mp = mp
        self.calls: list[tuple[str, int, tuple[Any, ...]]] = []

    @rpc("any_peer")
    def hello(self, n: int, s: str) -> None:
        sender = self.mp.get_remote_sender_id() if self.mp else 0
        self.calls.append(("hello", sender, (n, s)))

    @rpc
    def welcome(self, msg: str) -> None:
        sender = self.mp.get_remote_sender_id() if self.mp else 0
        self.calls.append(("welcome", sender, (msg,)))


class Raw:
    """A bare MemoryMultiplayerPeer client: the test plays Godot byte by byte."""

    def __init__(self, net: MemoryNetwork, peer_id: int) -> None:
        self.peer = MemoryMultiplayerPeer()
        assert self.peer.create_client(net, peer_id) == Error.OK
        self.id = peer_id

    def send(self, data: bytes, mode: int = MultiplayerPeer.TRANSFER_MODE_RELIABLE,
             channel: int = 0) -> None:
        self.peer.set_transfer_mode(mode)
        self.peer.set_transfer_channel(channel)
        self.peer.set_target_peer(1)
        assert self.peer.put_packet(data) == Error.OK

    def recv(self) -> list[bytes]:
        self.peer.poll()
        out = []
        while self.peer.get_available_packet_count():
            out.append(self.peer.get_packet())
        return out

    def recv_full(self) -> list[tuple[bytes, int, int]]:
        self.peer.poll()
        out = []
        while self.peer.get_available_packet_count():
            mode, channel = self.peer.get_packet_mode(), self.peer.get_packet_channel()
            out.append((self.peer.get_packet(), int(mode), channel))
        return out


class Net:
    """A Python SceneMultiplayer server on a MemoryNetwork, plus raw clients."""

    def __init__(self, **options: Any) -> None:
        self.net = MemoryNetwork()
        self.transport = MemoryMultiplayerPeer()
        assert self.transport.create_server(self.net) == Error.OK
        self.mp = SceneMultiplayer(self.transport, **options)
        self.main = Main(self.mp)
        self.node = self.mp.register_node("/root/Main", self.main)
        self.events: list[tuple[Any, ...]] = []
        for name in ("peer_connected", "peer_disconnected", "peer_authenticating",
                     "peer_authentication_failed", "peer_packet", "checksum_mismatch"):
            getattr(self.mp, name).connect(
                lambda *args, _n=name: self.events.append((_n, *args)))

    def raw(self, peer_id: int) -> Raw:
        client = Raw(self.net, peer_id)
        self.mp.poll()
        client.peer.poll()  # accepted; packets stay queued for recv()
        return client

    def poll(self) -> None:
        self.mp.poll()


@pytest.fixture
def net() -> Net:
    return Net()


# -- receiving RPCs ----------------------------------------------------------------------------


def test_spec_first_call_full_path_then_cached(net: Net) -> None:
    a = net.raw(1234567890)
    assert net.events == [("peer_connected", 1234567890)]
    assert net.mp.get_peers() == [1234567890]
    a.send(SIMPLIFY_1)
    a.send(HELLO_FULL)
    net.poll()
    assert net.main.calls == [("hello", 1234567890, (42, "x"))]
    assert a.recv() == [bytes.fromhex("02 01 01 00 00 00")]  # CONFIRM_PATH, 4.3+ layout
    a.send(HELLO_CACHED)
    net.poll()
    assert net.main.calls[-1] == ("hello", 1234567890, (42, "x"))
    assert net.mp.get_remote_sender_id() == 0  # only inside handlers


def test_confirm_path_in_the_4_0_layout() -> None:
    n = Net(confirm_path_layout=ConfirmPathLayout.GODOT_4_0)
    a = n.raw(5)
    a.send(SIMPLIFY_1)
    n.poll()
    assert a.recv() == [bytes.fromhex("02 01 4d 61 69 6e 00")]
    # 4.0-4.2 did not reject a repeated id: the mapping is replaced and confirmed again.
    a.send(SIMPLIFY_1)
    n.poll()
    assert a.recv() == [bytes.fromhex("02 01 4d 61 69 6e 00")]


def test_duplicate_and_unknown_simplify(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    a = net.raw(5)
    a.send(SIMPLIFY_1)
    a.send(SIMPLIFY_1)  # same id again: Godot 4.3+ refuses, no reply
    a.send(b"\x01" + MD5.encode() + b"\x00\x02\x00\x00\x00Nope\x00")
    net.poll()
    assert a.recv() == [bytes.fromhex("02 01 01 00 00 00")]
    assert "Duplicate remote cache ID 1 for peer 5" in caplog.text
    assert "unknown node 'Nope'" in caplog.text
    # A second id for the same node is fine (spec §5.2).
    a.send(b"\x01" + MD5.encode() + b"\x00\x08\x00\x00\x00Main\x00")
    net.poll()
    assert a.recv() == [bytes.fromhex("02 01 08 00 00 00")]


@pytest.mark.parametrize(
    "packet",
    [bytes.fromhex("00 01 00 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00"),
     bytes.fromhex("10 01 00 00 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00"),
     bytes.fromhex("20 01 00 00 00 00 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00"),
     bytes.fromhex("40 01 00 00 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00")],
)
def test_every_node_and_method_id_width(net: Net, packet: bytes) -> None:
    a = net.raw(5)
    a.send(SIMPLIFY_1)
    a.send(packet)
    net.poll()
    assert net.main.calls == [("hello", 5, (42, "x"))]


def test_bad_packets_are_logged_and_dropped(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    a = net.raw(5)
    bad = [
        bytes.fromhex("00 09 00 00"),  # cached id never simplified
        bytes.fromhex("30 01 00"),  # node id width 3
        bytes.fromhex("20 06 00 00 80 07") + MAIN,  # method id 7 unknown
        bytes.fromhex("20 09 00 00 80 00 02 02 2a") + MAIN,  # 2 args announced, 1 sent
        bytes.fromhex("20 09 00 00 80 00 01 02 2a") + b"Nope\x00",  # unknown node
        bytes.fromhex("03"),  # raw without payload
        bytes.fromhex("02 01"),  # confirm too short
        bytes.fromhex("07 09 00 00 00 00"),  # unknown SYS command
        bytes.fromhex("07 01 63 00 00 00"),  # ADD_PEER from a client
        bytes.fromhex("04 00 02 00 00 00 01 00 00 00 01 00 00 00 07 00 00 00"),  # SPAWN
    ]
    for packet in bad:
        a.send(packet)
    assert net.mp.poll() == Error.OK
    assert net.main.calls == []
    assert [e for e in net.events if e[0] != "peer_connected"] == []
    for text in ["ID 9 not found in its path cache", "compression mode 3",
                 "has no RPC method id 7", "argument 2 of 2 missing",
                 "unknown node 'Nope'", "no payload", "CONFIRM_PATH too small",
                 "unknown SYS command 9", "AddPeer from peer 5 refused",
                 "MultiplayerSpawner/MultiplayerSynchronizer are not supported"]:
        assert text in caplog.text, text


def test_handler_errors_do_not_escape(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        @rpc("any_peer")
        def hello(self, n: int, s: str) -> None:
            raise RuntimeError("boom")

        @rpc
        def welcome(self, msg: str) -> None: ...

    net.mp.register_node("/root/Main", Broken())
    a = net.raw(5)
    a.send(HELLO_FULL)
    # Wrong argument count (1 instead of 2): refused before the call, like Godot.
    a.send(bytes.fromhex("20 09 00 00 80 00 01 02 2a") + MAIN)
    assert net.mp.poll() == Error.OK
    assert "RPC 'hello' on /root/Main raised" in caplog.text and "boom" in caplog.text
    assert "RPC - '/root/Main::hello': called with 1 argument(s)" in caplog.text


def test_authority_checks(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    a = net.raw(5)
    welcome = bytes.fromhex("20 13 00 00 80 01 01 04 00 00 00 02 00 00 00 68 69 00 00") + MAIN
    a.send(welcome)  # "authority" method, authority is 1: refused
    net.poll()
    assert net.main.calls == []
    assert ("RPC 'welcome' is not allowed on node /root/Main from: 5. Mode is \"authority\", "
            "authority is 1.") in caplog.text
    net.node.set_multiplayer_authority(5)
    a.send(welcome)
    net.poll()
    assert net.main.calls == [("welcome", 5, ("hi",))]
    assert not net.node.is_multiplayer_authority()


def test_node_level_ids_and_disabled_mode(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    got: list[tuple[str, tuple[Any, ...]]] = []

    class Child:
        def child_a(self, *args: Any) -> None:
            got.append(("child_a", args))

        def cfg_dis(self, *args: Any) -> None:
            got.append(("cfg_dis", args))

    any_peer = RPCConfig(RPCMode.RPC_MODE_ANY_PEER)
    node = net.mp.register_node(
        "Main/Child", Child(),
        script_rpc={"base_b": any_peer, "child_a": any_peer, "zz_base": any_peer},
        node_rpc={"cfg_x": any_peer, "cfg_a": any_peer,
                  "cfg_dis": {"rpc_mode": int(RPCMode.RPC_MODE_DISABLED)},
                  "child_a": any_peer},
    )
    assert node.path == "/root/Main/Child" and node.relative_path == "Main/Child"
    a = net.raw(5)
    path = b"Main/Child\x00"
    a.send(bytes.fromhex("60 0a 00 00 80 03 80 01 02 01") + path)  # id 0x8003 = child_a
    a.send(bytes.fromhex("20 09 00 00 80 01 01 02 02") + path)  # id 1 = child_a (script)
    a.send(bytes.fromhex("60 0a 00 00 80 01 80 01 02 03") + path)  # 0x8001 = cfg_dis
    net.poll()
    assert got == [("child_a", (1,)), ("child_a", (2,))]
    assert 'RPC \'cfg_dis\' is not allowed on node /root/Main/Child from: 5. Mode is "disabled"' \
        in caplog.text
    node.rpc_config("cfg_dis", RPCConfig(RPCMode.RPC_MODE_ANY_PEER))
    a.send(bytes.fromhex("60 0a 00 00 80 01 80 01 02 03") + path)
    net.poll()
    assert got[-1] == ("cfg_dis", (3,))


def test_byte_only_and_no_argument_forms(net: Net) -> None:
    got: list[tuple[Any, ...]] = []

    class Node:
        def c2s(self, *args: Any) -> None:
            got.append(args)

    net.mp.register_node("Main", Node(), script_rpc={
        name: RPCConfig(RPCMode.RPC_MODE_ANY_PEER)
        for name in ["Zcap", "_under", "c2s", "c2s_unrel", "cl_local", "s2c_any", "s2c_auth",
                     "s2c_auth_local", "s2c_bytes", "s2c_typed"]})
    a = net.raw(5)
    a.send(bytes.fromhex("a0 0b 00 00 80 02 de ad be ef 01") + MAIN)
    a.send(bytes.fromhex("a0 06 00 00 80 02") + MAIN)
    a.send(bytes.fromhex("20 09 00 00 80 02 01 02 05") + MAIN)
    net.poll()
    assert got == [(bytes.fromhex("de ad be ef 01"),), (), (5,)]


# -- sending RPCs ------------------------------------------------------------------------------


def test_server_calls_client_full_path_then_cached(net: Net) -> None:
    a = net.raw(1234567890)
    assert net.mp.rpc_id(1234567890, "/root/Main", "welcome", "hi") == Error.OK
    assert a.recv() == [SIMPLIFY_1, WELCOME_FULL]
    assert net.mp.rpc_id(1234567890, "Main", "welcome", "hi") == Error.OK
    assert a.recv() == [WELCOME_FULL]  # not confirmed yet: still the full path, no new SIMPLIFY
    a.send(bytes.fromhex("02 01 01 00 00 00"))
    net.poll()
    assert net.node.rpc_id(1234567890, "welcome", "hi") == Error.OK
    assert a.recv() == [WELCOME_CACHED]


def test_confirm_in_the_old_layout_and_unrequested(net: Net, caplog: pytest.LogCaptureFixture
                                                   ) -> None:
    a = net.raw(7)
    b = net.raw(8)
    net.mp.rpc_id(7, "Main", "welcome", "hi")
    a.recv()
    b.send(bytes.fromhex("02 01 01 00 00 00"))  # b was never asked
    a.send(bytes.fromhex("02 01 63 00 00 00"))  # unknown id: silently ignored
    a.send(bytes.fromhex("02 01 4d 61 69 6e 00"))  # 4.0-4.2 layout: accepted too
    net.poll()
    assert "Peer 8 tries to confirm node /root/Main, which was not requested" in caplog.text
    net.mp.rpc_id(7, "Main", "welcome", "hi")
    assert a.recv() == [WELCOME_CACHED]


def test_checksum_ok_0_from_the_client_warns(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    a = net.raw(7)
    net.mp.rpc_id(7, "Main", "welcome", "hi")
    a.recv()
    a.send(bytes.fromhex("02 00 01 00 00 00"))
    net.poll()
    assert ("checksum_mismatch", 7, "/root/Main", "", MD5) in net.events
    assert "peer 7 reported that our checksum" in caplog.text
    net.mp.rpc_id(7, "Main", "welcome", "hi")
    assert a.recv() == [WELCOME_CACHED]  # confirmed anyway, as in Godot


def test_path_cache_off_always_sends_the_full_path() -> None:
    n = Net(path_cache=False)
    a = n.raw(1234567890)
    n.mp.rpc_id(1234567890, "Main", "welcome", "hi")
    n.mp.rpc_id(1234567890, "Main", "welcome", "hi")
    assert a.recv() == [WELCOME_FULL, WELCOME_FULL]


def test_broadcast_mixes_cached_and_full_path(net: Net) -> None:
    a, b, c = net.raw(2), net.raw(3), net.raw(4)
    for raw in (a, b, c):
        raw.recv()  # ADD_PEER announcements
    net.mp.rpc_id(2, "Main", "welcome", "hi")
    assert a.recv() == [SIMPLIFY_1, WELCOME_FULL]
    a.send(bytes.fromhex("02 01 01 00 00 00"))
    net.poll()
    assert net.mp.rpc("Main", "welcome", "hi") == Error.OK
    # a confirmed: cached id in a u32 field (not every target confirmed); b, c: full path.
    cached_u32 = bytes.fromhex("20 01 00 00 00 01 01 04 00 00 00 02 00 00 00 68 69 00 00")
    assert a.recv() == [cached_u32]
    assert b.recv() == [SIMPLIFY_1, WELCOME_FULL]
    assert c.recv() == [SIMPLIFY_1, WELCOME_FULL]
    b.send(bytes.fromhex("02 01 01 00 00 00"))
    c.send(bytes.fromhex("02 01 01 00 00 00"))
    net.poll()
    assert net.mp.rpc_id(-3, "Main", "welcome", "hi") == Error.OK  # all but 3
    assert (a.recv(), b.recv(), c.recv()) == ([WELCOME_CACHED], [], [WELCOME_CACHED])


def test_argument_forms_sent(net: Net) -> None:
    net.mp.register_node("Main", None, script_rpc={"f": RPCConfig()})
    a = net.raw(9)
    net.mp.rpc_id(9, "Main", "f")
    net.mp.rpc_id(9, "Main", "f", b"\xde\xad")
    net.mp.rpc_id(9, "Main", "f", b"")
    net.mp.rpc_id(9, "Main", "f", True, False, 300, -1, 1.5, Vector2(1, 2))
    assert a.recv() == [
        b"\x01" + b"8fa14cdd754f91cc6554c9e71929cce7" + b"\x00\x01\x00\x00\x00" + MAIN,
        bytes.fromhex("a0 06 00 00 80 00") + MAIN,
        bytes.fromhex("a0 08 00 00 80 00 de ad") + MAIN,
        bytes.fromhex("20 0f 00 00 80 00 01 1d 00 00 00 00 00 00 00") + MAIN,
        bytes.fromhex("20 22 00 00 80 00 06 81 01 42 2c 01 02 ff 03 00 00 00 00 00 c0 3f"
                      "05 00 00 00 00 00 80 3f 00 00 00 40") + MAIN,
    ]


def test_rpc_id_errors(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    lonely = SceneMultiplayer()
    lonely.register_node("Main", Main())
    assert lonely.rpc_id(1, "Main", "hello", 1, "x") == Error.ERR_UNCONFIGURED
    net.raw(5)
    assert net.mp.rpc_id(5, "Nope", "welcome", "hi") == Error.ERR_INVALID_PARAMETER
    assert net.mp.rpc_id(5, "Main", "nothing") == Error.ERR_INVALID_PARAMETER
    assert 'Unable to get the RPC configuration for the function "nothing"' in caplog.text
    assert net.mp.rpc_id(1, "Main", "welcome", "hi") == Error.ERR_INVALID_PARAMETER  # self
    assert net.mp.rpc_id(55, "Main", "welcome", "hi") == Error.ERR_INVALID_PARAMETER
    assert "Attempt to call RPC with unknown peer ID: 55." in caplog.text
    assert net.mp.rpc_id(5, "Main", "welcome", *range(256)) == Error.ERR_INVALID_PARAMETER
    assert net.mp.rpc_id(5, "Main", "welcome", 2**64) == Error.ERR_PARAMETER_RANGE_ERROR
    with pytest.raises(TypeError):
        net.mp.rpc_id(5, "Main", "welcome", object())
    client = MemoryMultiplayerPeer()
    client.create_client(MemoryNetwork())
    connecting = SceneMultiplayer(client)
    connecting.register_node("Main", Main())
    assert connecting.rpc_id(1, "Main", "hello", 1, "x") == Error.ERR_CONNECTION_ERROR


def test_call_local(net: Net) -> None:
    got: list[tuple[str, int]] = []

    class Node:
        @rpc("any_peer", "call_local")
        def ping(self, text: str) -> None:
            got.append((text, net.mp.get_remote_sender_id()))

    net.mp.register_node("Lobby", Node())
    a = net.raw(5)
    assert net.mp.rpc("Lobby", "ping", "all") == Error.OK
    assert net.mp.rpc_id(1, "Lobby", "ping", "me") == Error.OK  # runs here, sends nothing
    assert net.mp.rpc_id(5, "Lobby", "ping", "you") == Error.OK  # not here
    assert net.mp.rpc_id(-5, "Lobby", "ping", "not5") == Error.OK
    assert got == [("all", 1), ("me", 1), ("not5", 1)]
    assert len(a.recv()) == 3  # SIMPLIFY + "all" + "you"


# -- raw ---------------------------------------------------------------------------------------


def test_send_bytes_both_ways(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    a = net.raw(5)
    b = net.raw(6)
    a.recv()
    b.recv()
    a.send(bytes.fromhex("03 de ad be ef"))
    net.poll()
    assert net.events[-1] == ("peer_packet", 5, bytes.fromhex("de ad be ef"))
    assert net.mp.send_bytes(b"\x01\x02", 6) == Error.OK
    assert net.mp.send_bytes(b"all") == Error.OK
    assert net.mp.send_bytes(b"not5", -5) == Error.OK
    assert a.recv() == [b"\x03all"]
    assert b.recv() == [b"\x03\x01\x02", b"\x03all", b"\x03not5"]
    assert net.mp.send_bytes(b"") == Error.ERR_INVALID_DATA
    assert net.mp.send_bytes(b"x", 99) == Error.ERR_BUG
    assert "Peer 99 is not connected" in caplog.text


# -- relay -------------------------------------------------------------------------------------


def test_add_and_del_peer_announcements(net: Net) -> None:
    a = net.raw(2)
    assert a.recv() == []
    b = net.raw(3)
    assert a.recv() == [b"\x07\x01" + i32(3)]
    assert b.recv() == [b"\x07\x01" + i32(2)]
    c = net.raw(4)
    assert a.recv() == [b"\x07\x01" + i32(4)]
    assert b.recv() == [b"\x07\x01" + i32(4)]
    assert c.recv() == [b"\x07\x01" + i32(2), b"\x07\x01" + i32(3)]
    c.peer.close()
    net.poll()
    assert a.recv() == [b"\x07\x02" + i32(4)]
    assert b.recv() == [b"\x07\x02" + i32(4)]
    assert ("peer_disconnected", 4) in net.events
    net.mp.disconnect_peer(3)  # kicked: DEL_PEER to the others, no signal here
    assert a.recv() == [b"\x07\x02" + i32(3)]
    net.poll()
    assert ("peer_disconnected", 3) not in net.events
    assert net.mp.get_peers() == [2]
    assert b.recv() == []
    assert b.peer.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED


def test_relay_routing(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    a, b, c = net.raw(2), net.raw(3), net.raw(4)
    for raw in (a, b, c):
        raw.recv()

    def relay(target: int, inner: bytes) -> None:
        a.send(b"\x07\x03" + i32(target) + inner)
        net.poll()

    relay(3, b"\x03to-b")
    assert (b.recv(), c.recv(), a.recv()) == ([b"\x07\x03" + i32(2) + b"\x03to-b"], [], [])
    relay(0, b"\x03to-all")
    assert b.recv() == c.recv() == [b"\x07\x03" + i32(2) + b"\x03to-all"]
    assert net.events[-1] == ("peer_packet", 2, b"to-all")  # the server is a target too
    count = len(net.events)
    relay(-1, b"\x03not-server")
    assert b.recv() == c.recv() == [b"\x07\x03" + i32(2) + b"\x03not-server"]
    assert len(net.events) == count
    relay(-3, b"\x03not-b")
    assert (b.recv(), c.recv()) == ([], [b"\x07\x03" + i32(2) + b"\x03not-b"])
    assert net.events[-1] == ("peer_packet", 2, b"not-b")
    relay(99, b"\x03lost")
    assert "Relay from peer 2 to unknown peer 99 dropped" in caplog.text
    relay(3, b"\x07\x01" + i32(77))  # a forged ADD_PEER inside a relay
    relay(0, b"\x07\x03" + i32(3) + b"\x03nested")
    assert "a SYS packet inside a relay envelope is never forwarded" in caplog.text
    a.send(b"\x07\x03" + i32(3))
    net.poll()
    assert "relay packet carries no inner packet" in caplog.text
    assert b.recv() == c.recv() == []
    # An RPC to everyone, relayed: the server runs it as sent by the real sender.
    relay(0, HELLO_FULL)
    assert net.main.calls == [("hello", 2, (42, "x"))]
    assert b.recv() == [b"\x07\x03" + i32(2) + HELLO_FULL]


def test_relay_keeps_mode_and_channel(net: Net) -> None:
    a, b = net.raw(2), net.raw(3)
    a.recv()
    b.recv()
    a.send(b"\x07\x03" + i32(3) + b"\x03x", UNRELIABLE, 3)
    net.poll()
    assert b.recv_full() == [(b"\x07\x03" + i32(2) + b"\x03x", int(UNRELIABLE), 3)]


def test_relay_off(caplog: pytest.LogCaptureFixture) -> None:
    n = Net()
    n.mp.server_relay = False
    a, b = n.raw(2), n.raw(3)
    assert a.recv() == b.recv() == []  # no ADD_PEER
    a.send(b"\x07\x03" + i32(3) + b"\x03x")
    n.poll()
    assert b.recv() == []
    assert "server relay is off" in caplog.text


def test_relay_needs_transport_support(caplog: pytest.LogCaptureFixture) -> None:
    net = MemoryNetwork()
    server = MemoryMultiplayerPeer(relay_supported=False)
    server.create_server(net)
    mp = SceneMultiplayer(server)
    a = Raw(net, 2)
    mp.poll()
    b = Raw(net, 3)
    mp.poll()
    assert a.recv() == b.recv() == []


# -- authentication ----------------------------------------------------------------------------


def test_auth_handshake_server_side(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[int, bytes]] = []
    old = net.raw(2)
    net.mp.auth_callback = lambda peer, data: seen.append((peer, data))
    a = net.raw(5)
    assert ("peer_authenticating", 5) in net.events
    assert net.mp.get_authenticating_peers() == [5] and net.mp.get_peers() == [2]
    assert old.recv() == []  # not announced while pending
    a.send(b"\x03early")  # only auth traffic is accepted from a pending peer
    a.send(b"\x07\x03\x00\x00\x00\x00\x03early")
    a.send(HELLO_FULL)
    a.send(b"\x07\x00pw")
    net.poll()
    assert seen == [(5, b"pw")]
    assert not [e for e in net.events if e[0] == "peer_packet"] and net.main.calls == []
    assert caplog.text.count("Peer 5 sent a non-authentication packet") == 3
    assert net.mp.send_auth(5, b"ok") == Error.OK
    assert net.mp.send_auth(5, b"") == Error.ERR_INVALID_PARAMETER
    assert net.mp.send_auth(2, b"x") == Error.ERR_INVALID_PARAMETER
    assert net.mp.complete_auth(5) == Error.OK
    assert net.mp.complete_auth(5) == Error.ERR_FILE_CANT_WRITE
    assert net.mp.send_auth(5, b"more") == Error.ERR_FILE_CANT_WRITE
    assert a.recv() == [b"\x07\x00ok", b"\x07\x00"]
    assert net.mp.get_peers() == [2]  # waits for the client's completion
    a.send(b"\x07\x00")
    net.poll()
    assert net.mp.get_peers() == [2, 5] and net.mp.get_authenticating_peers() == []
    assert net.events[-1] == ("peer_connected", 5)
    assert old.recv() == [b"\x07\x01" + i32(5)]
    assert a.recv() == [b"\x07\x01" + i32(2)]
    a.send(b"\x07\x00")  # after admission: ignored silently
    a.send(b"\x07\x00late")  # logged and dropped
    net.poll()
    assert "Auth data from already admitted peer 5 dropped" in caplog.text
    assert seen == [(5, b"pw")]


def test_auth_remote_completion_first(net: Net) -> None:
    net.mp.auth_callback = lambda peer, data: None
    a = net.raw(5)
    a.send(b"\x07\x00")
    net.poll()
    assert net.mp.send_auth(5, b"x") == Error.ERR_FILE_CANT_WRITE  # remote already completed
    assert net.mp.get_peers() == []
    assert net.mp.complete_auth(5) == Error.OK  # admits at once
    assert net.mp.get_peers() == [5]
    assert net.mp.complete_auth(5) == Error.ERR_INVALID_PARAMETER


def test_auth_timeout_and_pending_disconnect(net: Net) -> None:
    net.mp.auth_callback = lambda peer, data: None
    net.mp.auth_timeout = 0.05
    assert net.mp.auth_timeout == 0.05
    a = net.raw(5)
    b = net.raw(6)
    b.peer.close()
    net.poll()
    assert ("peer_authentication_failed", 6) in net.events
    assert ("peer_disconnected", 6) not in net.events
    time.sleep(0.06)
    net.poll()
    assert ("peer_authentication_failed", 5) in net.events
    a.recv()
    assert a.peer.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED
    net.mp.auth_timeout = -1  # refused, logged
    assert net.mp.auth_timeout == 0.05


def test_shared_secret_auth(net: Net) -> None:
    auth = SharedSecretAuth(b"s3cret", reply=b"hi")
    auth.install(net.mp)
    accepted: list[int] = []
    refused: list[tuple[int, bytes]] = []
    auth.accepted.connect(accepted.append)
    auth.refused.connect(lambda peer, data: refused.append((peer, data)))
    good, bad = net.raw(5), net.raw(6)
    good.send(b"\x07\x00s3cret")
    good.send(b"\x07\x00")
    bad.send(b"\x07\x00nope")
    net.poll()
    assert accepted == [5] and refused == [(6, b"nope")]
    assert net.mp.get_peers() == [5] and net.mp.get_authenticating_peers() == []
    assert good.recv() == [b"\x07\x00hi", b"\x07\x00"]
    bad.recv()
    assert bad.peer.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED


# -- the client role ---------------------------------------------------------------------------


class ClientSide:
    """A Python SceneMultiplayer *client* against a raw memory server."""

    def __init__(self, peer_id: int = 1234567890, **options: Any) -> None:
        self.net = MemoryNetwork()
        self.server = MemoryMultiplayerPeer()
        self.server.create_server(self.net)
        self.transport = MemoryMultiplayerPeer()
        self.transport.create_client(self.net, peer_id)
        self.mp = SceneMultiplayer(self.transport, **options)
        self.main = Main(self.mp)
        self.node = self.mp.register_node("/root/Main", self.main)
        self.events: list[tuple[Any, ...]] = []
        for name in ("connected_to_server", "peer_connected", "peer_disconnected",
                     "server_disconnected", "connection_failed", "peer_packet"):
            getattr(self.mp, name).connect(
                lambda *args, _n=name: self.events.append((_n, *args)))
        self.server.poll()
        self.mp.poll()

    def from_server(self, *packets: bytes) -> None:
        self.server.set_target_peer(self.mp.get_unique_id())
        for packet in packets:
            self.server.put_packet(packet)
        self.mp.poll()

    def to_server(self) -> list[bytes]:
        self.server.poll()
        out = []
        while self.server.get_available_packet_count():
            out.append(self.server.get_packet())
        return out


def test_client_role_relay_and_announcements() -> None:
    c = ClientSide()
    assert c.events == [("connected_to_server",), ("peer_connected", 1)]
    c.from_server(b"\x07\x01" + i32(77), b"\x07\x01" + i32(77))  # the repeat is ignored
    assert c.events[2:] == [("peer_connected", 77)]
    assert c.mp.get_peers() == [1, 77]
    # RPC to another client: wrapped in a relay envelope, SIMPLIFY first.
    assert c.mp.rpc_id(77, "Main", "hello", 42, "x") == Error.OK
    assert c.to_server() == [b"\x07\x03" + i32(77) + SIMPLIFY_1,
                             b"\x07\x03" + i32(77) + HELLO_FULL]
    assert c.mp.send_bytes(b"\xde\xad\xbe\xef") == Error.OK  # default id 0: relayed
    assert c.mp.send_bytes(b"\xde\xad\xbe\xef", 1) == Error.OK  # to the server: direct
    assert c.to_server() == [bytes.fromhex("07 03 00 00 00 00 03 de ad be ef"),
                             bytes.fromhex("03 de ad be ef")]
    # Relayed packets from 77: RPC (authority check uses 77), raw, SIMPLIFY -> CONFIRM back.
    c.node.set_multiplayer_authority(77)
    c.from_server(b"\x07\x03" + i32(77) + WELCOME_FULL,
                  b"\x07\x03" + i32(77) + b"\x03hey",
                  b"\x07\x03" + i32(77) + b"\x01" + MD5.encode() + b"\x00\x05\x00\x00\x00"
                  + MAIN,
                  b"\x07\x03" + i32(77) + bytes.fromhex("02 01 01 00 00 00"))
    assert c.main.calls == [("welcome", 77, ("hi",))]
    assert c.events[-1] == ("peer_packet", 77, b"hey")
    assert c.to_server() == [b"\x07\x03" + i32(77) + bytes.fromhex("02 01 05 00 00 00")]
    c.mp.rpc_id(77, "Main", "hello", 42, "x")
    assert c.to_server() == [b"\x07\x03" + i32(77) + HELLO_CACHED]
    c.from_server(b"\x07\x02" + i32(77))
    assert c.events[-1] == ("peer_disconnected", 77) and c.mp.get_peers() == [1]


def test_client_refuses_sys_inside_relay(caplog: pytest.LogCaptureFixture) -> None:
    c = ClientSide()
    c.from_server(b"\x07\x03" + i32(77) + b"\x07\x01" + i32(66))
    assert c.mp.get_peers() == [1]
    assert "SYS inside a relay" in caplog.text


def test_client_server_disconnected_and_connection_failed() -> None:
    c = ClientSide()
    c.server.close()
    c.mp.poll()
    assert c.events[-2:] == [("peer_disconnected", 1), ("server_disconnected",)]
    assert c.mp.get_peers() == []
    net = MemoryNetwork()
    server = MemoryMultiplayerPeer()
    server.create_server(net)
    server.set_refuse_new_connections(True)
    client = MemoryMultiplayerPeer()
    client.create_client(net)
    mp = SceneMultiplayer(client)
    failed: list[int] = []
    mp.connection_failed.connect(lambda: failed.append(1))
    server.poll()
    mp.poll()
    assert failed == [1]


def test_python_server_and_python_clients_end_to_end() -> None:
    net = MemoryNetwork()
    server_peer = MemoryMultiplayerPeer()
    server_peer.create_server(net)
    server = SceneMultiplayer(server_peer)
    server_main = Main(server)
    server.register_node("/root/Main", server_main)
    clients = []
    for peer_id in (11, 12):
        transport = MemoryMultiplayerPeer()
        transport.create_client(net, peer_id)
        mp = SceneMultiplayer(transport)
        main = Main(mp)
        mp.register_node("/root/Main", main)
        clients.append((mp, main))

    def pump() -> None:
        for _ in range(4):
            server.poll()
            for mp, _ in clients:
                mp.poll()

    pump()
    (a, a_main), (b, b_main) = clients
    assert a.get_peers() == [1, 12] and b.get_peers() == [1, 11]
    a.rpc_id(1, "Main", "hello", 1, "to server")
    a.rpc_id(12, "Main", "hello", 2, "to b")
    a.rpc("Main", "hello", 3, "to all")
    pump()
    assert server_main.calls == [("hello", 11, (1, "to server")), ("hello", 11, (3, "to all"))]
    assert b_main.calls == [("hello", 11, (2, "to b")), ("hello", 11, (3, "to all"))]
    server.rpc("Main", "welcome", "everyone")
    pump()
    assert a_main.calls[-1] == b_main.calls[-1] == ("welcome", 1, ("everyone",))
    # Now everything is confirmed: the short forms travel.
    a.rpc_id(12, "Main", "hello", 4, "again")
    pump()
    assert b_main.calls[-1] == ("hello", 11, (4, "again"))


def test_python_client_auth_with_python_server() -> None:
    net = MemoryNetwork()
    server_peer = MemoryMultiplayerPeer()
    server_peer.create_server(net)
    server = SceneMultiplayer(server_peer)
    SharedSecretAuth(b"pw").install(server)
    transport = MemoryMultiplayerPeer()
    transport.create_client(net, 21)
    client = SceneMultiplayer(transport)
    connected: list[str] = []
    client.connected_to_server.connect(lambda: connected.append("yes"))

    def on_authenticating(peer: int) -> None:
        client.send_auth(peer, b"pw")
        client.complete_auth(peer)

    client.auth_callback = lambda peer, data: None
    client.peer_authenticating.connect(on_authenticating)
    for _ in range(5):
        server.poll()
        client.poll()
    assert connected == ["yes"] and server.get_peers() == [21] and client.get_peers() == [1]


# -- nodes ----------------------------------------------------------------------------------------


def test_register_paths_and_replacing_a_node(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    assert net.mp.get_node("/root/Main") is net.node
    assert net.mp.get_node("Main") is net.node
    assert net.mp.get_node("./Main/../Main") is net.node
    with pytest.raises(ValueError):
        net.mp.register_node("/root", None)
    with pytest.raises(ValueError):
        net.mp.register_node("/elsewhere/Node", None)
    a = net.raw(5)
    net.mp.rpc_id(5, "Main", "welcome", "hi")
    a.send(bytes.fromhex("02 01 01 00 00 00"))
    a.send(SIMPLIFY_1)
    net.poll()
    a.recv()
    # A new node at the same path: new cache id (2), the client's old mapping is gone.
    node = net.mp.register_node("Main", Main(net.mp))
    net.mp.rpc_id(5, "Main", "welcome", "hi")
    assert a.recv() == [SIMPLIFY_1.replace(b"\x00\x01\x00\x00\x00", b"\x00\x02\x00\x00\x00"),
                        WELCOME_FULL]
    a.send(HELLO_CACHED)
    net.poll()
    assert "ID 1 not found in its path cache" in caplog.text
    assert net.mp.unregister_node(node) and not net.mp.unregister_node("Main")


def test_declarations_from_script_rpc_override_decorators(caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    mp = SceneMultiplayer()
    node = mp.register_node("Main", Main(), script_rpc={"hello": RPCConfig()})
    assert node.table.names() == ["hello"]
    assert "@rpc methods welcome of Main are not in script_rpc" in caplog.text
    mp.root_path = "/root/Game/"
    assert mp.get_root_path() == "/root/Game"
    assert node.path == "/root/Main" and node.relative_path == "/root/Main"  # not below
    level = mp.register_node("Level", None)
    assert level.path == "/root/Game/Level" and level.relative_path == "Level"
    assert mp.get_node("/root/Game/Level") is level


def test_checksum_policy_reject(caplog: pytest.LogCaptureFixture) -> None:
    n = Net(checksum_policy=ChecksumPolicy.REJECT)
    a = n.raw(5)
    a.send(b"\x01" + b"0" * 32 + b"\x00\x01\x00\x00\x00" + MAIN)
    a.send(HELLO_CACHED)
    n.poll()
    assert a.recv() == [bytes.fromhex("02 00 01 00 00 00")]
    assert n.main.calls == []
    assert ("checksum_mismatch", 5, "/root/Main", "0" * 32, MD5) in n.events
    assert "RPC 'hello' on /root/Main from peer 5 dropped: RPC checksum mismatch" in caplog.text
    warn = Net()
    b = warn.raw(5)
    b.send(b"\x01" + b"0" * 32 + b"\x00\x01\x00\x00\x00" + MAIN)
    b.send(HELLO_CACHED)
    warn.poll()
    assert warn.main.calls == [("hello", 5, (42, "x"))]  # Godot's behaviour: delivered
    assert "RPC checksum mismatch on node /root/Main: peer 5 sent checksum " + "0" * 32 \
        in caplog.text
    with pytest.raises(ValueError):
        SceneMultiplayer(checksum_policy="maybe")


def test_logging_goes_to_the_package_logger(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="godot_websocket")
    a = net.raw(5)
    a.send(bytes.fromhex("00 09 00 00"))
    net.poll()
    assert {r.name for r in caplog.records} == {"godot_websocket.scene"}
