"""SceneMultiplayer packets: exact bytes from spec scene-multiplayer.md (4.6.stable vectors)."""

from __future__ import annotations

import hashlib
import logging
import struct

import pytest

from godot_websocket.scene import protocol as p
from godot_websocket.scene.rpc_config import (
    RPCConfig,
    RPCConfigError,
    RPCMode,
    RPCTable,
    TransferMode,
    rpc,
    rpc_checksum,
    rpc_declarations,
)
from godot_websocket.variant import (
    Color,
    NodePath,
    PackedStringArray,
    StringName,
    TypedArray,
    VariantType,
    Vector2,
)

MD5_HELLO_WELCOME = "d117d38f8ad87dcf9f774752ac384419"
MAIN = b"Main\x00"


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# -- checksums and ids (spec §6.1, §13) -------------------------------------------------------


def test_checksums_from_the_spec() -> None:
    assert rpc_checksum(["hello", "welcome"]) == MD5_HELLO_WELCOME
    assert rpc_checksum(["hello"]) == "5d41402abc4b2a76b9719d911017c592"
    assert rpc_checksum([]) == "d41d8cd98f00b204e9800998ecf8427e"
    table = RPCTable({"welcome": RPCConfig(), "hello": RPCConfig(RPCMode.RPC_MODE_ANY_PEER)})
    assert table.checksum == MD5_HELLO_WELCOME
    assert [(m.name, m.id) for m in table] == [("hello", 0), ("welcome", 1)]


def test_script_ids_in_python_sorted_order() -> None:
    names = ["s2c_typed", "c2s", "Zcap", "s2c_auth_local", "_under", "cl_local", "s2c_any",
             "s2c_auth", "s2c_bytes", "c2s_unrel"]
    table = RPCTable(dict.fromkeys(names, RPCConfig()))
    expected = ["Zcap", "_under", "c2s", "c2s_unrel", "cl_local", "s2c_any", "s2c_auth",
                "s2c_auth_local", "s2c_bytes", "s2c_typed"]
    assert [(m.name, m.id) for m in table] == [(n, i) for i, n in enumerate(expected)]
    assert table.checksum == hashlib.md5("".join(expected).encode()).hexdigest()


def test_node_level_and_script_ids() -> None:
    node = {"cfg_x": RPCConfig(), "cfg_a": RPCConfig(),
            "cfg_dis": {"rpc_mode": RPCMode.RPC_MODE_DISABLED}, "child_a": RPCConfig()}
    script = {"base_b": RPCConfig(), "child_a": RPCConfig(), "zz_base": RPCConfig()}
    table = RPCTable(script, node)
    assert {m.name: m.id for m in table if m.node_level} == {
        "cfg_a": 0x8000, "cfg_dis": 0x8001, "cfg_x": 0x8002, "child_a": 0x8003}
    assert [(m.name, m.id) for m in table if not m.node_level] == [
        ("base_b", 0), ("child_a", 1), ("zz_base", 2)]
    assert table.checksum == hashlib.md5(
        b"cfg_acfg_discfg_xchild_a" + b"base_bchild_azz_base").hexdigest()
    # Sending uses the script id; receiving accepts both.
    child = table.method_by_name("child_a")
    assert child is not None and child.id == 1
    node_child = table.method_by_id(0x8003)
    assert node_child is not None and node_child.name == "child_a"
    dis = table.method_by_id(0x8001)
    assert dis is not None and dis.config.rpc_mode == RPCMode.RPC_MODE_DISABLED


def test_entry_without_rpc_mode_is_skipped_but_takes_its_index() -> None:
    table = RPCTable({"a": RPCConfig(), "b": {"call_local": True}, "c": None, "d": RPCConfig()})
    assert [(m.name, m.id) for m in table] == [("a", 0), ("d", 3)]
    assert table.checksum == hashlib.md5(b"ad").hexdigest()
    assert "b" not in table and table.method_by_id(1) is None


def test_rpc_annotation_rules() -> None:
    assert RPCConfig.from_annotation() == RPCConfig(
        RPCMode.RPC_MODE_AUTHORITY, TransferMode.TRANSFER_MODE_RELIABLE, False, 0)
    assert RPCConfig.from_annotation("call_local", "any_peer") == RPCConfig(
        RPCMode.RPC_MODE_ANY_PEER, TransferMode.TRANSFER_MODE_RELIABLE, True, 0)
    cfg = RPCConfig.from_annotation("any_peer", "call_remote", "unreliable_ordered", 3)
    assert cfg.transfer_mode == TransferMode.TRANSFER_MODE_UNRELIABLE_ORDERED
    assert cfg.channel == 3
    # The channel must be the 4th argument (spec §6.2: a parse error in 4.6.stable).
    with pytest.raises(RPCConfigError, match="should be \"String\""):
        RPCConfig.from_annotation("any_peer", "unreliable_ordered", 3)
    with pytest.raises(RPCConfigError, match="more than one mode"):
        RPCConfig.from_annotation("any_peer", "authority")
    with pytest.raises(RPCConfigError, match="invalid @rpc argument"):
        RPCConfig.from_annotation("sometimes")
    with pytest.raises(RPCConfigError, match="at most 4"):
        RPCConfig.from_annotation("any_peer", "call_local", "reliable", 1, 2)
    assert cfg.to_dict() == {"rpc_mode": 1, "transfer_mode": 1, "call_local": False,
                             "channel": 3}
    assert RPCConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.annotation() == '@rpc("any_peer", "call_remote", "unreliable_ordered", 3)'
    assert RPCConfig().annotation() == "@rpc"


def test_rpc_decorator_and_inheritance() -> None:
    class Base:
        @rpc
        def base_b(self) -> None: ...

        @rpc("any_peer")
        def zz_base(self) -> None: ...

        def plain(self) -> None: ...

    class Child(Base):
        @rpc("any_peer", "call_local")
        def child_a(self) -> None: ...

        def zz_base(self) -> None: ...  # overridden without @rpc: still an RPC (GDScript)

    found = rpc_declarations(Child())
    assert sorted(found) == ["base_b", "child_a", "zz_base"]
    assert found["zz_base"].rpc_mode == RPCMode.RPC_MODE_ANY_PEER
    assert found["child_a"].call_local is True
    assert found["base_b"] == RPCConfig()


# -- compact arguments (spec §7) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (42, "02 2a"),
        (300, "42 2c 01"),
        (-1, "02 ff"),
        (100000, "82 a0 86 01 00"),
        (0, "02 00"),
        (127, "02 7f"),
        (-128, "02 80"),
        (128, "42 80 00"),
        (-129, "42 7f ff"),
        (32767, "42 ff 7f"),
        (32768, "82 00 80 00 00"),
        (-32769, "82 ff 7f ff ff"),
        (2147483647, "82 ff ff ff 7f"),
        (2147483648, "c2 00 00 00 80 00 00 00 00"),
        (-2147483649, "c2 ff ff ff 7f ff ff ff ff"),
        (-(2**63), "c2 00 00 00 00 00 00 00 80"),
        (2**63 - 1, "c2 ff ff ff ff ff ff ff 7f"),
        (True, "81"),
        (False, "01"),
        (0.5, "03 00 00 00 00 00 00 3f"),
        (-2.0, "03 00 00 00 00 00 00 c0"),
        (0.1, "03 00 01 00 9a 99 99 99 99 99 b9 3f"),
        ("x", "04 00 00 00 01 00 00 00 78 00 00 00"),
        ("hi", "04 00 00 00 02 00 00 00 68 69 00 00"),
        (None, "00 00 00 00"),
        (StringName("sname"), "15 00 00 00 05 00 00 00 73 6e 61 6d 65 00 00 00"),
        (Color(1, 0, 0, 1), "14 00 00 00 0000803f 00000000 00000000 0000803f"),
        (PackedStringArray(["p"]), "22 00 00 00 01 00 00 00 02 00 00 00 70 00 00 00"),
    ],
)
def test_compact_variant_vectors(value: object, encoded: str) -> None:
    data = h(encoded)
    assert p.encode_compressed_variant(value) == data
    decoded, end = p.decode_compressed_variant(data)
    assert end == len(data)
    assert decoded == value and type(decoded) is type(value)


def test_node_path_argument() -> None:
    data = p.encode_compressed_variant(NodePath("Main/Child:position"))
    assert data[:16] == h("16 00 00 00 02 00 00 80 01 00 00 00 00 00 00 00")
    assert p.decode_compressed_variant(data) == (NodePath("Main/Child:position"), len(data))


def test_compact_forms_for_foreign_ints_and_bools() -> None:
    import enum

    class Level(enum.IntEnum):
        HIGH = 300

    assert p.encode_compressed_variant(Level.HIGH) == h("42 2c 01")
    with pytest.raises(Exception, match="int64"):
        p.encode_compressed_variant(2**63)


def test_non_minimal_and_odd_compact_forms_decode() -> None:
    assert p.decode_compressed_variant(h("c2 05 00 00 00 00 00 00 00")) == (5, 9)
    assert p.decode_compressed_variant(h("82 ff ff ff ff")) == (-1, 5)
    assert p.decode_compressed_variant(h("41")) == (False, 1)  # bool: only bit 7 counts
    assert p.decode_compressed_variant(h("c1")) == (True, 1)
    # Ordinary INT at top level reads as the 1-byte form (Godot reads 0, spec §7).
    assert p.decode_compressed_variant(h("02 00 00 00 07 00 00 00")) == (0, 2)
    with pytest.raises(p.ProtocolError, match="type id 39"):
        p.decode_compressed_variant(h("27 00 00 00"))
    with pytest.raises(p.ProtocolError, match="needs 4 bytes"):
        p.decode_compressed_variant(h("82 01 02"))
    with pytest.raises(p.ProtocolError):
        p.decode_compressed_variant(h("04 00 00 00 09 00 00 00 41"))


def test_typed_containers_from_godot_decode() -> None:
    value, end = p.decode_compressed_variant(
        h("1c 00 01 00 02 00 00 00 02 00 00 00 02 00 00 00 01 00 00 00 02 00 00 00 02 00 00 00"))
    assert isinstance(value, TypedArray) and list(value) == [1, 2]
    assert value.get_typed_builtin() == VariantType.TYPE_INT
    assert end == 28


# -- RPC packets (spec §6.3, §13.1) -------------------------------------------------------------

HELLO_FULL = h("20 15 00 00 80 00 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00 4d 61 69 6e 00")
HELLO_CACHED = h("00 01 00 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00")
WELCOME_FULL = h("20 13 00 00 80 01 01 04 00 00 00 02 00 00 00 68 69 00 00 4d 61 69 6e 00")
WELCOME_CACHED = h("00 01 01 01 04 00 00 00 02 00 00 00 68 69 00 00")


def test_encode_rpcs_exactly_like_godot() -> None:
    args, byte_only = p.encode_rpc_args([42, "x"])
    assert not byte_only
    assert p.encode_remote_call(0, args, byte_only, path="Main") == HELLO_FULL
    assert len(HELLO_FULL) == 26
    assert p.encode_remote_call(0, args, byte_only, cache_id=1) == HELLO_CACHED
    args, byte_only = p.encode_rpc_args(["hi"])
    assert p.encode_remote_call(1, args, byte_only, path="Main") == WELCOME_FULL
    assert p.encode_remote_call(1, args, byte_only, cache_id=1) == WELCOME_CACHED
    # c2s(42, "x") with method id 2, cached (spec §13: checked with other names).
    args, byte_only = p.encode_rpc_args([42, "x"])
    assert p.encode_remote_call(2, args, byte_only, cache_id=1) == h(
        "00 01 02 02 02 2a 04 00 00 00 01 00 00 00 78 00 00 00")
    # rpc("c2s", 5) full path, method id 2 (spec §6.5).
    args, byte_only = p.encode_rpc_args([5])
    assert p.encode_remote_call(2, args, byte_only, path="Main") == h(
        "20 09 00 00 80 02 01 02 05") + MAIN
    # Node-level ids are u16 (meta bit 6): 60 0a 00 00 80 00 80 01 02 01 ...
    args, byte_only = p.encode_rpc_args([1])
    assert p.encode_remote_call(0x8000, args, byte_only, path="Main/Child") == h(
        "60 0a 00 00 80 00 80 01 02 01") + b"Main/Child\x00"


def test_rpc_id_widths() -> None:
    args, byte_only = p.encode_rpc_args([])
    assert (args, byte_only) == (b"", True)
    assert p.encode_remote_call(3, args, True, cache_id=5) == h("80 05 03")
    assert p.encode_remote_call(3, args, True, cache_id=300) == h("90 2c 01 03")
    assert p.encode_remote_call(3, args, True, cache_id=70000) == h("a0 70 11 01 00 03")
    assert p.encode_remote_call(3, args, True, cache_id=5, force_u32_node=True) == h(
        "a0 05 00 00 00 03")
    assert p.encode_remote_call(300, args, True, cache_id=5) == h("c0 05 2c 01")
    assert p.encode_remote_call(3, args, True, path="Main") == h("a0 06 00 00 80 03") + MAIN


def test_byte_only_forms() -> None:
    payload = h("de ad be ef 01")
    args, byte_only = p.encode_rpc_args([payload])
    assert byte_only and args == payload
    assert p.encode_remote_call(2, args, True, path="Main") == h(
        "a0 0b 00 00 80 02 de ad be ef 01") + MAIN
    # An empty PackedByteArray alone goes in the argc form (the byte-only form would
    # arrive as a call without arguments).
    args, byte_only = p.encode_rpc_args([b""])
    assert not byte_only and args == h("01 1d 00 00 00 00 00 00 00")
    # bytes plus another argument: the normal form.
    args, byte_only = p.encode_rpc_args([b"\x01", 2])
    assert not byte_only and args == h("02 1d 00 00 00 01 00 00 00 01 00 00 00 02 02")


def test_decode_rpcs() -> None:
    call = p.decode_packet(HELLO_FULL)
    assert isinstance(call, p.RemoteCall)
    assert (call.path, call.cache_id, call.method_id, call.args) == ("Main", None, 0, (42, "x"))
    assert call.header.args_end == 21
    call = p.decode_packet(HELLO_CACHED)
    assert isinstance(call, p.RemoteCall)
    assert (call.path, call.cache_id, call.method_id, call.args) == (None, 1, 0, (42, "x"))
    call = p.decode_packet(h("a0 0b 00 00 80 02 de ad be ef 01") + MAIN)
    assert isinstance(call, p.RemoteCall)
    assert call.args == (h("de ad be ef 01"),) and call.path == "Main"
    call = p.decode_packet(h("a0 06 00 00 80 02") + MAIN)
    assert isinstance(call, p.RemoteCall) and call.args == ()


@pytest.mark.parametrize(
    "packet",
    [h("00 05 07 00"), h("10 05 00 07 00"), h("20 05 00 00 00 07 00"), h("40 05 07 00 00")],
)
def test_every_node_and_method_id_width(packet: bytes) -> None:
    call = p.decode_packet(packet)
    assert isinstance(call, p.RemoteCall)
    assert (call.cache_id, call.method_id, call.args) == (5, 7, ())


def test_leftover_bytes_after_arguments_are_ignored() -> None:
    call = p.decode_packet(HELLO_CACHED + b"\xff\xff")
    assert isinstance(call, p.RemoteCall) and call.args == (42, "x")


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (h("30 05 00 00"), "compression mode 3"),
        (h("00 05"), "too small"),
        (h("60 01 00"), "too small"),
        (h("00 05 07"), "argument count missing"),
        (h("00 05 07 02 02 01"), "argument 2 of 2 missing"),
        (h("20 40 00 00 80 07 00"), "past the packet end"),
        (h("20 03 00 00 80 07 00 4d 00"), "inside the header"),
        (h("00 05 07 01 2a"), "type id 42"),
    ],
)
def test_malformed_rpcs(packet: bytes, message: str) -> None:
    with pytest.raises(p.ProtocolError, match=message):
        p.decode_packet(packet)


# -- path cache (spec §5) -----------------------------------------------------------------------

SIMPLIFY = b"\x01" + MD5_HELLO_WELCOME.encode() + b"\x00" + h("01 00 00 00") + MAIN


def test_simplify_path() -> None:
    assert len(SIMPLIFY) == 43
    assert p.encode_simplify_path(MD5_HELLO_WELCOME, 1, "Main") == SIMPLIFY
    assert p.decode_packet(SIMPLIFY) == p.SimplifyPath(MD5_HELLO_WELCOME, 1, "Main")
    with pytest.raises(p.ProtocolError, match="too small"):
        p.decode_packet(SIMPLIFY[:37])
    spawner = p.encode_simplify_path("d41d8cd98f00b204e9800998ecf8427e", 2, "Main/Spawner")
    assert spawner == (b"\x01d41d8cd98f00b204e9800998ecf8427e\x00" + h("02 00 00 00")
                       + b"Main/Spawner\x00")


def test_confirm_path_both_layouts() -> None:
    assert p.encode_confirm_path(True, 1, "Main") == h("02 01 01 00 00 00")
    assert p.encode_confirm_path(False, 300, "Main/Child") == h("02 00 2c 01 00 00")
    legacy = p.ConfirmPathLayout.GODOT_4_0
    assert p.encode_confirm_path(True, 1, "Main", legacy) == h("02 01 4d 61 69 6e 00")
    assert p.decode_packet(h("02 01 01 00 00 00")) == p.ConfirmPath(True, 1, None)
    assert p.decode_packet(h("02 01 4d 61 69 6e 00")) == p.ConfirmPath(True, None, "Main")
    # 6 bytes that are also "Mai\0": both readings are offered.
    assert p.decode_packet(b"\x02\x01Mai\x00") == p.ConfirmPath(True, 0x0069614D, "Mai")
    with pytest.raises(p.ProtocolError):
        p.decode_packet(h("02 01"))


# -- raw and SYS (spec §3, §8) ------------------------------------------------------------------


def test_raw_and_ignored_flag_bits() -> None:
    assert p.encode_raw(h("de ad be ef")) == h("03 de ad be ef")
    assert p.decode_packet(h("03 de ad be ef")) == p.Raw(h("de ad be ef"))
    # 4.6.stable: bit 3 and the flags are ignored for commands that do not use them.
    assert p.decode_packet(h("0b 41")) == p.Raw(b"\x41")
    assert p.decode_packet(h("13 42")) == p.Raw(b"\x42")
    with pytest.raises(p.ProtocolError, match="no payload"):
        p.decode_packet(h("03"))
    with pytest.raises(ValueError):
        p.encode_raw(b"")


def test_sys_packets() -> None:
    assert p.encode_add_peer(1234567890) == h("07 01 d2 02 96 49")
    assert p.encode_del_peer(1234567890) == h("07 02 d2 02 96 49")
    assert p.decode_packet(h("07 01 d2 02 96 49")) == p.AddPeer(1234567890)
    assert p.decode_packet(h("07 02 4d 00 00 00")) == p.DelPeer(77)
    assert p.encode_auth() == h("07 00")
    assert p.encode_auth(b"pw") == h("07 00 70 77")
    auth = p.decode_packet(h("07 00"))
    assert isinstance(auth, p.Auth) and auth.is_completion
    assert p.decode_packet(h("07 00 70 77")) == p.Auth(b"pw")
    # Relay: A -> B and B's copy with A's id (spec §13.3); exclusion of B; broadcast raw.
    inner = h("03 68 69")
    assert p.encode_relay(987654321, inner) == h("07 03 b1 68 de 3a 03 68 69")
    assert p.encode_relay(-987654321, inner) == h("07 03 4f 97 21 c5 03 68 69")
    assert p.decode_packet(h("07 03 00 00 00 00 03 de ad be ef")) == p.Relay(
        0, h("03 de ad be ef"))
    assert p.decode_packet(h("07 03 ff ff ff ff 03 01")) == p.Relay(-1, h("03 01"))


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (h("07"), "no sys command"),
        (h("07 01 01 00"), "too small"),
        (h("07 03 4d 00 00 00"), "no inner packet"),
        (h("07 09 00 00 00 00"), "unknown SYS command 9"),
    ],
)
def test_malformed_sys(packet: bytes, message: str) -> None:
    with pytest.raises(p.ProtocolError, match=message):
        p.decode_packet(packet)


def test_replication_packets_are_passed_through() -> None:
    despawn = h("05 01 00 00 00")
    assert p.decode_packet(despawn) == p.Replication(5, despawn)
    sync = h("06 07 00 02 00 00 00 0c 00 00 00 05 00 00 00 00 00 80 3f 00 00 00 40")
    assert p.decode_packet(sync) == p.Replication(6, sync)
    assert p.decode_packet(h("16 01")) == p.Replication(6, h("16 01"))


def test_vector_args_round_trip() -> None:
    args, byte_only = p.encode_rpc_args([Vector2(1, 2), {"a": [1, "b"]}, [True, None]])
    header = p.parse_remote_call_header(p.encode_remote_call(4, args, byte_only, cache_id=9))
    data = p.encode_remote_call(4, args, byte_only, cache_id=9)
    assert p.decode_rpc_args(data, header) == (Vector2(1, 2), {"a": [1, "b"]}, [True, None])
    # Nested ints and bools use the ordinary format, not the compact one.
    assert args[1 + 12 :][:8] == struct.pack("<II", 27, 1)


def test_too_many_args() -> None:
    with pytest.raises(ValueError, match="too many"):
        p.encode_rpc_args([0] * 256)
    assert p.encode_rpc_args([0] * 255)[0][0] == 255


def test_decoder_never_raises_anything_else(caplog: pytest.LogCaptureFixture) -> None:
    import random

    rng = random.Random(1234)
    seeds = [HELLO_FULL, HELLO_CACHED, WELCOME_FULL, SIMPLIFY, h("07 03 00 00 00 00 03 01")]
    caplog.set_level(logging.CRITICAL)
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        data = data[: rng.randint(0, len(data))]
        try:
            p.decode_packet(bytes(data))
        except p.ProtocolError:
            pass
