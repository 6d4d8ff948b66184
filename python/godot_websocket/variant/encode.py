"""The strict encoder: Python values to Godot 4's binary Variant format.

Byte-for-byte what Godot's ``encode_variant()`` (``var_to_bytes``) writes in an official
single-precision build. Leaf values are encoded by per-type functions found in one dict
lookup; containers are walked with an explicit stack, so nesting depth is limited only by
Godot's own limit (1024) and a self-referencing container fails cleanly.
"""

from __future__ import annotations

import array
import itertools
import struct
from collections.abc import Callable as _Fn
from collections.abc import Iterator, Mapping
from typing import Any

from ..error import Error
from .constants import (
    ENCODED_OBJECT_AS_ID_CLASS,
    HEADER_DATA_FIELD_TYPED_ARRAY_SHIFT,
    HEADER_DATA_FIELD_TYPED_DICTIONARY_KEY_SHIFT,
    HEADER_DATA_FIELD_TYPED_DICTIONARY_VALUE_SHIFT,
    HEADER_DATA_FLAG_64,
    HEADER_DATA_FLAG_OBJECT_AS_ID,
    MAX_RECURSION_DEPTH,
    ContainerTypeKind,
    VariantType,
)
from .containers import ContainerType, TypedArray, TypedDictionary
from .errors import VariantError
from .math_types import (
    AABB,
    Basis,
    Color,
    Plane,
    Projection,
    Quaternion,
    Rect2,
    Rect2i,
    Transform2D,
    Transform3D,
    Vector2,
    Vector2i,
    Vector3,
    Vector3i,
    Vector4,
    Vector4i,
)
from .misc_types import RID, Callable, EncodedObjectAsID, GodotObject, NodePath, Signal, StringName
from .packed import (
    PackedColorArray,
    PackedFloat32Array,
    PackedFloat64Array,
    PackedInt32Array,
    PackedInt64Array,
    PackedStringArray,
    PackedVector2Array,
    PackedVector3Array,
    PackedVector4Array,
    _PackedNumeric,
)

__all__ = ["encode_variant"]

T = VariantType
_S = struct.Struct

_U32 = _S("<I")
_HDR_U32 = _S("<II")
_HDR_I32 = _S("<Ii")
_HDR_I64 = _S("<Iq")
_HDR_F32 = _S("<If")
_HDR_F64 = _S("<Id")
_F32 = _S("<f")
_NODE_PATH_HDR = _S("<IIII")
_I64 = _S("<q")

_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")
# PackedStringArray elements: NUL terminator, then padding for (len + 1).
_NUL_PAD = tuple(b"\0" + p for p in _PAD)

_NIL = _U32.pack(T.TYPE_NIL)
_TRUE = _HDR_U32.pack(T.TYPE_BOOL, 1)
_FALSE = _HDR_U32.pack(T.TYPE_BOOL, 0)
_CALLABLE = _U32.pack(T.TYPE_CALLABLE)
_FLOAT32_HDR = _U32.pack(T.TYPE_FLOAT)
_INT64_HDR = T.TYPE_INT | HEADER_DATA_FLAG_64
_FLOAT64_HDR = T.TYPE_FLOAT | HEADER_DATA_FLAG_64
_OBJECT_AS_ID_HDR = T.TYPE_OBJECT | HEADER_DATA_FLAG_OBJECT_AS_ID

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise VariantError(
            Error.ERR_INVALID_DATA,
            f"string {text[:40]!r} is not valid Unicode ({exc.reason})",
        ) from None


def _padded_string(text: str) -> bytes:
    data = _utf8(text)
    n = len(data)
    return _U32.pack(n) + data + _PAD[n & 3]


_EOAID_STRING = _padded_string(ENCODED_OBJECT_AS_ID_CLASS)


# ------------------------------------------------------------------- leaf encoders


def _enc_nil(value: None) -> bytes:
    return _NIL


def _enc_bool(value: bool) -> bytes:
    return _TRUE if value else _FALSE


def _enc_int(value: int) -> bytes:
    if _INT32_MIN <= value <= _INT32_MAX:
        return _HDR_I32.pack(T.TYPE_INT, value)
    if _INT64_MIN <= value <= _INT64_MAX:
        return _HDR_I64.pack(_INT64_HDR, value)
    raise VariantError(
        Error.ERR_PARAMETER_RANGE_ERROR, f"int {value} is outside Godot's int64 range"
    )


def _enc_float(value: float) -> bytes:
    # Godot: binary32 if (double)(float)value == value, else binary64 (NaN -> 64 bits).
    try:
        packed = _F32.pack(value)
    except OverflowError:
        return _HDR_F64.pack(_FLOAT64_HDR, value)
    if _F32.unpack(packed)[0] == value:
        return _FLOAT32_HDR + packed
    return _HDR_F64.pack(_FLOAT64_HDR, value)


# Encoded short Strings (Dictionary keys, enum-like values repeat from message to message).
_STRING_CACHE: dict[str, bytes] = {}
_STRING_CACHE_MAX = 4096
_CACHED_STRING_LEN = 64


def _enc_string(value: str) -> bytes:
    encoded = _STRING_CACHE.get(value)
    if encoded is not None:
        return encoded
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        data = _utf8(value)  # raises the VariantError
    n = len(data)
    encoded = _HDR_U32.pack(T.TYPE_STRING, n) + data + _PAD[n & 3]
    if len(value) <= _CACHED_STRING_LEN:
        if len(_STRING_CACHE) >= _STRING_CACHE_MAX:
            _STRING_CACHE.clear()
        _STRING_CACHE[value] = encoded
    return encoded


def _enc_string_name(value: str) -> bytes:
    data = _utf8(value)
    n = len(data)
    return _HDR_U32.pack(T.TYPE_STRING_NAME, n) + data + _PAD[n & 3]


def _enc_bytes(value: bytes | bytearray) -> bytes:
    n = len(value)
    return _HDR_U32.pack(T.TYPE_PACKED_BYTE_ARRAY, n) + bytes(value) + _PAD[n & 3]


_V2 = _S("<I2f")
_V2I = _S("<I2i")
_V3 = _S("<I3f")
_V3I = _S("<I3i")
_V4 = _S("<I4f")
_V4I = _S("<I4i")
_F6 = _S("<I6f")
_F9 = _S("<I9f")
_F12 = _S("<I12f")
_F16 = _S("<I16f")


def _enc_vector2(v: Vector2) -> bytes:
    return _V2.pack(T.TYPE_VECTOR2, *v)


def _enc_vector2i(v: Vector2i) -> bytes:
    return _V2I.pack(T.TYPE_VECTOR2I, *v)


def _enc_rect2(v: Rect2) -> bytes:
    p, s = v
    return _V4.pack(T.TYPE_RECT2, *p, *s)


def _enc_rect2i(v: Rect2i) -> bytes:
    p, s = v
    return _V4I.pack(T.TYPE_RECT2I, *p, *s)


def _enc_vector3(v: Vector3) -> bytes:
    return _V3.pack(T.TYPE_VECTOR3, *v)


def _enc_vector3i(v: Vector3i) -> bytes:
    return _V3I.pack(T.TYPE_VECTOR3I, *v)


def _enc_transform2d(v: Transform2D) -> bytes:
    x, y, o = v
    return _F6.pack(T.TYPE_TRANSFORM2D, *x, *y, *o)


def _enc_vector4(v: Vector4) -> bytes:
    return _V4.pack(T.TYPE_VECTOR4, *v)


def _enc_vector4i(v: Vector4i) -> bytes:
    return _V4I.pack(T.TYPE_VECTOR4I, *v)


def _enc_plane(v: Plane) -> bytes:
    n, d = v
    return _V4.pack(T.TYPE_PLANE, *n, d)


def _enc_quaternion(v: Quaternion) -> bytes:
    return _V4.pack(T.TYPE_QUATERNION, *v)


def _enc_aabb(v: AABB) -> bytes:
    p, s = v
    return _F6.pack(T.TYPE_AABB, *p, *s)


def _enc_basis(v: Basis) -> bytes:
    # Godot stores rows: the stream is row-major, the tuple holds columns.
    x, y, z = v
    return _F9.pack(T.TYPE_BASIS, x[0], y[0], z[0], x[1], y[1], z[1], x[2], y[2], z[2])


def _enc_transform3d(v: Transform3D) -> bytes:
    (x, y, z), o = v
    return _F12.pack(T.TYPE_TRANSFORM3D, x[0], y[0], z[0], x[1], y[1], z[1], x[2], y[2], z[2], *o)


def _enc_projection(v: Projection) -> bytes:
    x, y, z, w = v
    return _F16.pack(T.TYPE_PROJECTION, *x, *y, *z, *w)


def _enc_color(v: Color) -> bytes:
    return _V4.pack(T.TYPE_COLOR, *v)


def _enc_node_path(v: NodePath) -> bytes:
    names = v.names
    subnames = v.subnames
    parts = [
        _NODE_PATH_HDR.pack(
            T.TYPE_NODE_PATH, len(names) | 0x80000000, len(subnames), 1 if v.absolute else 0
        )
    ]
    parts.extend(map(_padded_string, names))
    parts.extend(map(_padded_string, subnames))
    return b"".join(parts)


def _enc_rid(v: RID) -> bytes:
    return _HDR_I64.pack(T.TYPE_RID, v.id)


def _enc_callable(v: Callable) -> bytes:
    return _CALLABLE


def _enc_signal(v: Signal) -> bytes:
    return _U32.pack(T.TYPE_SIGNAL) + _padded_string(v.name) + _I64.pack(v.object_id)


def _enc_object_as_id(v: EncodedObjectAsID) -> bytes:
    return _HDR_I64.pack(_OBJECT_AS_ID_HDR, v.object_id)


def _packed_encoder(type_id: int) -> _Fn[[_PackedNumeric[Any]], bytes]:
    def encode(v: _PackedNumeric[Any]) -> bytes:
        return _HDR_U32.pack(type_id, len(v)) + v.to_byte_array()

    encode.__name__ = f"_enc_packed_{type_id}"
    return encode


def _enc_packed_string_array(v: PackedStringArray) -> bytes:
    parts = [_HDR_U32.pack(T.TYPE_PACKED_STRING_ARRAY, len(v))]
    append = parts.append
    for text in v:
        data = _utf8(text)
        n = len(data) + 1  # Godot counts and writes a NUL terminator here.
        append(_U32.pack(n) + data + _NUL_PAD[n & 3])
    return b"".join(parts)


class _Raw(bytes):
    """Pre-encoded bytes inserted into the output as they are (object property names)."""

    __slots__ = ()


def _enc_raw(v: _Raw) -> bytes:
    return v


_LEAF: dict[type, _Fn[[Any], bytes]] = {
    type(None): _enc_nil,
    bool: _enc_bool,
    int: _enc_int,
    float: _enc_float,
    str: _enc_string,
    Vector2: _enc_vector2,
    Vector2i: _enc_vector2i,
    Rect2: _enc_rect2,
    Rect2i: _enc_rect2i,
    Vector3: _enc_vector3,
    Vector3i: _enc_vector3i,
    Transform2D: _enc_transform2d,
    Vector4: _enc_vector4,
    Vector4i: _enc_vector4i,
    Plane: _enc_plane,
    Quaternion: _enc_quaternion,
    AABB: _enc_aabb,
    Basis: _enc_basis,
    Transform3D: _enc_transform3d,
    Projection: _enc_projection,
    Color: _enc_color,
    StringName: _enc_string_name,
    NodePath: _enc_node_path,
    RID: _enc_rid,
    EncodedObjectAsID: _enc_object_as_id,
    Callable: _enc_callable,
    Signal: _enc_signal,
    bytes: _enc_bytes,
    bytearray: _enc_bytes,
    PackedInt32Array: _packed_encoder(T.TYPE_PACKED_INT32_ARRAY),
    PackedInt64Array: _packed_encoder(T.TYPE_PACKED_INT64_ARRAY),
    PackedFloat32Array: _packed_encoder(T.TYPE_PACKED_FLOAT32_ARRAY),
    PackedFloat64Array: _packed_encoder(T.TYPE_PACKED_FLOAT64_ARRAY),
    PackedStringArray: _enc_packed_string_array,
    PackedVector2Array: _packed_encoder(T.TYPE_PACKED_VECTOR2_ARRAY),
    PackedVector3Array: _packed_encoder(T.TYPE_PACKED_VECTOR3_ARRAY),
    PackedColorArray: _packed_encoder(T.TYPE_PACKED_COLOR_ARRAY),
    PackedVector4Array: _packed_encoder(T.TYPE_PACKED_VECTOR4_ARRAY),
    _Raw: _enc_raw,
}


# ------------------------------------------------------------- containers, objects


def _container_type(ct: ContainerType, shift: int, full_objects: bool) -> tuple[int, bytes]:
    """Header bits and type-info bytes of one typed-container slot (Godot 4.3+/4.4+)."""
    if ct.builtin == T.TYPE_NIL:
        return 0, b""
    if ct.script:
        if not full_objects:
            return ContainerTypeKind.CLASS_NAME << shift, _EOAID_STRING
        if not ct.script.startswith("res://"):
            raise VariantError(
                Error.ERR_UNAVAILABLE,
                f"Failed to encode a path to a custom script for a container type: {ct.script!r}",
            )
        return ContainerTypeKind.SCRIPT << shift, _padded_string(ct.script)
    if ct.class_name:
        if not full_objects:
            return ContainerTypeKind.CLASS_NAME << shift, _EOAID_STRING
        return ContainerTypeKind.CLASS_NAME << shift, _padded_string(ct.class_name)
    return ContainerTypeKind.BUILTIN << shift, _U32.pack(ct.builtin)


def _object_children(props: Mapping[str, Any]) -> Iterator[Any]:
    for name, value in props.items():
        if not isinstance(name, str):
            raise TypeError(f"object property names must be str, got {type(name).__name__}")
        yield _Raw(_padded_string(name))
        if name == "script" and value is not None:
            if not isinstance(value, str) or not value.startswith("res://"):
                raise VariantError(
                    Error.ERR_UNAVAILABLE,
                    f"Failed to encode a path to a custom script: {value!r} "
                    "(the 'script' property must be None or a res:// path)",
                )
            yield str.__str__(value)
            continue
        yield value


def _open(value: Any, append: _Fn[[bytes], None], full_objects: bool) -> Iterator[Any] | None:
    """Write the head of a container/object; return an iterator over its children."""
    cls = type(value)
    if cls is list or cls is tuple:
        n = len(value)
        append(_HDR_U32.pack(T.TYPE_ARRAY, n))
        return iter(value) if n else None
    if cls is dict:
        n = len(value)
        append(_HDR_U32.pack(T.TYPE_DICTIONARY, n))
        return itertools.chain.from_iterable(value.items()) if n else None
    if cls is TypedArray:
        bits, info = _container_type(
            value.element_type, HEADER_DATA_FIELD_TYPED_ARRAY_SHIFT, full_objects
        )
        n = len(value)
        append(_U32.pack(T.TYPE_ARRAY | bits) + info + _U32.pack(n))
        return iter(value) if n else None
    if cls is TypedDictionary:
        kbits, kinfo = _container_type(
            value.key_type, HEADER_DATA_FIELD_TYPED_DICTIONARY_KEY_SHIFT, full_objects
        )
        vbits, vinfo = _container_type(
            value.value_type, HEADER_DATA_FIELD_TYPED_DICTIONARY_VALUE_SHIFT, full_objects
        )
        n = len(value)
        append(_U32.pack(T.TYPE_DICTIONARY | kbits | vbits) + kinfo + vinfo + _U32.pack(n))
        return itertools.chain.from_iterable(value.items()) if n else None
    if cls is GodotObject:
        if not full_objects:
            if not value.instance_id:
                raise VariantError(
                    Error.ERR_INVALID_PARAMETER,
                    f"{value!r} has no instance_id to encode it as an object id; "
                    "use full_objects=True or EncodedObjectAsID",
                )
            append(_HDR_I64.pack(_OBJECT_AS_ID_HDR, value.instance_id))
            return None
        if not value.class_name:
            raise VariantError(
                Error.ERR_INVALID_PARAMETER, "cannot encode a GodotObject with an empty class name"
            )
        props = value.properties
        append(_U32.pack(T.TYPE_OBJECT) + _padded_string(value.class_name) + _U32.pack(len(props)))
        return _object_children(props) if props else None
    # Anything else: convert to a canonical value (IntEnum -> int, NumPy -> packed, ...).
    canonical = _canonical(value)
    encode = _LEAF.get(type(canonical))
    if encode is not None:
        append(encode(canonical))
        return None
    return _open(canonical, append, full_objects)


def encode_variant(value: Any, full_objects: bool = False) -> bytes:
    """Encode ``value`` in Godot 4's binary Variant format (``var_to_bytes``).

    With ``full_objects`` (``var_to_bytes_with_objects``) :class:`GodotObject` values are
    written as full objects and object-typed containers keep their class names; without
    it objects are written as instance ids. Raises :class:`VariantError` (with Godot's
    ``Error`` code) for values Godot would refuse, ``TypeError`` for Python values that
    have no Variant type.
    """
    encode = _LEAF.get(type(value))
    if encode is not None and type(value) is not _Raw:
        return encode(value)
    parts: list[bytes] = []
    append = parts.append
    leaf = _LEAF
    stack: list[Iterator[Any]] = []
    it: Iterator[Any] = iter((value,))
    while True:
        for item in it:
            encode = leaf.get(type(item))
            if encode is not None:
                append(encode(item))
                continue
            children = _open(item, append, full_objects)
            if children is not None:
                # The children sit at depth len(stack) + 1; Godot allows up to 1024.
                if len(stack) >= MAX_RECURSION_DEPTH:
                    raise VariantError(
                        Error.ERR_OUT_OF_MEMORY,
                        "Potential infinite recursion detected (nesting deeper than "
                        f"{MAX_RECURSION_DEPTH} levels)",
                    )
                stack.append(it)
                it = children
                break
        else:
            if not stack:
                return b"".join(parts)
            it = stack.pop()


# ------------------------------------------------------------ foreign Python values

_CONVERTERS: dict[type, _Fn[[Any], Any]] = {}


def _canonical(value: Any) -> Any:
    cls = type(value)
    convert = _CONVERTERS.get(cls)
    if convert is None:
        convert = _resolve_converter(value)
        _CONVERTERS[cls] = convert
    try:
        return convert(value)
    except ValueError as exc:
        if isinstance(exc, VariantError):
            raise
        raise VariantError(Error.ERR_INVALID_PARAMETER, str(exc)) from None


def _unsupported(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} cannot be encoded as a Godot Variant")


def _resolve_converter(value: Any) -> _Fn[[Any], Any]:
    if isinstance(value, int):  # IntEnum, IntFlag, ... (bool is final)
        return int
    if isinstance(value, float):
        return float
    if isinstance(value, StringName):
        return lambda v: StringName(str.__str__(v))
    if isinstance(value, str):  # StrEnum, ...
        return str.__str__
    if isinstance(value, (bytes, bytearray)):
        return bytes
    if isinstance(value, (TypedArray, list, tuple)):
        return list
    if isinstance(value, (TypedDictionary, dict, Mapping)):
        return dict
    if isinstance(value, array.array):
        return _from_array
    if isinstance(value, memoryview):
        return _from_memoryview
    cls = type(value)
    if cls.__module__ == "numpy":
        if cls.__name__ == "ndarray":
            return _from_numpy
        if hasattr(value, "item"):
            return _from_numpy_scalar
    return _unsupported


def _from_numpy_scalar(value: Any) -> Any:
    item = value.item()
    if type(item) in (bool, int, float, str, bytes):
        return item
    return _unsupported(value)


_ARRAY_CODES: dict[str, type[_PackedNumeric[Any]]] = {
    "f": PackedFloat32Array,
    "d": PackedFloat64Array,
}


_INT_CODES = frozenset("hHiIlLqQ")


def _from_array(value: array.array[Any]) -> Any:
    code = value.typecode
    if code in ("b", "B"):
        return value.tobytes()
    if code in _ARRAY_CODES:
        return _ARRAY_CODES[code](value)
    if code not in _INT_CODES:
        return _unsupported(value)
    signed = code.islower()
    if value.itemsize < 4 or (value.itemsize == 4 and signed):
        return PackedInt32Array(value)
    return PackedInt64Array(value)


_NUMERIC_FORMATS = frozenset("fdhHiIlLqQ")


def _from_memoryview(value: memoryview) -> Any:
    fmt = value.format.lstrip("@=<>!")
    if fmt in ("B", "b", "c"):
        return value.tobytes()
    if value.ndim == 1 and fmt in _NUMERIC_FORMATS:
        return _from_array(array.array(fmt, value.tolist()))
    return _unsupported(value)


def _from_numpy(value: Any) -> Any:
    if value.ndim != 1:
        raise TypeError(
            f"only 1-dimensional NumPy arrays map to packed arrays (got shape {value.shape}); "
            "wrap the array in PackedVector2Array(...) etc."
        )
    kind = value.dtype.kind
    size = value.dtype.itemsize
    if kind == "b" or (kind in "iu" and size == 1):
        return value.astype("u1").tobytes()
    if kind == "i" or (kind == "u" and size <= 2):
        return PackedInt32Array(value) if size <= 4 else PackedInt64Array(value)
    if kind == "u":
        return PackedInt64Array(value)
    if kind == "f":
        return PackedFloat32Array(value) if size <= 4 else PackedFloat64Array(value)
    return _unsupported(value)
