"""Two Godot 4.6 clients talk through the Python relay; auth with a right and a wrong secret.

Godot side: ``godot_demo/scene/e2e_client.gd`` (scenarios ``relay`` and ``auth``).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from godot_harness import ClientResult, GodotBrowser
from scene_support import SCENE_DIR, RecordingPeer, scene_server, serve_scene_pack

from godot_websocket.scene import SceneMultiplayer, SharedSecretAuth, load_gdscript_rpc

pytestmark = pytest.mark.e2e

DECLARATIONS = load_gdscript_rpc(SCENE_DIR / "e2e_client.gd")
IDS = {name: index for index, name in enumerate(sorted(DECLARATIONS))}


def i32(value: int) -> bytes:
    return struct.pack("<i", value)


def check_ok(result: ClientResult) -> None:
    assert result.exit_code == 0 and not result.timed_out, result.describe()
    assert not result.page_errors, result.describe()


class Main:
    """The Python node at /root/Main."""

    def __init__(self, multiplayer: SceneMultiplayer) -> None:
        self.mp = multiplayer
        self.calls: list[tuple[str, int, tuple[Any, ...]]] = []

    def chat(self, text: str) -> None:
        self.calls.append(("chat", self.mp.get_remote_sender_id(), (text,)))

    def c2s_none(self) -> None:
        sender = self.mp.get_remote_sender_id()
        self.calls.append(("c2s_none", sender, ()))
        self.mp.rpc_id(sender, "/root/Main", "s2c_done", {"auth": "ok"})


@pytest.fixture
def server() -> Iterator[tuple[SceneMultiplayer, RecordingPeer, str, Main]]:
    mp, transport, url = scene_server()
    main = Main(mp)
    mp.register_node("/root/Main", main, script_rpc=DECLARATIONS)
    try:
        yield mp, transport, url, main
    finally:
        transport.close()


@pytest.fixture(scope="module")
def pack(godot_browser: GodotBrowser) -> str:
    return serve_scene_pack(godot_browser, "res://scene/e2e_main.tscn")


def test_two_godot_clients_through_the_python_relay(
    godot_browser: GodotBrowser,
    pack: str,
    server: tuple[SceneMultiplayer, RecordingPeer, str, Main],
) -> None:
    mp, transport, url, main = server
    packets: list[tuple[int, bytes]] = []
    mp.peer_packet.connect(lambda sender, data: packets.append((sender, data)))

    results = godot_browser.start_clients(url, "relay", count=2, timeout=40, pack=pack,
                                          args={"peers": 1}).wait(poll=mp.poll)
    for result in results:
        check_ok(result)
    ids = [r.unique_id for r in results]
    assert None not in ids and ids[0] != ids[1]
    a, b = (int(i) for i in ids)  # type: ignore[arg-type]
    tags = {a: "c0", b: "c1"}

    for me, other, result in ((a, b, results[0]), (b, a, results[1])):
        # The other client was announced by the server (ADD_PEER), once.
        assert [e["peer"] for e in result.events("peer_connected")] == [1, other]
        chats = {(e["sender"], e["text"]) for e in result.events("chat")}
        assert chats == {(other, f"hello from {tags[other]}"),
                         (other, f"broadcast from {tags[other]}")}, result.describe()
        got = {(e["from"], bytes.fromhex(e["hex"])) for e in result.events("packet")}
        assert got == {(other, f"{tags[other]}:direct".encode()),
                       (other, f"{tags[other]}:all".encode())}, result.describe()
        # Exactly one ADD_PEER went to each client, naming the other one.
        adds = [p for p in transport.sent_to(me) if p[:2] == b"\x07\x01"]
        assert adds == [b"\x07\x01" + i32(other)]

    # The server took part where Godot's server would: broadcast RPCs and broadcast bytes.
    assert sorted(main.calls) == sorted([("chat", a, ("broadcast from c0",)),
                                         ("chat", b, ("broadcast from c1",))])
    assert sorted(packets) == sorted([(a, b"c0:all"), (b, b"c1:all")])

    # Every envelope a client sent was forwarded with its real id in place of the target.
    for sender, target in ((a, b), (b, a)):
        envelopes = [p for p in transport.received_from(sender) if p[:2] == b"\x07\x03"]
        assert envelopes, "the client sent nothing through the relay"
        forwarded = [p for p in transport.sent_to(target) if p[:2] == b"\x07\x03"]
        expected = [b"\x07\x03" + i32(sender) + env[6:] for env in envelopes
                    if struct.unpack_from("<i", env, 2)[0] in (target, 0)]
        mine = [p for p in forwarded if p[2:6] == i32(sender)]
        # Envelopes that arrive after the target left are dropped, so a prefix is forwarded:
        # at least SIMPLIFY_PATH, the chat RPC, direct bytes, broadcast bytes and the
        # broadcast RPC, which the client sent as soon as it knew the other one.
        assert len(mine) >= 5 and mine == expected[: len(mine)]
        # The first relayed packet is the SIMPLIFY_PATH for Main (the client's cache id 1).
        first = next(e for e in envelopes if e[2:6] == i32(target))
        assert first[6] == 0x01 and first.endswith(b"\x01\x00\x00\x00Main\x00")


def test_auth_right_and_wrong_secret(
    godot_browser: GodotBrowser,
    pack: str,
    server: tuple[SceneMultiplayer, RecordingPeer, str, Main],
    caplog: pytest.LogCaptureFixture,
) -> None:
    mp, transport, url, main = server
    auth = SharedSecretAuth(b"s3cret", reply=b"welcome")
    auth.install(mp)
    accepted: list[int] = []
    refused: list[tuple[int, bytes]] = []
    authenticating: list[int] = []
    connected: list[int] = []
    packets: list[tuple[int, bytes]] = []
    auth.accepted.connect(accepted.append)
    auth.refused.connect(lambda peer, data: refused.append((peer, data)))
    mp.peer_authenticating.connect(authenticating.append)
    mp.peer_connected.connect(connected.append)
    mp.peer_packet.connect(lambda sender, data: packets.append((sender, data)))
    caplog.set_level(logging.ERROR, logger="godot_websocket")

    good, bad = godot_browser.start_clients(
        url, "auth", count=2, timeout=40, pack=pack, tags=["good", "bad"],
        per_client_args=[{"secret": "s3cret", "expect_auth": "ok"},
                         {"secret": "wrong", "expect_auth": "fail"}],
    ).wait(poll=mp.poll)
    check_ok(good)
    check_ok(bad)

    gid = good.unique_id
    assert gid is not None
    bad_id = next(p for p in authenticating if p != gid)
    assert sorted(authenticating) == sorted([gid, bad_id])
    assert accepted == [gid] and connected == [gid]
    assert refused == [(bad_id, b"wrong")]

    # The good client: authenticating, the server's reply, admitted, then RPCs work.
    assert good.event("peer_authenticating")["pending"] == [1]
    assert good.event("auth_sent") == {**good.event("auth_sent"), "send_auth": 0,
                                       "complete_auth": 0}
    assert good.event("auth_data")["text"] == "welcome"
    assert good.event("connected_to_server")["peers"] == [1]
    assert good.event("s2c_done")["summary"] == {"auth": "ok"}
    assert main.calls == [("c2s_none", gid, ())]
    rx = transport.received_from(gid)
    assert rx[:4] == [b"\x07\x03\x00\x00\x00\x00\x03early", b"\x07\x00s3cret", b"\x07\x00",
                      rx[3]]
    tx = transport.sent_to(gid)
    assert tx[:2] == [b"\x07\x00welcome", b"\x07\x00"]
    # The bad client: refused, never admitted, saw the failure then the disconnection.
    names = bad.event_names
    assert names.index("peer_authentication_failed") < names.index("server_disconnected")
    assert "connected_to_server" not in names
    assert transport.received_from(bad_id)[:2] == [b"\x07\x03\x00\x00\x00\x00\x03early",
                                                   b"\x07\x00wrong"]
    assert not any(p[:2] == b"\x07\x00" for p in transport.sent_to(bad_id))
    # Nothing but auth traffic was accepted from pending peers.
    assert packets == []
    dropped = [r.getMessage() for r in caplog.records if "before being admitted" in r.getMessage()]
    for peer_id in (gid, bad_id):
        assert any(m.startswith(f"Peer {peer_id} sent a non-authentication packet") for m in
                   dropped), caplog.text
