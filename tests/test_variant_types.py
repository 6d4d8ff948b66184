"""The Variant value classes: construction, real_t rounding, equality, hashing, printing,
immutability, packed-array conversions, typed containers and ``typeof()``."""

from __future__ import annotations

import array
import copy
import math
import pickle
import struct
from typing import Any

import pytest

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
    VariantType,
    Vector2,
    Vector2i,
    Vector3,
    Vector3i,
    Vector4,
    Vector4i,
    typeof,
)

T = VariantType


def as_f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


# ---------------------------------------------------------------- math value types


def test_components_are_binary32_like_godot() -> None:
    v = Vector2(0.1, 0.2)
    assert v.x == as_f32(0.1) != 0.1
    assert v == Vector2(as_f32(0.1), as_f32(0.2))
    assert Vector3(1e300, -1e300, 1e-50) == Vector3(math.inf, -math.inf, 0.0)
    assert Color(0.1).r == as_f32(0.1)
    assert Quaternion(0, 0, 0.6, 0.8).z == as_f32(0.6)


def test_defaults_match_godot() -> None:
    assert Vector2() == Vector2(0, 0)
    assert Quaternion() == Quaternion(0, 0, 0, 1)
    assert Color() == Color(0, 0, 0, 1)
    assert Color(1, 0.5, 0) == Color(1, 0.5, 0, 1)
    assert Transform2D() == Transform2D(Vector2(1, 0), Vector2(0, 1), Vector2(0, 0))
    assert Basis() == Basis(Vector3(1, 0, 0), Vector3(0, 1, 0), Vector3(0, 0, 1))
    assert Transform3D() == Transform3D(Basis(), Vector3())
    assert Projection().w == Vector4(0, 0, 0, 1)
    assert Plane() == Plane(0, 0, 0, 0)
    assert Rect2() == Rect2(0, 0, 0, 0)
    assert AABB() == AABB(Vector3(), Vector3())


def test_field_names() -> None:
    r = Rect2(Vector2(1, 2), Vector2(3, 4))
    assert (r.position, r.size, r.end) == (Vector2(1, 2), Vector2(3, 4), Vector2(4, 6))
    assert Rect2(1, 2, 3, 4) == r
    ri = Rect2i(1, 2, 3, 4)
    assert (ri.position, ri.size, ri.end) == (Vector2i(1, 2), Vector2i(3, 4), Vector2i(4, 6))
    assert Rect2i(Vector2i(1, 2), Vector2i(3, 4)) == ri
    a = AABB(Vector3(1, 2, 3), Vector3(1, 1, 1))
    assert (a.position, a.size, a.end) == (Vector3(1, 2, 3), Vector3(1, 1, 1), Vector3(2, 3, 4))
    p = Plane(Vector3(0, 1, 0), 2)
    assert (p.normal, p.d, p.x, p.y, p.z) == (Vector3(0, 1, 0), 2.0, 0.0, 1.0, 0.0)
    assert Plane(0, 1, 0, 2) == p
    assert Plane(Vector3(0, 1, 0)).d == 0.0
    t = Transform2D(Vector2(1, 2), Vector2(3, 4), Vector2(5, 6))
    assert (t.x, t.y, t.origin) == (Vector2(1, 2), Vector2(3, 4), Vector2(5, 6))
    b = Basis(Vector3(1, 2, 3), Vector3(4, 5, 6), Vector3(7, 8, 9))
    assert (b.x, b.y, b.z) == (Vector3(1, 2, 3), Vector3(4, 5, 6), Vector3(7, 8, 9))
    x = Transform3D(b, Vector3(1, 1, 1))
    assert (x.basis, x.origin) == (b, Vector3(1, 1, 1))
    assert Transform3D(Vector3(1, 2, 3), Vector3(4, 5, 6), Vector3(7, 8, 9), Vector3(1, 1, 1)) == x
    pr = Projection(Vector4(1), Vector4(0, 1), Vector4(0, 0, 1), Vector4(0, 0, 0, 1))
    assert (pr.x, pr.y, pr.z, pr.w) == (Vector4(1), Vector4(0, 1), Vector4(0, 0, 1), Vector4(w=1))
    c = Color(0.5, 0.25, 1, 0)
    assert (c.r, c.g, c.b, c.a) == (0.5, 0.25, 1.0, 0.0)
    v = Vector4i(1, 2, 3, 4)
    assert (v.x, v.y, v.z, v.w) == (1, 2, 3, 4)
    x1, y1 = Vector2(3, 4)
    assert (x1, y1) == (3.0, 4.0)
    assert Vector3(1, 2, 3)[2] == 3.0


def test_equality_is_type_strict_and_hash_agrees() -> None:
    assert Vector2(1, 2) != Vector2i(1, 2)  # type: ignore[comparison-overlap]
    assert Vector2(1, 2) != (1.0, 2.0)
    assert (1.0, 2.0) != Vector2(1, 2)
    assert Vector4(1, 2, 3, 4) != Quaternion(1, 2, 3, 4)  # type: ignore[comparison-overlap]
    assert Vector4(1, 2, 3, 4) != Color(1, 2, 3, 4)  # type: ignore[comparison-overlap]
    assert Vector2(0.0, 0) == Vector2(-0.0, 0)
    assert hash(Vector2(0.0, 0)) == hash(Vector2(-0.0, 0))
    d = {Vector2(1, 2): "f", Vector2i(1, 2): "i", Color(1, 2, 3, 4): "c", Vector4(1, 2, 3, 4): "v"}
    assert len(d) == 4
    assert d[Vector2(1, 2)] == "f"
    assert Vector2(math.nan, 0) != Vector2(math.nan, 0)  # like Godot's ==


def test_truthiness_like_godot() -> None:
    assert not Vector2()
    assert Vector2(0, 1)
    assert not Transform3D()
    assert Transform3D(Basis(), Vector3(0, 0, 1))
    assert not Color()
    assert not Quaternion()
    assert not RID()
    assert RID(3)
    assert not NodePath("")
    assert NodePath("a")
    assert not Callable()
    assert not Signal()


def test_immutability() -> None:
    v = Vector2(1, 2)
    with pytest.raises(AttributeError):
        v.x = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        v[0] = 3  # type: ignore[index]
    with pytest.raises(TypeError):
        _ = v + v  # tuple concatenation is disabled
    with pytest.raises(TypeError):
        _ = v * 2
    for obj in (NodePath("a"), RID(1), Signal(1, "s"), EncodedObjectAsID(1), Callable()):
        with pytest.raises(AttributeError):
            obj.anything = 1


def test_integer_vectors_are_int32() -> None:
    assert Vector2i(2**31 - 1, -(2**31)) == Vector2i(2147483647, -2147483648)
    with pytest.raises(ValueError, match="int32"):
        Vector2i(2**31, 0)
    with pytest.raises(ValueError, match="int32"):
        Rect2i(0, 0, 0, -(2**31) - 1)
    with pytest.raises(TypeError):
        Vector3i(1.5, 0, 0)  # type: ignore[arg-type]


def test_bad_constructor_arguments() -> None:
    with pytest.raises(TypeError):
        Vector2("1", 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Rect2(1, 2, 3)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        Basis(Vector2(1, 2))
    with pytest.raises(TypeError):
        Transform3D((1, 2, 3), Vector3())  # type: ignore[call-overload]


def test_repr_evaluates_back_and_str_prints_like_godot() -> None:
    values = [
        Vector2(1, 2),
        Vector2(0.1, -0.25),
        Vector2i(3, -4),
        Vector3(1, 2.5, 1e20),
        Vector3i(1, 2, 3),
        Vector4(math.inf, -math.inf, 0, -0.0),
        Vector4i(1, 2, 3, 4),
        Rect2(1, 2, 3, 4),
        Rect2i(1, 2, 3, 4),
        Transform2D(),
        Plane(0, 1, 0, 0.3),
        Quaternion(0, 0, 0.6, 0.8),
        AABB(Vector3(1, 2, 3), Vector3(4, 5, 6)),
        Basis(),
        Transform3D(),
        Projection(),
        Color(0.5, 0.75, 1, 0.25),
        StringName("abc"),
        NodePath("/root/a:b"),
        RID(5),
        Callable(),
        Signal(7, "hit"),
        EncodedObjectAsID(9),
        PackedInt32Array([1, -2]),
        PackedInt64Array([2**40]),
        PackedFloat32Array([0.1, 2]),
        PackedFloat64Array([0.1]),
        PackedStringArray(["a", "b"]),
        PackedVector2Array([Vector2(1, 2)]),
        PackedVector3Array([Vector3(1, 2, 3)]),
        PackedColorArray([Color(1, 0, 0)]),
        PackedVector4Array([Vector4(1, 2, 3, 4)]),
        TypedArray(T.TYPE_INT, [1]),
        TypedDictionary(T.TYPE_STRING, T.TYPE_NIL, {"a": 1}),
        GodotObject("Node", {"name": "n"}, instance_id=3),
        ContainerType(T.TYPE_OBJECT, "Node", "res://x.gd"),
    ]
    namespace = dict(globals())
    namespace["inf"] = math.inf
    for value in values:
        text = repr(value)
        assert eval(text, namespace) == value, text
    assert str(Vector2(1, 2)) == "(1.0, 2.0)"
    assert str(Vector2(0.1, 0.2)) == "(0.1, 0.2)"
    assert str(Vector2i(1, 2)) == "(1, 2)"
    assert str(Vector3(1, 2.5, -3)) == "(1.0, 2.5, -3.0)"
    assert str(Vector4(math.inf, -math.inf, 0, math.nan)) == "(inf, -inf, 0.0, nan)"
    assert str(Color(1, 0, 0)) == "(1.0, 0.0, 0.0, 1.0)"
    assert str(Rect2(1, 2, 3, 4)) == "[P: (1.0, 2.0), S: (3.0, 4.0)]"
    assert str(AABB(Vector3(), Vector3(1, 1, 1))) == "[P: (0.0, 0.0, 0.0), S: (1.0, 1.0, 1.0)]"
    assert str(Plane(0, 1, 0, 2)) == "[N: (0.0, 1.0, 0.0), D: 2.0]"
    assert str(Transform2D()) == "[X: (1.0, 0.0), Y: (0.0, 1.0), O: (0.0, 0.0)]"
    assert str(Basis()) == "[X: (1.0, 0.0, 0.0), Y: (0.0, 1.0, 0.0), Z: (0.0, 0.0, 1.0)]"
    assert str(Transform3D()).endswith(", O: (0.0, 0.0, 0.0)]")
    assert str(NodePath("/root/Main:position:x")) == "/root/Main:position:x"
    assert str(StringName("abc")) == "abc"
    assert str(PackedFloat32Array([0.1, 1])) == "[0.1, 1.0]"
    assert str(PackedStringArray(["a"])) == '["a"]'


def test_pickle_and_copy_keep_values() -> None:
    values = [
        Vector2(1, 2),
        Rect2(1, 2, 3, 4),
        Transform3D(),
        Plane(0, 1, 0, 3),
        StringName("s"),
        NodePath("a/b:c"),
        RID(4),
        Callable(),
        Signal(3, "x"),
        EncodedObjectAsID(8),
        GodotObject("Node", {"a": [1]}, instance_id=2),
        PackedVector2Array([Vector2(1, 2)]),
        PackedStringArray(["x"]),
        TypedArray(T.TYPE_INT, [1, 2]),
        TypedDictionary(T.TYPE_INT, T.TYPE_NIL, {1: None}),
    ]
    for value in values:
        for clone in (pickle.loads(pickle.dumps(value)), copy.copy(value), copy.deepcopy(value)):
            assert type(clone) is type(value)
            assert clone == value
    typed = copy.deepcopy(TypedArray(T.TYPE_INT, [1]))
    assert typed.element_type == ContainerType(T.TYPE_INT)


# ------------------------------------------------------------------ other value types


def test_string_name() -> None:
    s = StringName("abc")
    assert isinstance(s, str)
    assert s == "abc"
    assert hash(s) == hash("abc")
    assert repr(s) == "StringName('abc')"


@pytest.mark.parametrize(
    ("text", "names", "subnames", "absolute"),
    [
        ("", (), (), False),
        (".", (".",), (), False),
        ("UI/HUD/Score:text", ("UI", "HUD", "Score"), ("text",), False),
        ("/root/Main:position:x", ("root", "Main"), ("position", "x"), True),
        ("/", (), (), True),
        (":x", (), ("x",), False),
        ("a//b/", ("a", "b"), (), False),
        ("a:b:", ("a",), ("b",), False),
        ("../Sibling", ("..", "Sibling"), (), False),
    ],
)
def test_node_path_parsing(
    text: str, names: tuple[str, ...], subnames: tuple[str, ...], absolute: bool
) -> None:
    path = NodePath(text)
    assert path.names == names
    assert path.subnames == subnames
    assert path.absolute is absolute
    assert all(type(n) is StringName for n in (*path.names, *path.subnames))
    assert path == NodePath.from_parts(names, subnames, absolute)
    assert hash(path) == hash(NodePath.from_parts(names, subnames, absolute))
    assert path.get_name_count() == len(names)
    assert path.get_subname_count() == len(subnames)
    assert path.is_empty() == (not (names or subnames or absolute))


def test_node_path_methods_and_errors() -> None:
    path = NodePath("/root/Main:position:x")
    assert path.get_name(1) == "Main"
    assert path.get_subname(0) == "position"
    assert path.get_concatenated_names() == "root/Main"
    assert path.get_concatenated_subnames() == "position:x"
    assert path.is_absolute()
    assert NodePath("a/b") != NodePath("/a/b")
    with pytest.raises(ValueError, match="Invalid NodePath"):
        NodePath("a::b")
    with pytest.raises(TypeError):
        NodePath(5)  # type: ignore[arg-type]


def test_ids_rid_signal_objects() -> None:
    assert RID(5).get_id() == 5
    assert RID(5).is_valid() and not RID().is_valid()
    with pytest.raises(ValueError):
        RID(2**64)
    s = Signal(10, "died")
    assert (s.get_object_id(), s.get_name()) == (10, "died")
    assert type(s.name) is StringName
    assert Signal().is_null()
    assert EncodedObjectAsID(3).get_object_id() == 3
    obj = GodotObject("Node", [("a", 1)], instance_id=5)
    obj.set("b", 2)
    assert obj.get("b") == 2
    assert obj.get("missing", "d") == "d"
    assert (obj.get_class(), obj.get_instance_id()) == ("Node", 5)
    assert dict(obj) == {"a": 1, "b": 2}
    assert hash(obj) == hash(GodotObject("Node", instance_id=5))
    assert obj != GodotObject("Node", {"a": 1}, instance_id=5)
    assert str(obj) == "<Node#5>"
    with pytest.raises(TypeError):
        GodotObject("Node", {1: 2})  # type: ignore[arg-type]


def test_callable_singleton_semantics() -> None:
    assert Callable() == Callable()
    assert hash(Callable()) == hash(Callable())
    assert Callable().is_null() and not Callable().is_valid()


# ----------------------------------------------------------------- packed arrays


@pytest.mark.parametrize(
    ("cls", "values", "code"),
    [
        (PackedInt32Array, [1, -2, 3], "i"),
        (PackedInt64Array, [1, -(2**40), 3], "q"),
        (PackedFloat32Array, [0.5, -1.0, 2.25], "f"),
        (PackedFloat64Array, [0.1, -1.0, 1e300], "d"),
    ],
)
def test_scalar_packed_arrays(cls: Any, values: list[Any], code: str) -> None:
    arr = cls(values)
    assert len(arr) == 3 and arr.size() == 3 and not arr.is_empty()
    assert list(arr) == values
    assert arr.tolist() == values
    assert arr[0] == values[0] and arr[-1] == values[-1]
    assert arr[1:].tolist() == values[1:]
    assert arr[::2].tolist() == values[::2]
    assert arr[::-1].tolist() == values[::-1]
    with pytest.raises(IndexError):
        arr[3]
    native = array.array(code, values)
    assert arr.to_array() == native
    assert cls(native) == arr  # buffer with the same item type: one copy
    assert cls(memoryview(native)) == arr
    assert cls.from_byte_array(arr.to_byte_array()) == arr
    assert arr.to_byte_array() == native.tobytes()  # little-endian host
    assert cls(arr) == arr
    assert hash(cls(values)) == hash(arr)
    assert cls() != arr and not cls()


def test_packed_arrays_numpy() -> None:
    np = pytest.importorskip("numpy")
    f = PackedFloat32Array(np.array([1.5, 2.5], dtype=np.float64))
    assert f.tolist() == [1.5, 2.5]
    view = f.to_numpy()
    assert view.dtype == np.dtype("<f4") and view.tolist() == [1.5, 2.5]
    with pytest.raises(ValueError):
        view[0] = 3  # read-only view of the immutable data
    v2 = PackedVector2Array(np.arange(6, dtype=np.float32).reshape(3, 2))
    assert v2[1] == Vector2(2, 3)
    assert v2.to_numpy().shape == (3, 2)
    assert PackedVector2Array(np.arange(6, dtype=np.float32)) == v2  # flat input
    assert PackedInt32Array(np.array([1, 2], dtype=np.int64)).tolist() == [1, 2]
    with pytest.raises(ValueError):
        PackedInt32Array(np.array([2**40], dtype=np.int64))
    with pytest.raises(TypeError):
        PackedInt32Array(np.array([1.5]))
    with pytest.raises(ValueError):
        PackedVector3Array(np.zeros(4, dtype=np.float32))
    c = PackedColorArray(np.ones((2, 4), dtype=np.float32))
    assert c.tolist() == [Color(1, 1, 1, 1)] * 2


def test_packed_vector_arrays() -> None:
    v = PackedVector3Array([Vector3(1, 2, 3), (4, 5, 6)])
    assert v.tolist() == [Vector3(1, 2, 3), Vector3(4, 5, 6)]
    assert v[-1] == Vector3(4, 5, 6)
    assert type(v[0]) is Vector3
    assert v.to_array() == array.array("f", [1, 2, 3, 4, 5, 6])
    assert PackedVector3Array(array.array("f", [1, 2, 3, 4, 5, 6])) == v
    assert PackedVector3Array(array.array("d", [1, 2, 3, 4, 5, 6])) == v
    with pytest.raises(ValueError):
        PackedVector3Array(array.array("f", [1, 2]))
    with pytest.raises(TypeError):
        PackedVector2Array([(1, 2, 3)])
    with pytest.raises(TypeError):
        PackedVector2Array([1, 2])
    assert PackedVector2Array([(0.1, 0)])[0] == Vector2(0.1, 0)  # rounded to binary32
    assert type(PackedColorArray([Color()])[0]) is Color
    assert PackedVector4Array([Vector4(1, 2, 3, 4)])[0] == Vector4(1, 2, 3, 4)


def test_packed_array_element_checks() -> None:
    with pytest.raises(ValueError):
        PackedInt32Array([2**31])
    with pytest.raises(ValueError):
        PackedInt64Array([2**63])
    with pytest.raises(TypeError):
        PackedInt32Array([1.5])
    with pytest.raises(TypeError):
        PackedFloat32Array(["a"])
    assert PackedFloat32Array([1e300])[0] == math.inf  # like a C float cast
    with pytest.raises(ValueError):
        PackedInt32Array.from_byte_array(b"abc")


def test_packed_float_equality_is_elementwise() -> None:
    assert PackedFloat32Array([0.0]) == PackedFloat32Array([-0.0])
    assert hash(PackedFloat32Array([0.0])) == hash(PackedFloat32Array([-0.0]))
    assert PackedFloat64Array([math.nan]) != PackedFloat64Array([math.nan])
    assert PackedFloat32Array([1]) != PackedFloat64Array([1])
    assert PackedInt32Array([1]) != [1]


def test_packed_string_array() -> None:
    p = PackedStringArray(["a", StringName("b")])
    assert p == PackedStringArray(["a", "b"])
    assert all(type(s) is str for s in p)
    assert p != ("a", "b")
    assert hash(p) == hash(PackedStringArray(["a", "b"]))
    with pytest.raises(TypeError):
        PackedStringArray([1])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        _ = p + p


# -------------------------------------------------------------- typed containers


def test_typed_array_validation() -> None:
    a = TypedArray(T.TYPE_FLOAT, [1, 2.5])
    assert a == [1.0, 2.5] and type(a[0]) is float
    a.append(3)
    a.insert(0, 0)
    a.extend([4])
    a += [5]
    a[0] = 9
    a[1:2] = [8]
    assert a == [9.0, 8.0, 2.5, 3.0, 4.0, 5.0]
    assert all(type(x) is float for x in a)
    for bad in ("x", None, [1]):
        with pytest.raises(TypeError, match="TypedArray"):
            a.append(bad)
    assert a.get_typed_builtin() == T.TYPE_FLOAT and a.is_typed()
    assert type(a.copy()) is TypedArray and a.copy().element_type == a.element_type
    strings = TypedArray(T.TYPE_STRING_NAME, ["a"])
    assert type(strings[0]) is StringName
    objects = TypedArray(ContainerType(T.TYPE_OBJECT, "Node"), [None, EncodedObjectAsID(1)])
    assert objects.get_typed_class_name() == "Node"
    with pytest.raises(TypeError):
        objects.append(1)
    with pytest.raises(ValueError):
        TypedArray(T.TYPE_NIL)
    with pytest.raises(ValueError):
        ContainerType(T.TYPE_INT, "Node")
    with pytest.raises(ValueError):
        ContainerType(T.TYPE_MAX)


def test_typed_dictionary_validation() -> None:
    d = TypedDictionary(T.TYPE_STRING_NAME, T.TYPE_INT, {"a": 1})
    assert type(next(iter(d))) is StringName
    d["b"] = 2
    d.update({"c": 3}, e=5)
    d.setdefault("f", 6)
    d |= {"g": 7}
    assert list(d.values()) == [1, 2, 3, 5, 6, 7]
    with pytest.raises(TypeError, match="TypedDictionary"):
        d["x"] = "not an int"
    with pytest.raises(TypeError):
        d[1] = 1
    assert d.is_typed_key() and d.is_typed_value()
    assert d.get_typed_key_builtin() == T.TYPE_STRING_NAME
    assert d.get_typed_value_builtin() == T.TYPE_INT
    assert type(d.copy()) is TypedDictionary
    half = TypedDictionary(T.TYPE_NIL, T.TYPE_INT, {None: 1, "x": 2})
    assert not half.is_typed_key()
    with pytest.raises(ValueError):
        TypedDictionary(T.TYPE_NIL, T.TYPE_NIL)
    with pytest.raises(TypeError):
        TypedDictionary.fromkeys([1])


def test_typeof() -> None:
    expected = [
        (None, T.TYPE_NIL),
        (True, T.TYPE_BOOL),
        (1, T.TYPE_INT),
        (1.0, T.TYPE_FLOAT),
        ("s", T.TYPE_STRING),
        (StringName("s"), T.TYPE_STRING_NAME),
        (Vector2(), T.TYPE_VECTOR2),
        (Projection(), T.TYPE_PROJECTION),
        (NodePath("a"), T.TYPE_NODE_PATH),
        (EncodedObjectAsID(1), T.TYPE_OBJECT),
        (b"", T.TYPE_PACKED_BYTE_ARRAY),
        (PackedVector4Array(), T.TYPE_PACKED_VECTOR4_ARRAY),
    ]
    for value, vt in expected:
        assert typeof(value) == vt, value
    assert typeof([]) == typeof(()) == typeof(TypedArray(T.TYPE_INT)) == T.TYPE_ARRAY
    assert typeof({}) == typeof(TypedDictionary(T.TYPE_INT, T.TYPE_NIL)) == T.TYPE_DICTIONARY
    assert typeof(GodotObject("Node")) == T.TYPE_OBJECT
    with pytest.raises(TypeError):
        typeof(object())
