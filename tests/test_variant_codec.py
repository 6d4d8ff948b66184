"""Encoding and decoding rules of the binary Variant format, checked byte by byte.

Covers number widths, double-precision (FLAG_64) input, strings, NodePath, typed
containers, objects, every decoder error code, the recursion limit, huge size fields,
foreign Python values and the logging wrappers.
"""

from __future__ import annotations

import array
import enum
import logging
import math
import struct
import time
import tracemalloc
from collections import OrderedDict
from typing import Any

import pytest

from godot_websocket.error import Error
from godot_websocket.variant import (
    AABB,
    MAX_RECURSION_DEPTH,
    RID,
    Basis,
    Callable,
    Color,
    ContainerType,
    EncodedObjectAsID,
    GodotObject,
    NodePath,
    PackedColorArray,
    PackedFloat32Array,
    PackedFloat64Array,
    PackedInt32Array,
    PackedInt64Array,
    PackedStringArray,
    PackedVector2Array,
    PackedVector3Array,
    PackedVector4Array,
    Plane,
    Projection,
    Quaternion,
    Rect2,
    Rect2i,
    Signal,
    StringName,
    Transform2D,
    Transform3D,
    TypedArray,
    TypedDictionary,
    VariantError,
    VariantType,
    Vector2,
    Vector2i,
    Vector3,
    Vector3i,
    Vector4,
    Vector4i,
    bytes_to_var,
    bytes_to_var_with_objects,
    decode_variant,
    encode_variant,
    var_to_bytes,
    var_to_bytes_with_objects,
)
from test_variant_support import assert_same

T = VariantType
FLAG_64 = 1 << 16


def u32(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}I", *values)


def i32(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


def f32(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def f64(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def pstr(text: str) -> bytes:
    data = text.encode()
    return u32(len(data)) + data + b"\0" * (-len(data) & 3)


def decode_error(data: bytes, allow_objects: bool = False) -> Error:
    with pytest.raises(VariantError) as info:
        decode_variant(data, allow_objects=allow_objects)
    return info.value.error


def roundtrip(value: Any, expected: bytes, full_objects: bool = False) -> None:
    data = encode_variant(value, full_objects=full_objects)
    assert data.hex() == expected.hex()
    decoded, consumed = decode_variant(data, allow_objects=full_objects)
    assert consumed == len(data)
    assert_same(decoded, value)


# ----------------------------------------------------------------------------- INT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, u32(2, 0)),
        (-1, u32(2) + i32(-1)),
        (2**31 - 1, u32(2) + i32(2**31 - 1)),
        (-(2**31), u32(2) + i32(-(2**31))),
        (2**31, u32(2 | FLAG_64) + struct.pack("<q", 2**31)),
        (-(2**31) - 1, u32(2 | FLAG_64) + struct.pack("<q", -(2**31) - 1)),
        (2**63 - 1, u32(2 | FLAG_64) + struct.pack("<q", 2**63 - 1)),
        (-(2**63), u32(2 | FLAG_64) + struct.pack("<q", -(2**63))),
    ],
)
def test_int_width(value: int, expected: bytes) -> None:
    roundtrip(value, expected)


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_int_outside_int64(value: int, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(VariantError) as info:
        encode_variant(value)
    assert info.value.error == Error.ERR_PARAMETER_RANGE_ERROR
    assert str(value) in str(info.value)
    with caplog.at_level(logging.ERROR, logger="godot_websocket.variant"):
        assert var_to_bytes([value]) == b""
    assert len(caplog.records) == 1


def test_int64_payload_of_a_small_value_is_accepted() -> None:
    assert decode_variant(u32(2 | FLAG_64) + struct.pack("<q", 5)) == (5, 12)


def test_bool() -> None:
    roundtrip(True, u32(1, 1))
    roundtrip(False, u32(1, 0))
    assert decode_variant(u32(1, 0xDEADBEEF)) == (True, 8)  # any non-zero is true


# --------------------------------------------------------------------------- FLOAT

FLT_MAX = struct.unpack("<f", bytes.fromhex("ffff7f7f"))[0]
FLT_TRUE_MIN = struct.unpack("<f", bytes.fromhex("01000000"))[0]


@pytest.mark.parametrize(
    ("value", "payload"),
    [
        (1.0, "0000803f"),
        (0.5, "0000003f"),
        (-2.5, "000020c0"),
        (0.15625, "0000203e"),
        (FLT_MAX, "ffff7f7f"),
        (FLT_TRUE_MIN, "01000000"),
        (math.inf, "0000807f"),
        (-math.inf, "000080ff"),
        (-0.0, "00000080"),
        (0.0, "00000000"),
    ],
)
def test_float_exactly_representable_is_32_bit(value: float, payload: str) -> None:
    roundtrip(value, u32(3) + bytes.fromhex(payload))


@pytest.mark.parametrize(
    "value", [0.1, 1 / 3, 16777217.0, 1e300, 1e-46, -1e-46, FLT_MAX * 1.0000001, 0.2]
)
def test_float_not_representable_is_64_bit(value: float) -> None:
    roundtrip(value, u32(3 | FLAG_64) + f64(value))


def test_nan_is_64_bit() -> None:
    data = encode_variant(math.nan)
    assert data[:4] == u32(3 | FLAG_64)
    assert math.isnan(struct.unpack("<d", data[4:])[0])
    value, consumed = decode_variant(data)
    assert math.isnan(value)
    assert consumed == 12
    # A NaN in a binary32 payload decodes too.
    assert math.isnan(decode_variant(u32(3) + bytes.fromhex("0000c07f"))[0])


def test_float32_payload_widens_exactly() -> None:
    assert decode_variant(u32(3) + f32(0.1)) == (struct.unpack("<f", f32(0.1))[0], 8)


# ------------------------------------------------------------ real_t math types

MATH_CASES = [
    (Vector2(1.5, -2), 5, (1.5, -2)),
    (Rect2(1, 2, 3, 4), 7, (1, 2, 3, 4)),
    (Vector3(1, 2, 3), 9, (1, 2, 3)),
    (Transform2D(Vector2(1, 2), Vector2(3, 4), Vector2(5, 6)), 11, (1, 2, 3, 4, 5, 6)),
    (Vector4(1, 2, 3, 4), 12, (1, 2, 3, 4)),
    (Plane(Vector3(0, 1, 0), 5), 14, (0, 1, 0, 5)),
    (Quaternion(1, 2, 3, 4), 15, (1, 2, 3, 4)),
    (AABB(Vector3(1, 2, 3), Vector3(4, 5, 6)), 16, (1, 2, 3, 4, 5, 6)),
    # Basis is streamed row-major: x.x, y.x, z.x, x.y, ...
    (Basis(Vector3(1, 2, 3), Vector3(4, 5, 6), Vector3(7, 8, 9)), 17, (1, 4, 7, 2, 5, 8, 3, 6, 9)),
    (
        Transform3D(Vector3(1, 2, 3), Vector3(4, 5, 6), Vector3(7, 8, 9), Vector3(10, 11, 12)),
        18,
        (1, 4, 7, 2, 5, 8, 3, 6, 9, 10, 11, 12),
    ),
    (
        Projection(
            Vector4(1, 2, 3, 4),
            Vector4(5, 6, 7, 8),
            Vector4(9, 10, 11, 12),
            Vector4(13, 14, 15, 16),
        ),
        19,
        tuple(range(1, 17)),
    ),
]


@pytest.mark.parametrize(("value", "type_id", "components"), MATH_CASES)
def test_real_t_types_are_binary32(value: Any, type_id: int, components: tuple[float, ...]) -> None:
    roundtrip(value, u32(type_id) + f32(*components))


@pytest.mark.parametrize(("value", "type_id", "components"), MATH_CASES)
def test_double_precision_builds_decode(
    value: Any, type_id: int, components: tuple[float, ...]
) -> None:
    # A precision=double Godot sets FLAG_64 and writes binary64 components.
    data = u32(type_id | FLAG_64) + f64(*components)
    decoded, consumed = decode_variant(data)
    assert consumed == 4 + 8 * len(components)
    assert_same(decoded, value)
    # Truncated 64-bit payloads are invalid even if 32-bit ones would fit.
    assert decode_error(data[: 4 + 4 * len(components)]) == Error.ERR_INVALID_DATA


def test_double_precision_values_are_rounded_to_real_t() -> None:
    decoded, _ = decode_variant(u32(5 | FLAG_64) + f64(0.1, 1e300))
    assert decoded == Vector2(0.1, math.inf)
    assert decoded.x == struct.unpack("<f", f32(0.1))[0]


def test_color_ignores_flag_64() -> None:
    # Colors are always binary32, even in double builds.
    data = u32(20 | FLAG_64) + f32(0.5, 0.25, 1, 1)
    assert decode_variant(data) == (Color(0.5, 0.25, 1, 1), 20)
    roundtrip(Color(0.5, 0.25, 1, 1), u32(20) + f32(0.5, 0.25, 1, 1))


@pytest.mark.parametrize(
    ("value", "type_id", "fmt", "components"),
    [
        (Vector2i(-1, 2**31 - 1), 6, "2i", (-1, 2**31 - 1)),
        (Rect2i(1, -2, 3, 4), 8, "4i", (1, -2, 3, 4)),
        (Vector3i(1, 2, -(2**31)), 10, "3i", (1, 2, -(2**31))),
        (Vector4i(1, 2, 3, 4), 13, "4i", (1, 2, 3, 4)),
    ],
)
def test_integer_vectors(value: Any, type_id: int, fmt: str, components: tuple[int, ...]) -> None:
    roundtrip(value, u32(type_id) + struct.pack("<" + fmt, *components))
    # Header flags are ignored for them.
    assert_same(
        decode_variant(u32(type_id | FLAG_64) + struct.pack("<" + fmt, *components))[0], value
    )


def test_header_bits_8_to_15_are_ignored() -> None:
    assert decode_variant(u32(0x0000FF02) + i32(7)) == (7, 8)
    assert decode_variant(u32(0xFFF0FF00)) == (None, 4)


# ------------------------------------------------------------------------- strings


def test_string_padding() -> None:
    roundtrip("", u32(4, 0))
    roundtrip("a", u32(4, 1) + b"a\0\0\0")
    roundtrip("abcd", u32(4, 4) + b"abcd")
    roundtrip("é", u32(4, 2) + b"\xc3\xa9\0\0")  # byte length, not characters
    roundtrip(StringName("x"), u32(21, 1) + b"x\0\0\0")


def test_string_padding_content_is_not_checked() -> None:
    assert decode_variant(u32(4, 1) + b"a\xff\xff\xff") == ("a", 12)


def test_string_stops_at_nul_and_skips_bom() -> None:
    # Godot's UTF-8 parser stops at the first NUL (anything after it is ignored, even
    # invalid UTF-8) and skips a leading byte order mark.
    assert decode_variant(u32(4, 4) + b"ab\0c") == ("ab", 12)
    assert decode_variant(u32(4, 4) + b"a\0\xff\xff") == ("a", 12)
    assert decode_variant(u32(4, 5) + b"\xef\xbb\xbfhi\0\0\0") == ("hi", 16)
    assert decode_variant(u32(4, 3) + b"\xef\xbb\xbf\0") == ("", 12)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",  # invalid leading byte
        b"\xc3",  # missing continuation
        b"\xc0\x80",  # overlong NUL
        b"\xe0\x80\x80",  # overlong
        b"\xed\xa0\x80",  # surrogate
        b"\xf4\x90\x80\x80",  # > U+10FFFF
        b"\xf8\x88\x80\x80\x80",  # 5-byte sequence
        b"a\x80",  # stray continuation byte
    ],
)
def test_invalid_utf8(raw: bytes) -> None:
    data = u32(4, len(raw)) + raw + b"\0" * (-len(raw) & 3)
    assert decode_error(data) == Error.ERR_INVALID_DATA


def test_string_length_errors() -> None:
    assert decode_error(u32(4)) == Error.ERR_INVALID_DATA  # no length word
    assert decode_error(u32(4, 0x80000000)) == Error.ERR_FILE_EOF  # negative length
    assert decode_error(u32(4, 0xFFFFFFFF)) == Error.ERR_FILE_EOF
    assert decode_error(u32(4, 5) + b"abcd") == Error.ERR_FILE_EOF  # data short
    assert decode_error(u32(4, 3) + b"abc") == Error.ERR_FILE_EOF  # padding is required
    assert decode_error(u32(4, 0x7FFFFFFF) + b"abcd") == Error.ERR_FILE_EOF


def test_lone_surrogate_cannot_be_encoded() -> None:
    with pytest.raises(VariantError) as info:
        encode_variant("\ud800")
    assert info.value.error == Error.ERR_INVALID_DATA
    with pytest.raises(VariantError):
        encode_variant(PackedStringArray(["\udfff"]))


# ------------------------------------------------------------------------ NodePath


def test_node_path_layout() -> None:
    roundtrip(NodePath(""), u32(22, 0x80000000, 0, 0))
    roundtrip(
        NodePath("/root/Main:position:x"),
        u32(22, 0x80000002, 2, 1) + pstr("root") + pstr("Main") + pstr("position") + pstr("x"),
    )
    roundtrip(NodePath("."), u32(22, 0x80000001, 0, 0) + pstr("."))


def test_node_path_padding_content_is_ignored() -> None:
    # Godot does not write NodePath padding; whatever is there must be accepted.
    data = u32(22, 0x80000001, 0, 0) + u32(1) + b".\x7f\x9a\x7c"
    assert decode_variant(data) == (NodePath("."), 24)


def test_node_path_old_format_and_obsolete_property_flag() -> None:
    assert decode_error(u32(22, 1) + pstr("a")) == Error.ERR_INVALID_DATA
    assert decode_error(u32(22, 0x80000000, 0)) == Error.ERR_INVALID_DATA
    assert decode_error(u32(22)) == Error.ERR_INVALID_DATA
    # flags bit 1: one more (property) string, appended to the subnames.
    data = u32(22, 0x80000001, 1, 2) + pstr("Node") + pstr("pos") + pstr("x")
    assert decode_variant(data) == (NodePath("Node:pos:x"), len(data))
    assert decode_error(u32(22, 0x80000001, 0, 0) + u32(9) + b"ab") == Error.ERR_FILE_EOF


def test_node_path_counts_wrap_like_uint32() -> None:
    # name_count 1 + subname_count 0xffffffff wraps to 0 strings in Godot's uint32 math.
    data = u32(22, 0x80000001, 0xFFFFFFFF, 0)
    assert decode_variant(data) == (NodePath(""), 16)


# ------------------------------------------------------ RID, Callable, Signal, ids


def test_rid_callable_signal() -> None:
    roundtrip(RID(0), u32(23) + struct.pack("<q", 0))
    roundtrip(RID(-5), u32(23) + struct.pack("<q", -5))
    roundtrip(Callable(), u32(25))
    roundtrip(Signal(1234, "hit"), u32(26) + pstr("hit") + struct.pack("<q", 1234))
    assert decode_error(u32(23, 1)) == Error.ERR_INVALID_DATA
    assert decode_error(u32(26) + pstr("hit") + u32(0)) == Error.ERR_INVALID_DATA
    assert decode_variant(u32(25) + u32(99)) == (Callable(), 4)  # no payload is read


def test_unsigned_ids_are_seen_as_int64() -> None:
    assert RID(2**64 - 1) == RID(-1)
    data = u32(24 | FLAG_64) + bytes.fromhex("5400005800000080")
    assert decode_variant(data) == (EncodedObjectAsID(-9223372035378380716), 12)
    assert EncodedObjectAsID(0x8000000058000054).object_id == -9223372035378380716


# ------------------------------------------------------------------------- objects


def test_object_as_id() -> None:
    roundtrip(EncodedObjectAsID(77), u32(24 | FLAG_64) + struct.pack("<q", 77))
    # id 0 is a null object; ids decode even without allow_objects.
    assert decode_variant(u32(24 | FLAG_64, 0, 0)) == (None, 12)
    assert decode_error(u32(24 | FLAG_64, 1)) == Error.ERR_INVALID_DATA
    obj = GodotObject("Node", {"name": "x"}, instance_id=99)
    assert encode_variant(obj) == u32(24 | FLAG_64) + struct.pack("<q", 99)
    assert encode_variant(EncodedObjectAsID(5), full_objects=True) == encode_variant(
        EncodedObjectAsID(5)
    )


def test_object_without_instance_id_needs_full_objects() -> None:
    with pytest.raises(VariantError) as info:
        encode_variant(GodotObject("Node"))
    assert info.value.error == Error.ERR_INVALID_PARAMETER


def test_full_object_layout() -> None:
    obj = GodotObject("Node2D", {"position": Vector2(1, 2), "name": StringName("P")})
    expected = (
        u32(24)
        + pstr("Node2D")
        + u32(2)
        + pstr("position")
        + u32(5)
        + f32(1, 2)
        + pstr("name")
        + u32(21)
        + pstr("P")
    )
    roundtrip(obj, expected, full_objects=True)
    roundtrip(GodotObject("RefCounted"), u32(24) + pstr("RefCounted") + u32(0), full_objects=True)


def test_full_objects_need_allow_objects_at_any_depth() -> None:
    obj = encode_variant(GodotObject("Resource"), full_objects=True)
    for data in (obj, u32(28, 1) + obj, u32(27, 1) + pstr("k") + u32(28, 1) + obj):
        assert decode_error(data) == Error.ERR_UNAUTHORIZED
    # Checked before the class name is read.
    assert decode_error(u32(24)) == Error.ERR_UNAUTHORIZED


def test_full_object_decoding() -> None:
    assert decode_variant(u32(24) + pstr(""), allow_objects=True) == (None, 8)
    # Negative property count: no properties.
    data = u32(24) + pstr("Node") + i32(-3)
    assert decode_variant(data, allow_objects=True) == (GodotObject("Node"), len(data))
    assert decode_error(u32(24) + pstr("Node"), allow_objects=True) == Error.ERR_INVALID_DATA
    assert decode_error(u32(24) + pstr("Node") + u32(1), True) == Error.ERR_INVALID_DATA
    assert decode_error(u32(24) + pstr("Node") + u32(1) + u32(9), True) == Error.ERR_FILE_EOF


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (None, None),
        ("res://player.gd", None),
        ("user://player.gd", Error.ERR_INVALID_DATA),
        ("", Error.ERR_INVALID_DATA),
        (StringName("res://player.gd"), Error.ERR_INVALID_DATA),  # must be a String
        (5, Error.ERR_INVALID_DATA),
    ],
)
def test_object_script_property_on_decode(script: Any, error: Error | None) -> None:
    data = u32(24) + pstr("Node") + u32(1) + pstr("script") + encode_variant(script)
    if error is None:
        obj, _ = decode_variant(data, allow_objects=True)
        assert obj == GodotObject("Node", {"script": script})
    else:
        assert decode_error(data, allow_objects=True) == error


def test_object_script_property_on_encode() -> None:
    ok = GodotObject("Node", {"script": "res://a.gd"})
    assert encode_variant(ok, full_objects=True).endswith(
        pstr("script") + u32(4) + pstr("res://a.gd")
    )
    for bad in ("user://a.gd", "", 3):
        with pytest.raises(VariantError) as info:
            encode_variant(GodotObject("Node", {"script": bad}), full_objects=True)
        assert info.value.error == Error.ERR_UNAVAILABLE
    with pytest.raises(VariantError) as info:
        encode_variant(GodotObject(""), full_objects=True)
    assert info.value.error == Error.ERR_INVALID_PARAMETER


# ---------------------------------------------------------------- typed containers


def test_typed_array_builtin() -> None:
    roundtrip(TypedArray(T.TYPE_STRING, []), u32(28 | 1 << 16, 4, 0))
    roundtrip(
        TypedArray(T.TYPE_FLOAT, [1.5, 0.1]),
        u32(28 | 1 << 16, 3, 2) + u32(3) + f32(1.5) + u32(3 | FLAG_64) + f64(0.1),
    )


def test_typed_array_of_objects() -> None:
    node_array = TypedArray(ContainerType(T.TYPE_OBJECT, "Node"), [EncodedObjectAsID(3), None])
    elements = u32(24 | FLAG_64) + struct.pack("<q", 3) + u32(0)
    # Without full objects the class is sent as EncodedObjectAsID (Godot 4.3+).
    data = encode_variant(node_array)
    assert data == u32(28 | 2 << 16) + pstr("EncodedObjectAsID") + u32(2) + elements
    decoded, _ = decode_variant(data)
    assert decoded.element_type == ContainerType(T.TYPE_OBJECT, "EncodedObjectAsID")
    assert decoded == [EncodedObjectAsID(3), None]
    # With full objects the class name travels and is kept with allow_objects.
    data = encode_variant(node_array, full_objects=True)
    assert data == u32(28 | 2 << 16) + pstr("Node") + u32(2) + elements
    assert_same(decode_variant(data, allow_objects=True)[0], node_array)
    assert decode_variant(data)[0].element_type.class_name == "EncodedObjectAsID"


def test_typed_array_of_script_class() -> None:
    scripted = TypedArray(ContainerType(T.TYPE_OBJECT, "", "res://enemy.gd"), [])
    data = encode_variant(scripted, full_objects=True)
    assert data == u32(28 | 3 << 16) + pstr("res://enemy.gd") + u32(0)
    assert_same(decode_variant(data, allow_objects=True)[0], scripted)
    assert decode_variant(data)[0].element_type.class_name == "EncodedObjectAsID"
    assert encode_variant(scripted) == u32(28 | 2 << 16) + pstr("EncodedObjectAsID") + u32(0)
    bad = u32(28 | 3 << 16) + pstr("user://enemy.gd") + u32(0)
    assert decode_error(bad, allow_objects=True) == Error.ERR_INVALID_DATA
    assert decode_variant(bad)[1] == len(bad)  # without objects the path is not checked
    with pytest.raises(VariantError) as info:
        encode_variant(
            TypedArray(ContainerType(T.TYPE_OBJECT, "", "enemy.gd"), []), full_objects=True
        )
    assert info.value.error == Error.ERR_UNAVAILABLE


def test_typed_array_builtin_object_and_nil() -> None:
    data = u32(28 | 1 << 16, 24, 0)
    assert decode_variant(data, allow_objects=True)[0].element_type == ContainerType(T.TYPE_OBJECT)
    assert decode_variant(data)[0].element_type.class_name == "EncodedObjectAsID"
    # BUILTIN with TYPE_NIL is an untyped Array.
    assert_same(decode_variant(u32(28 | 1 << 16, 0, 1, 2, 5))[0], [5])


def test_typed_container_errors() -> None:
    assert decode_error(u32(28 | 1 << 16)) == Error.ERR_INVALID_DATA
    assert decode_error(u32(28 | 1 << 16, 39, 0)) == Error.ERR_INVALID_DATA
    assert decode_error(u32(28 | 1 << 16, 0xFFFFFFFF, 0)) == Error.ERR_INVALID_DATA
    assert decode_error(u32(28 | 2 << 16, 40)) == Error.ERR_FILE_EOF
    assert decode_error(u32(27 | 5 << 16, 2)) == Error.ERR_INVALID_DATA
    assert decode_error(u32(27 | 5 << 16, 2, 2)) == Error.ERR_INVALID_DATA  # no count


def test_typed_array_drops_mismatching_elements_like_godot(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = u32(28 | 1 << 16, 2, 3) + u32(2, 1) + u32(4) + pstr("x") + u32(2, 3)
    with caplog.at_level(logging.ERROR, logger="godot_websocket.variant"):
        value, consumed = decode_variant(data)
    assert consumed == len(data)
    assert_same(value, TypedArray(T.TYPE_INT, [1, 3]))
    assert len(caplog.records) == 1


def test_typed_containers_convert_like_godot() -> None:
    # int -> float (through a C float cast), String <-> StringName.
    data = u32(28 | 1 << 16, 3, 2) + u32(2, 16777217) + u32(2, 2)
    assert_same(decode_variant(data)[0], TypedArray(T.TYPE_FLOAT, [16777216.0, 2.0]))
    data = u32(27 | 5 << 16, 21, 4, 1) + u32(4) + pstr("a") + u32(21) + pstr("b")
    assert_same(
        decode_variant(data)[0],
        TypedDictionary(T.TYPE_STRING_NAME, T.TYPE_STRING, {StringName("a"): "b"}),
    )


def test_typed_dictionary_layout() -> None:
    roundtrip(
        TypedDictionary(T.TYPE_STRING, T.TYPE_NIL, {"a": None}),
        u32(27 | 1 << 16, 4, 1) + u32(4) + pstr("a") + u32(0),
    )
    roundtrip(
        TypedDictionary(T.TYPE_NIL, ContainerType(T.TYPE_OBJECT, "Node"), {}),
        u32(27 | 2 << 18) + pstr("Node") + u32(0),
        full_objects=True,
    )
    # Godot's example header: 1b 00 09 00 = key BUILTIN, value CLASS_NAME.
    d = TypedDictionary(T.TYPE_INT, ContainerType(T.TYPE_OBJECT, "Node"), {})
    assert encode_variant(d)[:4].hex() == "1b000900"


def test_dictionary_and_array_count_bit_31_is_ignored() -> None:
    assert decode_variant(u32(28, 0x80000001, 0)) == ([None], 12)
    assert decode_variant(u32(27, 0x80000001) + u32(2, 1, 2, 2)) == ({1: 2}, 24)


def test_duplicate_dictionary_keys_overwrite() -> None:
    data = u32(27, 2) + u32(2, 1, 2, 10) + u32(2, 1, 2, 20)
    assert decode_variant(data) == ({1: 20}, len(data))


def test_array_keys_become_tuples() -> None:
    value = {(1, (2, "x")): "v"}
    data = encode_variant(value)
    key = u32(28, 2) + u32(2, 1) + u32(28, 2) + u32(2, 2) + u32(4) + pstr("x")
    assert data == u32(27, 1) + key + u32(4) + pstr("v")
    decoded, _ = decode_variant(data)
    assert_same(decoded, value)


def test_dictionary_key_that_python_cannot_hash() -> None:
    data = u32(27, 1) + u32(27, 0) + u32(0)
    assert decode_error(data) == Error.ERR_INVALID_DATA


# --------------------------------------------------------------------- packed arrays


def test_packed_byte_array_padding_is_optional() -> None:
    assert decode_variant(u32(29, 1) + b"\x07") == (b"\x07", 12)
    assert decode_variant(u32(29, 5) + b"abcde\0\0\0") == (b"abcde", 16)
    roundtrip(b"", u32(29, 0))
    assert encode_variant(bytearray(b"ab")) == u32(29, 2) + b"ab\0\0"


def test_packed_string_array_nul_terminators() -> None:
    roundtrip(PackedStringArray(["abc"]), u32(34, 1, 4) + b"abc\0")
    roundtrip(PackedStringArray([""]), u32(34, 1, 1) + b"\0\0\0\0")
    roundtrip(PackedStringArray(["a"]), u32(34, 1, 2) + b"a\0\0\0")
    # Elements without a NUL decode too; a negative count is an empty array.
    assert decode_variant(u32(34, 1) + pstr("abcd")) == (PackedStringArray(["abcd"]), 16)
    assert decode_variant(u32(34, 0xFFFFFFFF)) == (PackedStringArray(), 8)


@pytest.mark.parametrize(
    ("cls", "type_id", "values", "payload"),
    [
        (PackedInt32Array, 30, [1, -2], i32(1, -2)),
        (PackedInt64Array, 31, [2**40, -1], struct.pack("<2q", 2**40, -1)),
        (PackedFloat32Array, 32, [0.5, -1], f32(0.5, -1)),
        (PackedFloat64Array, 33, [0.1, 2], f64(0.1, 2)),
        (PackedVector2Array, 35, [Vector2(1, 2), Vector2(3, 4)], f32(1, 2, 3, 4)),
        (PackedVector3Array, 36, [Vector3(1, 2, 3)], f32(1, 2, 3)),
        (PackedColorArray, 37, [Color(1, 0, 0, 0.5)], f32(1, 0, 0, 0.5)),
        (PackedVector4Array, 38, [Vector4(1, 2, 3, 4)], f32(1, 2, 3, 4)),
    ],
)
def test_packed_numeric_layout(cls: Any, type_id: int, values: list[Any], payload: bytes) -> None:
    roundtrip(cls(values), u32(type_id, len(values)) + payload)
    roundtrip(cls(), u32(type_id, 0))
    data = u32(type_id, len(values)) + payload
    assert decode_error(data[:-1]) == Error.ERR_INVALID_DATA
    assert decode_error(u32(type_id, 0x80000000)) == Error.ERR_INVALID_DATA
    assert decode_error(u32(type_id)) == Error.ERR_INVALID_DATA


@pytest.mark.parametrize(
    ("cls", "type_id", "width"),
    [(PackedVector2Array, 35, 2), (PackedVector3Array, 36, 3), (PackedVector4Array, 38, 4)],
)
def test_packed_vectors_from_double_builds(cls: Any, type_id: int, width: int) -> None:
    comps = [0.1 * i for i in range(2 * width)]
    data = u32(type_id | FLAG_64, 2) + f64(*comps)
    value, consumed = decode_variant(data)
    assert consumed == len(data)
    assert_same(value, cls.from_byte_array(f32(*comps)))
    assert decode_error(data[:-8]) == Error.ERR_INVALID_DATA


def test_packed_color_array_ignores_flag_64() -> None:
    data = u32(37 | FLAG_64, 1) + f32(1, 2, 3, 4)
    assert decode_variant(data) == (PackedColorArray([Color(1, 2, 3, 4)]), 24)


# --------------------------------------------------------------- decoder errors (§8)


@pytest.mark.parametrize(
    "hexdata",
    [
        "",
        "000000",
        "27000000",  # type 39 = VARIANT_MAX
        "ff000000",
        "01000000",  # bool without payload
        "02000000",  # int32 without payload
        "0200010001000000",  # int64 truncated
        "0300000000",  # float truncated
        "05000000" + "00" * 7,  # Vector2 truncated
        "06000000" + "00" * 7,  # Vector2i truncated
        "14000000" + "00" * 15,  # Color truncated
        "13000000" + "00" * 63,  # Projection truncated
        "1b000000",  # Dictionary without count
        "1c000000",  # Array without count
        "1c00000001000000",  # Array element missing
        "1b0000000100000000000000",  # Dictionary value missing
        "1d000000",  # PackedByteArray without count
        "1d00000005000000aabbccdd",  # PackedByteArray data short
        "22000000",  # PackedStringArray without count
        "1600000000000080",  # NodePath words missing
    ],
)
def test_invalid_data(hexdata: str) -> None:
    assert decode_error(bytes.fromhex(hexdata)) == Error.ERR_INVALID_DATA


def test_errors_inside_containers_propagate_unchanged() -> None:
    assert decode_error(u32(28, 1) + u32(4, 9) + b"ab") == Error.ERR_FILE_EOF
    assert decode_error(u32(27, 1) + u32(4, 1) + b"\xff\0\0\0" + u32(0)) == Error.ERR_INVALID_DATA


def test_decode_accepts_only_bytes_like() -> None:
    with pytest.raises(TypeError):
        decode_variant(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        decode_variant("00000000")  # type: ignore[arg-type]
    assert decode_variant(array.array("I", [2, 9])) == (9, 8)  # type: ignore[arg-type]


# -------------------------------------------------------------------- depth limit


def nested_arrays(levels: int) -> bytes:
    return u32(28, 1) * (levels - 1) + u32(28, 0)


def test_decode_depth_limit() -> None:
    assert MAX_RECURSION_DEPTH == 1024
    value, consumed = decode_variant(nested_arrays(1025))
    assert consumed == 8 * 1025
    depth = 0
    while value:
        value = value[0]
        depth += 1
    assert depth == 1024
    assert decode_error(nested_arrays(1026)) == Error.ERR_OUT_OF_MEMORY
    # A leaf at depth 1025 fails too, and so do dictionaries, objects and typed arrays.
    assert decode_error(u32(28, 1) * 1025 + u32(0)) == Error.ERR_OUT_OF_MEMORY
    dicts = (u32(27, 1) + u32(0)) * 1025 + u32(0)
    assert decode_error(dicts) == Error.ERR_OUT_OF_MEMORY
    assert decode_variant((u32(27, 1) + u32(0)) * 1024 + u32(0))[1] == 12 * 1024 + 4
    typed = u32(28 | 1 << 16, 28, 1) * 1025 + u32(28, 0)
    assert decode_error(typed) == Error.ERR_OUT_OF_MEMORY
    objects = (u32(24) + pstr("O") + u32(1) + pstr("p")) * 1025 + u32(0)
    assert decode_error(objects, allow_objects=True) == Error.ERR_OUT_OF_MEMORY
    keys = u32(27, 1) * 1025 + u32(27, 0) + u32(0) * 1025
    assert decode_error(keys) == Error.ERR_OUT_OF_MEMORY


def test_encode_depth_limit(caplog: pytest.LogCaptureFixture) -> None:
    value: list[Any] = []
    for _ in range(1024):
        value = [value]
    assert encode_variant(value) == nested_arrays(1025)
    with pytest.raises(VariantError) as info:
        encode_variant([value])
    assert info.value.error == Error.ERR_OUT_OF_MEMORY
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    cyclic_dict: dict[str, Any] = {}
    cyclic_dict["self"] = cyclic_dict
    for bad in (cyclic, cyclic_dict):
        with pytest.raises(VariantError) as info:
            encode_variant(bad)
        assert info.value.error == Error.ERR_OUT_OF_MEMORY
    with caplog.at_level(logging.ERROR, logger="godot_websocket.variant"):
        assert var_to_bytes(cyclic) == b""
    assert len(caplog.records) == 1
    assert "ERR_OUT_OF_MEMORY" in caplog.records[0].getMessage()


# ------------------------------------------------------------ huge size fields


HUGE_HEADERS = [
    u32(28, 0x7FFFFFFF) + u32(0) * 64,  # Array
    u32(27, 0x7FFFFFFF) + u32(0) * 64,  # Dictionary
    u32(28 | 1 << 16, 2, 0x7FFFFFFF) + u32(2, 1) * 32,  # typed Array
    u32(27 | 5 << 16, 2, 2, 0x7FFFFFFF) + u32(2, 1) * 32,  # typed Dictionary
    u32(29, 0x7FFFFFFF) + b"\0" * 64,  # PackedByteArray
    u32(30, 0x7FFFFFFF) + b"\0" * 64,
    u32(31, 0x7FFFFFFF) + b"\0" * 64,
    u32(32, 0x7FFFFFFF) + b"\0" * 64,
    u32(33, 0x7FFFFFFF) + b"\0" * 64,
    u32(34, 0x7FFFFFFF) + u32(0) * 64,  # PackedStringArray
    u32(35, 0x7FFFFFFF) + b"\0" * 64,
    u32(35 | FLAG_64, 0x7FFFFFFF) + b"\0" * 64,
    u32(36, 0x7FFFFFFF) + b"\0" * 64,
    u32(37, 0x7FFFFFFF) + b"\0" * 64,
    u32(38, 0x7FFFFFFF) + b"\0" * 64,
    u32(4, 0x7FFFFFFF) + b"\0" * 64,  # String
    u32(21, 0x7FFFFFFC) + b"\0" * 64,  # StringName
    u32(22, 0xFFFFFFFF, 0xFFFFFFFF, 2) + u32(0) * 64,  # NodePath
    u32(26, 0x7FFFFFFF) + b"\0" * 64,  # Signal name
    u32(24) + pstr("Node") + u32(0x7FFFFFFF) + pstr("p") + u32(0),  # object properties
    u32(28 | 2 << 16, 0x7FFFFFFF) + b"\0" * 64,  # class name of a typed Array
]


@pytest.mark.parametrize("data", HUGE_HEADERS)
def test_huge_counts_do_not_allocate(data: bytes) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(VariantError) as info:
            decode_variant(data, allow_objects=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 1 << 20, peak
    assert info.value.error in (Error.ERR_INVALID_DATA, Error.ERR_FILE_EOF)


def test_long_valid_array_of_empty_values() -> None:
    count = 100_000
    data = u32(28, count) + u32(25) * count
    start = time.perf_counter()
    value, consumed = decode_variant(data)
    assert time.perf_counter() - start < 5.0
    assert consumed == len(data)
    assert len(value) == count
    assert value[0] is value[-1]


# ------------------------------------------------------------ Python value mapping


class Level(enum.IntEnum):
    EASY = 1


class Mode(str, enum.Enum):
    FAST = "fast"


def test_plain_python_mapping() -> None:
    roundtrip(None, u32(0))
    roundtrip([1, "a"], u32(28, 2) + u32(2, 1) + u32(4) + pstr("a"))
    roundtrip({"a": [None]}, u32(27, 1) + u32(4) + pstr("a") + u32(28, 1) + u32(0))
    assert encode_variant((1, 2)) == encode_variant([1, 2])  # tuple -> Array
    assert decode_variant(encode_variant((1, 2)))[0] == [1, 2]


def test_foreign_python_values() -> None:
    assert encode_variant(Level.EASY) == encode_variant(1)
    assert encode_variant(Mode.FAST) == encode_variant("fast")
    assert encode_variant(OrderedDict(a=1)) == encode_variant({"a": 1})
    assert encode_variant(array.array("f", [1, 2])) == encode_variant(PackedFloat32Array([1, 2]))
    assert encode_variant(array.array("d", [1, 2])) == encode_variant(PackedFloat64Array([1, 2]))
    assert encode_variant(array.array("i", [1, 2])) == encode_variant(PackedInt32Array([1, 2]))
    assert encode_variant(array.array("q", [1, 2])) == encode_variant(PackedInt64Array([1, 2]))
    assert encode_variant(array.array("B", [1, 2])) == encode_variant(b"\x01\x02")
    assert encode_variant(memoryview(b"xy")) == encode_variant(b"xy")
    assert encode_variant(memoryview(array.array("d", [3.0]))) == encode_variant(
        PackedFloat64Array([3.0])
    )


def test_numpy_values() -> None:
    np = pytest.importorskip("numpy")
    assert encode_variant(np.int64(5)) == encode_variant(5)
    assert encode_variant(np.float32(0.5)) == encode_variant(0.5)
    assert encode_variant(np.bool_(True)) == encode_variant(True)
    assert encode_variant(np.arange(3, dtype=np.float32)) == encode_variant(
        PackedFloat32Array([0, 1, 2])
    )
    assert encode_variant(np.arange(3, dtype=np.int64)) == encode_variant(
        PackedInt64Array([0, 1, 2])
    )
    assert encode_variant(np.arange(3, dtype=np.int32)) == encode_variant(
        PackedInt32Array([0, 1, 2])
    )
    assert encode_variant(np.arange(3, dtype=np.uint8)) == encode_variant(b"\0\1\2")
    with pytest.raises(TypeError):
        encode_variant(np.zeros((2, 2), dtype=np.float32))


@pytest.mark.parametrize("value", [object(), {1, 2}, 1j, len, type, Ellipsis, frozenset()])
def test_unsupported_python_types(value: Any, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(TypeError, match="cannot be encoded"):
        encode_variant(value)
    with pytest.raises(TypeError):
        encode_variant({"nested": [value]})
    with caplog.at_level(logging.ERROR, logger="godot_websocket.variant"):
        assert var_to_bytes(value) == b""
        assert var_to_bytes_with_objects([value]) == b""
    assert len(caplog.records) == 2
    assert all(r.name == "godot_websocket.variant" for r in caplog.records)


def test_wrappers_never_raise_for_bad_data(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="godot_websocket.variant"):
        assert bytes_to_var(b"\x01") is None
        assert bytes_to_var_with_objects(b"\xff\0\0\0") is None
    assert len(caplog.records) == 2
    assert bytes_to_var(b"\x02\0\0\0\x05\0\0\0") == 5
    with pytest.raises(TypeError):
        bytes_to_var(None)  # type: ignore[arg-type]


def test_variant_error() -> None:
    with pytest.raises(VariantError) as info:
        decode_variant(b"\0")
    exc = info.value
    assert isinstance(exc, ValueError)
    assert exc.error is Error.ERR_INVALID_DATA
    assert "ERR_INVALID_DATA" in str(exc)
    import pickle

    clone = pickle.loads(pickle.dumps(exc))
    assert clone.error == exc.error
    assert str(clone) == str(exc)


def test_stringname_and_string_are_distinct_on_the_wire() -> None:
    assert encode_variant("a")[0] == 4
    assert encode_variant(StringName("a"))[0] == 21
    assert type(decode_variant(encode_variant(StringName("a")))[0]) is StringName
    assert type(decode_variant(encode_variant("a"))[0]) is str
