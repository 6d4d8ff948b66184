"""Every byte vector from Godot (shared/spec/vectors/*.json), per its ``direction``.

* roundtrip (default): encoding the value gives exactly the bytes, and decoding the bytes
  gives exactly the value and consumes all of them;
* decode-only: decoding gives the value;
* decode-error: decoding fails with ``expect_error``.

Also: every truncation of every vector fails cleanly (or, for a missing final
PackedByteArray padding, decodes to the same value as Godot does).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from godot_websocket.error import Error
from godot_websocket.variant import (
    AABB,
    RID,
    Basis,
    Callable,
    Color,
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
from test_variant_support import assert_same, load_vectors

T = VariantType
BIG = -1070935975390360081  # 0xf123456789abcdef as int64


def _resource(**props: Any) -> GodotObject:
    return GodotObject("Resource", props)


# The Python value of every vector's ``godot_expr``.
EXPECTED: dict[str, Any] = {
    # variant_vectors.json (from Godot's own unit tests)
    "nil": None,
    "int32_0x12345678": 0x12345678,
    "int64_0xf123456789abcdef": BIG,
    "float32_0.15625": 0.15625,
    "float64_one_third": 0.3333333333333333,
    "typed_array_int_one_int64": TypedArray(T.TYPE_INT, [BIG]),
    "typed_dictionary_int_int": TypedDictionary(T.TYPE_INT, T.TYPE_INT, {BIG: BIG}),
    "array_of_three_float64": [1.2, 3.4, 5.600000000001],
    "array_int_object_as_id_bool": [42, EncodedObjectAsID(-9223372035378380716), True],
    "array_int_full_object_bool": [
        42,
        _resource(
            resource_local_to_scene=False,
            resource_name="",
            script=None,
            **{"metadata/example": 123.456},
        ),
        True,
    ],
    "invalid_short_buffer": None,
    "invalid_type_0xff": None,
    # variant_vectors_engine.json (produced by Godot 4.6.stable)
    "nil_freed_object": None,
    "bool_false": False,
    "int64_5e9_plus_5": 5000000005,
    "float_0_2_needs_64": 0.2,
    "string_player_name": "Zoë the 2nd",
    "vector2": Vector2(3.5, -0.25),
    "vector2i": Vector2i(640, 360),
    "rect2": Rect2(-1, -1, 2, 2),
    "rect2i": Rect2i(10, 20, 300, 400),
    "vector3": Vector3(-1, 0.5, 250),
    "vector3i": Vector3i(-8, 0, 8),
    "transform2d": Transform2D(Vector2(0, 1), Vector2(-1, 0), Vector2(32, 48)),
    "vector4": Vector4(0.5, 1.5, 2.5, 3.5),
    "vector4i": Vector4i(10, 20, 30, 40),
    "plane": Plane(1, 0, 0, -3),
    "quaternion": Quaternion(0, 0, 0.6, 0.8),
    "aabb": AABB(Vector3(-0.5, 0, -0.5), Vector3(1, 2, 1)),
    "basis": Basis(Vector3(0, 0, -1), Vector3(0, 1, 0), Vector3(1, 0, 0)),
    "transform3d": Transform3D(
        Vector3(2, 0, 0), Vector3(0, 2, 0), Vector3(0, 0, 2), Vector3(-1, -2, -3)
    ),
    "projection": Projection(
        Vector4(1, 2, 3, 4),
        Vector4(-5, -6, -7, -8),
        Vector4(0.5, 0.25, 0.125, 0.0625),
        Vector4(9, 10, 11, 12),
    ),
    "color": Color(0.5, 0.75, 1.0, 0.25),
    "string_name": StringName("enemy_spawned"),
    "node_path": NodePath("UI/HUD/Score:text"),
    "rid": RID(4096),
    "object_resource_local_to_scene_full": _resource(
        resource_local_to_scene=True, resource_name="", script=None
    ),
    "callable": Callable(),
    "signal": Signal(),
    "dictionary": {"level": 3, "checkpoint": Vector3(10, 0, -5), "flags": [True, False]},
    "array": ["a", 1, TypedArray(T.TYPE_VECTOR2I, [Vector2i(2, 3)]), {"k": 0.5}],
    "packed_byte_array": bytes([9, 8, 7, 6, 5, 4]),
    "packed_int32_array": PackedInt32Array([10, -20, 30]),
    "packed_int64_array": PackedInt64Array([-5000000000, 5000000000]),
    "packed_float32_array": PackedFloat32Array([0.25, -8.0, 1e-3]),
    "packed_float64_array": PackedFloat64Array([1.0 / 3.0, 2.0]),
    "packed_string_array": PackedStringArray(["fire", "ice", "⚡"]),
    "packed_vector2_array": PackedVector2Array([Vector2(-1, -1), Vector2(1, 1)]),
    "packed_vector3_array": PackedVector3Array([Vector3(0, 0, 0), Vector3(1, 1, 1)]),
    "packed_color_array": PackedColorArray([Color(1, 1, 1, 0.5), Color(0, 0, 0, 1)]),
    "packed_vector4_array": PackedVector4Array([Vector4(0, 0, 0, 1)]),
    "dictionary_typed_stringname_int": TypedDictionary(
        T.TYPE_STRING_NAME,
        T.TYPE_INT,
        {StringName("coins"): 250, StringName("gems"): 3},
    ),
}

VECTORS = load_vectors()
IDS = [v["name"] for v in VECTORS]


def _direction(vector: dict[str, Any]) -> str:
    return str(vector.get("direction", "roundtrip"))


def _allow_objects(vector: dict[str, Any]) -> bool:
    return bool(vector.get("allow_objects") or vector.get("full_objects"))


def test_every_vector_has_an_expected_value() -> None:
    assert sorted(EXPECTED) == sorted(IDS)
    assert {_direction(v) for v in VECTORS} <= {"roundtrip", "decode-only", "decode-error"}


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_decode(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    if _direction(vector) == "decode-error":
        with pytest.raises(VariantError) as info:
            decode_variant(data, allow_objects=_allow_objects(vector))
        assert info.value.error == Error[vector["expect_error"]]
        return
    value, consumed = decode_variant(data, allow_objects=_allow_objects(vector))
    assert consumed == len(data)
    assert_same(value, EXPECTED[vector["name"]])
    # The same through every accepted input type.
    for view in (bytearray(data), memoryview(data)):
        assert_same(decode_variant(view, allow_objects=_allow_objects(vector))[0], value)


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if _direction(v) == "roundtrip"], ids=lambda v: v["name"]
)
def test_encode(vector: dict[str, Any]) -> None:
    expected_hex = vector["hex"]
    full = bool(vector.get("full_objects"))
    assert encode_variant(EXPECTED[vector["name"]], full_objects=full).hex() == expected_hex
    wrapper = var_to_bytes_with_objects if full else var_to_bytes
    assert wrapper(EXPECTED[vector["name"]]).hex() == expected_hex


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if _direction(v) != "decode-error"], ids=lambda v: v["name"]
)
def test_wrappers_decode(vector: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    data = bytes.fromhex(vector["hex"])
    expected = EXPECTED[vector["name"]]
    assert_same(bytes_to_var_with_objects(data), expected)
    if vector.get("full_objects"):
        # Godot's bytes_to_var refuses full objects: null and an error message.
        with caplog.at_level(logging.ERROR, logger="godot_websocket.variant"):
            assert bytes_to_var(data) is None
        assert len(caplog.records) == 1
        assert "ERR_UNAUTHORIZED" in caplog.records[0].getMessage()
        with pytest.raises(VariantError) as info:
            decode_variant(data)
        assert info.value.error == Error.ERR_UNAUTHORIZED
    else:
        assert_same(bytes_to_var(data), expected)


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if _direction(v) == "decode-error"], ids=lambda v: v["name"]
)
def test_wrappers_decode_error(vector: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="godot_websocket.variant"):
        assert bytes_to_var(bytes.fromhex(vector["hex"])) is None
    assert len(caplog.records) == 1
    assert vector["expect_error"] in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if _direction(v) != "decode-error"], ids=lambda v: v["name"]
)
def test_every_truncation_fails_cleanly(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    allow = _allow_objects(vector)
    full_value, _ = decode_variant(data, allow_objects=allow)
    for cut in range(len(data)):
        try:
            value, consumed = decode_variant(data[:cut], allow_objects=allow)
        except VariantError as exc:
            assert exc.error in (Error.ERR_INVALID_DATA, Error.ERR_FILE_EOF), (cut, exc)
        else:
            # Only the final padding of a PackedByteArray may be missing (Godot's leniency);
            # the value and the reported length are then those of the whole vector.
            assert vector["name"] == "packed_byte_array", cut
            assert cut >= len(data) - 2
            assert_same(value, full_value)
            assert consumed == len(data)


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if _direction(v) != "decode-error"], ids=lambda v: v["name"]
)
def test_trailing_bytes_are_ignored(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    allow = _allow_objects(vector)
    value, consumed = decode_variant(data + b"\xff" * 7, allow_objects=allow)
    assert consumed == len(data)
    assert_same(value, EXPECTED[vector["name"]])


def test_vector_copies_match_the_spec() -> None:
    """tests/data/vectors is a copy of the spec's vectors; it must not drift."""
    from test_variant_support import SPEC_VECTOR_DIR, VECTOR_DIR, VECTOR_FILES

    if not SPEC_VECTOR_DIR.is_dir():
        pytest.skip("the project spec (shared/) is not next to this checkout")
    for name in VECTOR_FILES:
        assert (VECTOR_DIR / name).read_bytes() == (SPEC_VECTOR_DIR / name).read_bytes(), name
