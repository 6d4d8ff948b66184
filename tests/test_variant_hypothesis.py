"""Property-based tests: round trips of every type and of nested containers, and the
decoder's behaviour on arbitrary, mutated and truncated bytes."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from godot_websocket.error import Error
from godot_websocket.variant import (
    AABB,
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
    decode_variant,
    encode_variant,
    typeof,
)
from test_variant_support import assert_same

T = VariantType
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ----------------------------------------------------------------------- strategies

i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
real = st.floats()  # any double: the value classes round to binary32 themselves
# Godot Strings cannot hold NUL, and its UTF-8 parser drops a leading BOM.
chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\ufeff")
text = st.text(chars, max_size=12)
names = st.text(chars, min_size=1, max_size=8)

vector2 = st.builds(Vector2, real, real)
vector3 = st.builds(Vector3, real, real, real)
vector4 = st.builds(Vector4, real, real, real, real)
color = st.builds(Color, real, real, real, real)

LEAVES: dict[VariantType, st.SearchStrategy[Any]] = {
    T.TYPE_NIL: st.none(),
    T.TYPE_BOOL: st.booleans(),
    T.TYPE_INT: i64,
    T.TYPE_FLOAT: st.floats(),
    T.TYPE_STRING: text,
    T.TYPE_VECTOR2: vector2,
    T.TYPE_VECTOR2I: st.builds(Vector2i, i32, i32),
    T.TYPE_RECT2: st.builds(Rect2, real, real, real, real),
    T.TYPE_RECT2I: st.builds(Rect2i, i32, i32, i32, i32),
    T.TYPE_VECTOR3: vector3,
    T.TYPE_VECTOR3I: st.builds(Vector3i, i32, i32, i32),
    T.TYPE_TRANSFORM2D: st.builds(Transform2D, vector2, vector2, vector2),
    T.TYPE_VECTOR4: vector4,
    T.TYPE_VECTOR4I: st.builds(Vector4i, i32, i32, i32, i32),
    T.TYPE_PLANE: st.builds(Plane, real, real, real, real),
    T.TYPE_QUATERNION: st.builds(Quaternion, real, real, real, real),
    T.TYPE_AABB: st.builds(AABB, vector3, vector3),
    T.TYPE_BASIS: st.builds(Basis, vector3, vector3, vector3),
    T.TYPE_TRANSFORM3D: st.builds(
        Transform3D, st.builds(Basis, vector3, vector3, vector3), vector3
    ),
    T.TYPE_PROJECTION: st.builds(Projection, vector4, vector4, vector4, vector4),
    T.TYPE_COLOR: color,
    T.TYPE_STRING_NAME: text.map(StringName),
    T.TYPE_NODE_PATH: st.builds(
        NodePath.from_parts,
        st.lists(names, max_size=3),
        st.lists(names, max_size=3),
        st.booleans(),
    ),
    T.TYPE_RID: st.builds(RID, i64),
    T.TYPE_OBJECT: i64.filter(bool).map(EncodedObjectAsID),
    T.TYPE_CALLABLE: st.just(Callable()),
    T.TYPE_SIGNAL: st.builds(Signal, i64, text),
    T.TYPE_PACKED_BYTE_ARRAY: st.binary(max_size=13),
    T.TYPE_PACKED_INT32_ARRAY: st.lists(i32, max_size=5).map(PackedInt32Array),
    T.TYPE_PACKED_INT64_ARRAY: st.lists(i64, max_size=5).map(PackedInt64Array),
    T.TYPE_PACKED_FLOAT32_ARRAY: st.lists(st.floats(width=32), max_size=5).map(PackedFloat32Array),
    T.TYPE_PACKED_FLOAT64_ARRAY: st.lists(st.floats(), max_size=5).map(PackedFloat64Array),
    T.TYPE_PACKED_STRING_ARRAY: st.lists(text, max_size=4).map(PackedStringArray),
    T.TYPE_PACKED_VECTOR2_ARRAY: st.lists(vector2, max_size=4).map(PackedVector2Array),
    T.TYPE_PACKED_VECTOR3_ARRAY: st.lists(vector3, max_size=4).map(PackedVector3Array),
    T.TYPE_PACKED_COLOR_ARRAY: st.lists(color, max_size=4).map(PackedColorArray),
    T.TYPE_PACKED_VECTOR4_ARRAY: st.lists(vector4, max_size=4).map(PackedVector4Array),
}
leaf = st.one_of(*LEAVES.values())

# Python dict keys must be hashable; a tuple is sent as an Array and an Array used as a
# key comes back as a tuple.
hashable_leaf = st.one_of(*(s for t, s in LEAVES.items() if t != T.TYPE_NIL), st.none())
key = st.recursive(hashable_leaf, lambda k: st.tuples(k, k) | st.tuples(k), max_leaves=4)

TYPED_ELEMENT_TYPES = [t for t in LEAVES if t not in (T.TYPE_NIL, T.TYPE_OBJECT)]
HASHABLE_TYPES = [
    t
    for t in TYPED_ELEMENT_TYPES
    if t not in (T.TYPE_FLOAT,)  # NaN keys cannot be looked up; covered by untyped dicts
]


def typed_array(children: st.SearchStrategy[Any]) -> st.SearchStrategy[TypedArray]:
    by_type = {**{t: LEAVES[t] for t in TYPED_ELEMENT_TYPES}, T.TYPE_ARRAY: st.lists(children)}
    return st.sampled_from(sorted(by_type)).flatmap(
        lambda t: st.lists(by_type[t], max_size=4).map(lambda xs: TypedArray(t, xs))
    )


def typed_dictionary(children: st.SearchStrategy[Any]) -> st.SearchStrategy[TypedDictionary]:
    key_types = st.sampled_from([T.TYPE_NIL, *HASHABLE_TYPES])
    value_types = st.sampled_from([T.TYPE_NIL, *TYPED_ELEMENT_TYPES])

    def build(kt: VariantType, vt: VariantType) -> st.SearchStrategy[TypedDictionary]:
        keys = key if kt == T.TYPE_NIL else LEAVES[kt]
        values = children if vt == T.TYPE_NIL else LEAVES[vt]
        return st.dictionaries(keys, values, max_size=3).map(lambda d: TypedDictionary(kt, vt, d))

    return (
        st.tuples(key_types, value_types)
        .filter(lambda p: p != (T.TYPE_NIL, T.TYPE_NIL))
        .flatmap(lambda p: build(*p))
    )


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(children, max_size=4)
        | st.dictionaries(key, children, max_size=4)
        | typed_array(children)
        | typed_dictionary(children)
    )


variant = st.recursive(leaf, containers, max_leaves=12)

property_names = names.filter(lambda n: n != "script")
godot_object = st.builds(
    GodotObject,
    names,
    st.dictionaries(property_names, variant, max_size=3),
)
object_typed_array = st.builds(
    lambda cls, items: TypedArray(ContainerType(T.TYPE_OBJECT, cls), items),
    names,
    st.lists(st.none() | LEAVES[T.TYPE_OBJECT], max_size=3),
)
variant_with_objects = st.recursive(
    leaf | godot_object | object_typed_array, containers, max_leaves=10
)


def fits_binary32(value: float) -> bool:
    try:
        return bool(struct.unpack("<f", struct.pack("<f", value))[0] == value)
    except OverflowError:
        return False


def check_roundtrip(value: Any, full_objects: bool = False) -> bytes:
    data = encode_variant(value, full_objects=full_objects)
    assert len(data) % 4 == 0
    decoded, consumed = decode_variant(data, allow_objects=full_objects)
    assert consumed == len(data)
    assert_same(decoded, value)
    assert encode_variant(decoded, full_objects=full_objects) == data
    return data


# ------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("vtype", list(LEAVES), ids=lambda t: t.name)
@given(data=st.data())
@settings(SETTINGS, max_examples=40)
def test_every_type_roundtrips(vtype: VariantType, data: st.DataObject) -> None:
    value = data.draw(LEAVES[vtype])
    encoded = check_roundtrip(value)
    assert typeof(value) == vtype
    assert encoded[0] == vtype
    if vtype == T.TYPE_FLOAT:
        assert len(encoded) == (8 if fits_binary32(value) else 12)


@given(variant)
@SETTINGS
def test_nested_values_roundtrip(value: Any) -> None:
    check_roundtrip(value)


@given(variant_with_objects)
@settings(SETTINGS, max_examples=100)
def test_full_objects_roundtrip(value: Any) -> None:
    check_roundtrip(value, full_objects=True)


@given(st.lists(st.floats(width=32), max_size=50), st.lists(st.floats(), max_size=50))
@settings(SETTINGS, max_examples=50)
def test_float_arrays_keep_bits(f32s: list[float], f64s: list[float]) -> None:
    a = PackedFloat32Array(f32s)
    b = PackedFloat64Array(f64s)
    assert a.to_byte_array() == struct.pack(f"<{len(f32s)}f", *f32s)
    assert b.to_byte_array() == struct.pack(f"<{len(f64s)}d", *f64s)
    check_roundtrip([a, b])


@given(st.text(st.sampled_from("ab/:.") | chars, max_size=20))
@settings(SETTINGS, max_examples=80)
def test_node_path_text_parsing_roundtrip(path: str) -> None:
    try:
        parsed = NodePath(path)
    except ValueError:
        assume(False)
        return
    assert NodePath(str(parsed)) == parsed
    check_roundtrip(parsed)


# ----------------------------------------------------------- arbitrary input bytes


def check_decode_is_clean(data: bytes, allow_objects: bool) -> None:
    try:
        value, consumed = decode_variant(data, allow_objects=allow_objects)
    except VariantError as exc:
        assert isinstance(exc.error, Error)
        return
    assert 4 <= consumed <= len(data) + 3
    assert consumed % 4 == 0
    # Whatever was decoded can be sent again.
    encode_variant(value, full_objects=allow_objects)


@given(st.binary(max_size=300), st.booleans())
@settings(SETTINGS, max_examples=400)
def test_arbitrary_bytes(data: bytes, allow_objects: bool) -> None:
    check_decode_is_clean(data, allow_objects)


# Bytes that start like real Variants reach much deeper into the decoder.
headers = st.sampled_from(
    [t | flags for t in range(39) for flags in (0, 1 << 16, 2 << 16, 3 << 16, 0xF << 16)]
).map(lambda h: struct.pack("<I", h))
small_words = st.integers(0, 9).map(lambda n: struct.pack("<I", n))
words = st.lists(st.one_of(headers, small_words, st.binary(min_size=4, max_size=4)), max_size=40)


@given(words, st.booleans())
@settings(SETTINGS, max_examples=400)
def test_structured_garbage(chunks: list[bytes], allow_objects: bool) -> None:
    check_decode_is_clean(b"".join(chunks), allow_objects)


@given(variant_with_objects, st.data())
@settings(SETTINGS, max_examples=150)
def test_mutated_encodings(value: Any, data: st.DataObject) -> None:
    encoded = bytearray(encode_variant(value, full_objects=True))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "set", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(len(encoded) - 1, 0)))
        if action == "flip" and encoded:
            encoded[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "set" and encoded:
            encoded[pos] = data.draw(st.sampled_from([0, 0x7F, 0x80, 0xFF]))
        elif action == "cut":
            del encoded[pos:]
        else:
            encoded[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    for allow_objects in (False, True):
        check_decode_is_clean(bytes(encoded), allow_objects)


@given(variant_with_objects)
@settings(SETTINGS, max_examples=60)
def test_every_truncation_of_a_value_fails(value: Any) -> None:
    encoded = encode_variant(value, full_objects=True)
    for cut in range(len(encoded)):
        try:
            decoded, consumed = decode_variant(encoded[:cut], allow_objects=True)
        except VariantError as exc:
            assert exc.error in (Error.ERR_INVALID_DATA, Error.ERR_FILE_EOF)
        else:
            # Only a missing final PackedByteArray padding is tolerated (like Godot).
            assert consumed == len(encoded)
            assert cut >= len(encoded) - 3
            assert_same(decoded, value)
