"""A real Godot 4.6 client calls @rpc methods on a Python node, and Python calls back.

The Godot side is ``godot_demo/scene/e2e_client.gd`` (the node ``/root/Main``); the Python
side reads its declarations from that file with ``load_gdscript_rpc``, so method ids and
the RPC checksum are the ones Godot computes. Packets are checked byte for byte.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from godot_harness import ClientResult, GodotBrowser
from scene_support import SCENE_DIR, RecordingPeer, scene_server, serve_scene_pack

from godot_websocket.scene import SceneMultiplayer, load_gdscript_rpc, rpc_checksum
from godot_websocket.scene.protocol import (
    encode_remote_call,
    encode_rpc_args,
    encode_simplify_path,
)
from godot_websocket.variant import (
    Color,
    NodePath,
    PackedFloat32Array,
    PackedInt32Array,
    PackedStringArray,
    StringName,
    TypedArray,
    VariantType,
    Vector2,
    Vector2i,
    Vector3,
    Vector3i,
    encode_variant,
)

pytestmark = pytest.mark.e2e

DECLARATIONS = load_gdscript_rpc(SCENE_DIR / "e2e_client.gd")
NAMES = sorted(DECLARATIONS)
IDS = {name: index for index, name in enumerate(NAMES)}

# What e2e_client.gd passes to c2s_types (its last argument is the call number).
GODOT_VALUES: list[Any] = [
    42, 300, -2147483649, 1099511627776, True, False, 0.5, 0.1, "héllo ✓",
    StringName("sname"), NodePath("Main/Child:position"), Vector2(1.5, -2.0),
    Vector3i(1, 2, 3), Color(1, 0, 0, 1), [1, "two", 3.5, None], {"k": 1, 2: [True]},
    b"\x01\x02\x03", None, TypedArray(VariantType.TYPE_INT, [1, 2]), PackedInt32Array([1, -1]),
    PackedStringArray(["p"]),
]

# What Python sends to s2c_types, and the Godot type each must arrive as.
PYTHON_VALUES: list[tuple[Any, str]] = [
    (7, "int"), (-300, "int"), (2**40, "int"), (True, "bool"), (False, "bool"),
    (0.25, "float"), (0.1, "float"), ("snow ☃", "String"), (StringName("sn"), "StringName"),
    (NodePath("/root/Main"), "NodePath"), (Vector2(3, 4), "Vector2"),
    (Vector3(1, 2, 3), "Vector3"), (Color(0, 1, 0, 0.5), "Color"),
    ([1, "a", None], "Array"), ({"x": 1, "y": [2]}, "Dictionary"),
    (b"\x00\x01", "PackedByteArray"), (None, "Nil"), (PackedFloat32Array([1.5]),
                                                     "PackedFloat32Array"),
    (Vector2i(-1, 2), "Vector2i"), (2**63 - 1, "int"),
]


class Main:
    """The Python node at /root/Main."""

    def __init__(self, multiplayer: SceneMultiplayer) -> None:
        self.mp = multiplayer
        self.calls: list[tuple[str, int, tuple[Any, ...]]] = []

    def c2s_types(self, *args: Any) -> None:
        sender = self.mp.get_remote_sender_id()
        self.calls.append(("c2s_types", sender, args))
        if args[-1] == 1:
            self.mp.rpc_id(sender, "/root/Main", "s2c_types", *(v for v, _ in PYTHON_VALUES))
            self.mp.rpc_id(sender, "/root/Main", "s2c_bytes", b"\xca\xfe")
            self.mp.rpc_id(sender, "/root/Main", "s2c_none")
            self.mp.send_bytes(b"py-bytes", sender)
        else:
            self.mp.rpc_id(sender, "/root/Main", "s2c_done", {"calls": len(self.calls)})

    def c2s_bytes(self, data: bytes) -> None:
        self.calls.append(("c2s_bytes", self.mp.get_remote_sender_id(), (data,)))

    def c2s_none(self) -> None:
        self.calls.append(("c2s_none", self.mp.get_remote_sender_id(), ()))

    def chat(self, text: str) -> None:
        self.calls.append(("chat", self.mp.get_remote_sender_id(), (text,)))


@pytest.fixture
def server() -> Iterator[tuple[SceneMultiplayer, RecordingPeer, str]]:
    mp, transport, url = scene_server()
    try:
        yield mp, transport, url
    finally:
        transport.close()


def check_ok(result: ClientResult) -> None:
    assert result.exit_code == 0 and not result.timed_out, result.describe()
    assert not result.page_errors, result.describe()


def same(a: Any, b: Any) -> bool:
    """Equal with the same types, recursively (True == 1 is not good enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def test_declarations_read_from_the_gd_file() -> None:
    assert NAMES == ["c2s_bytes", "c2s_none", "c2s_types", "chat", "s2c_bytes", "s2c_done",
                     "s2c_none", "s2c_types"]


def test_godot_client_calls_python_and_python_calls_back(
    godot_browser: GodotBrowser, server: tuple[SceneMultiplayer, RecordingPeer, str]
) -> None:
    mp, transport, url = server
    main = Main(mp)
    node = mp.register_node("/root/Main", main, script_rpc=DECLARATIONS)
    packets: list[tuple[int, bytes]] = []
    mp.peer_packet.connect(lambda sender, data: packets.append((sender, data)))
    pack = serve_scene_pack(godot_browser, "res://scene/e2e_main.tscn")

    [result] = godot_browser.start_clients(url, "rpc", timeout=40, pack=pack).wait(poll=mp.poll)
    check_ok(result)
    cid = result.unique_id
    assert cid is not None and cid >= 2

    # -- what Python received, with types ------------------------------------------------
    assert [(name, sender) for name, sender, _ in main.calls] == [
        ("c2s_types", cid), ("c2s_bytes", cid), ("c2s_none", cid), ("c2s_types", cid)]
    for number, (_, _, args) in zip((1, 2), (main.calls[0], main.calls[3])):
        assert same(list(args), [*GODOT_VALUES, number]), args
    assert main.calls[1][2] == (b"\xde\xad\xbe\xef\x01",)
    assert packets == [(cid, b"c0:hello"), (cid, b"c0:to-all")]

    # -- the client's packets, byte for byte -----------------------------------------------
    md5 = rpc_checksum(NAMES)
    assert node.get_rpc_md5() == md5
    rx = transport.received_from(cid)
    simplify = encode_simplify_path(md5, 1, "Main")  # Godot's md5 == ours
    args, byte_only = encode_rpc_args([*GODOT_VALUES, 1])
    assert rx[0] == simplify
    assert rx[1] == encode_remote_call(IDS["c2s_types"], args, byte_only, path="Main")
    assert rx[1][:10] == bytes.fromhex("2062010080") + bytes((IDS["c2s_types"], 22)) + \
        bytes.fromhex("022a 42")
    assert rx[2] == bytes((0xA0, 0x0B, 0, 0, 0x80, IDS["c2s_bytes"])) + \
        b"\xde\xad\xbe\xef\x01Main\x00"
    assert rx[3] == bytes((0xA0, 0x06, 0, 0, 0x80, IDS["c2s_none"])) + b"Main\x00"
    assert rx[4] == b"\x03c0:hello"
    assert rx[5] == b"\x07\x03\x00\x00\x00\x00\x03c0:to-all"  # send_bytes() default id 0
    assert rx[6] == bytes.fromhex("02 01 01 00 00 00")  # confirms our SIMPLIFY_PATH (4.3+)
    # After our CONFIRM_PATH the client uses the cached form: meta 00, node id 1 (u8).
    assert rx[7][:4] == bytes((0x00, 0x01, IDS["c2s_types"], 22))
    assert len(rx[7]) == len(rx[1]) - 3 - len(b"Main\x00")  # u8 node id, no path
    assert len(rx) == 8

    # -- Python's packets ------------------------------------------------------------------
    tx = transport.sent_to(cid)
    assert tx[0] == bytes.fromhex("02 01 01 00 00 00")
    assert tx[1] == simplify
    s2c_args, s2c_byte_only = encode_rpc_args([v for v, _ in PYTHON_VALUES])
    assert tx[2] == encode_remote_call(IDS["s2c_types"], s2c_args, s2c_byte_only, path="Main")
    assert tx[3] == bytes((0xA0, 0x08, 0, 0, 0x80, IDS["s2c_bytes"])) + b"\xca\xfeMain\x00"
    assert tx[4] == bytes((0xA0, 0x06, 0, 0, 0x80, IDS["s2c_none"])) + b"Main\x00"
    assert tx[5] == b"\x03py-bytes"
    done_args, _ = encode_rpc_args([{"calls": 4}])
    assert tx[6] == bytes((0x00, 0x01, IDS["s2c_done"])) + done_args  # cached by then

    # -- what the Godot client received ----------------------------------------------------
    s2c = result.event("s2c_types")
    assert s2c["sender"] == 1
    assert [arg["type"] for arg in s2c["args"]] == [t for _, t in PYTHON_VALUES]
    for arg, (value, _) in zip(s2c["args"], PYTHON_VALUES):
        assert bytes.fromhex(arg["hex"]) == encode_variant(value), (arg, value)
    assert result.event("s2c_bytes") == {**result.event("s2c_bytes"), "hex": "cafe", "sender": 1}
    assert result.event("s2c_none")["sender"] == 1
    assert [(p["from"], p["hex"]) for p in result.events("packet")] == [(1, b"py-bytes".hex())]
    assert result.event("s2c_done")["summary"] == {"calls": 4}
    assert not [line for line in result.error_lines if "ERROR" in line], result.describe()


def test_added_rpc_method_gives_a_checksum_warning(
    godot_browser: GodotBrowser,
    server: tuple[SceneMultiplayer, RecordingPeer, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    mp, transport, url = server
    calls: list[tuple[str, tuple[Any, ...]]] = []

    class Recorder:
        def c2s_types(self, *args: Any) -> None:
            calls.append(("c2s_types", args))

        def c2s_bytes(self, *args: Any) -> None:
            calls.append(("c2s_bytes", args))

        def c2s_none(self, *args: Any) -> None:
            calls.append(("c2s_none", args))

        def chat(self, *args: Any) -> None:
            calls.append(("chat", args))

    mp.register_node("/root/Main", Recorder(), script_rpc=DECLARATIONS)  # no added_later
    mismatches: list[tuple[int, str, str, str]] = []

    def on_mismatch(peer_id: int, path: str, remote: str, local: str) -> None:
        mismatches.append((peer_id, path, remote, local))
        mp.send_bytes(b"done", peer_id)

    mp.checksum_mismatch.connect(on_mismatch)
    pack = serve_scene_pack(godot_browser, "res://scene/e2e_main_extra.tscn")
    caplog.set_level(logging.WARNING, logger="godot_websocket")

    [result] = godot_browser.start_clients(url, "checksum", timeout=40, pack=pack).wait(
        poll=mp.poll)
    check_ok(result)
    cid = result.unique_id

    extra = load_gdscript_rpc(SCENE_DIR / "e2e_client_extra.gd")  # follows "extends"
    assert sorted(extra) == ["added_later", *NAMES]
    theirs = hashlib.md5("".join(sorted(extra)).encode()).hexdigest()
    ours = rpc_checksum(NAMES)
    assert transport.received_from(cid)[0] == encode_simplify_path(theirs, 1, "Main")
    assert mismatches == [(cid, "/root/Main", theirs, ours)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and "RPC checksum mismatch on node /root/Main" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    message = warnings[0].getMessage()
    assert f"peer {cid} sent checksum {theirs}" in message
    assert f"the Python declarations give {ours}" in message
    assert "different @rpc methods" in message and "load_gdscript_rpc" in message
    # We told the client too (CONFIRM_PATH with checksum_ok 0): its engine logs an error.
    assert transport.sent_to(cid)[:2] == [b"\x02\x00" + struct.pack("<I", 1), b"\x03done"]
    assert any("checksum failed" in line for line in result.error_lines), result.describe()
    # Why it matters: every id shifted by one, so each call reached the next method.
    assert [(name, len(args)) for name, args in calls] == [
        ("chat", 22),  # the client's c2s_types
        ("c2s_none", 1),  # its c2s_bytes
        ("c2s_types", 0),  # its c2s_none
    ]
