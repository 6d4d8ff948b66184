"""The strict decoder: Godot 4's binary Variant format to Python values.

Follows Godot's ``decode_variant()`` check for check, with the same error codes: every
length is validated against the bytes that are left *before* anything is allocated, so
arbitrary input only ever gives a value or a :class:`VariantError`. Containers are
decoded with an explicit stack (no Python recursion), nesting is limited to Godot's 1024
levels.
"""

from __future__ import annotations

import array
import functools
import logging
import struct
from collections.abc import Callable as _Fn
from typing import TYPE_CHECKING, Any

from ..error import Error
from ._real import LITTLE_ENDIAN_HOST, round_f32
from .constants import (
    ENCODED_OBJECT_AS_ID_CLASS,
    HEADER_DATA_FLAG_64,
    HEADER_DATA_FLAG_OBJECT_AS_ID,
    MAX_RECURSION_DEPTH,
    ContainerTypeKind,
    VariantType,
)
from .containers import ContainerType, TypedArray, TypedDictionary, validate
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

__all__ = ["decode_variant"]

_log = logging.getLogger("godot_websocket.variant")

T = VariantType
_S = struct.Struct
_new = tuple.__new__

_U32 = _S("<I")
_I32 = _S("<i")
_I64 = _S("<q")
_F32 = _S("<f")
_F64 = _S("<d")
_U32x3 = _S("<III")

_VARIANT_MAX = int(T.TYPE_MAX)
_BOM = b"\xef\xbb\xbf"
_CALLABLE = Callable()

if TYPE_CHECKING:
    _Decoder = _Fn[[bytes, int, int, int], tuple[Any, int]]


def _truncated(what: str, need: int, pos: int, end: int) -> VariantError:
    return VariantError(
        Error.ERR_INVALID_DATA,
        f"truncated data: {what} needs {need} bytes at offset {pos}, {max(end - pos, 0)} left",
    )


def _read_string(data: bytes, pos: int, end: int) -> tuple[str, int]:
    """Read a padded UTF-8 string like Godot's ``_decode_string()``."""
    if end - pos < 4:
        raise _truncated("string length", 4, pos, end)
    n = _I32.unpack_from(data, pos)[0]
    pos += 4
    if n < 0:
        raise VariantError(Error.ERR_FILE_EOF, f"negative string length {n} at offset {pos - 4}")
    stop = pos + n
    after = stop + (-n & 3)
    if after > end:
        raise VariantError(
            Error.ERR_FILE_EOF,
            f"string of {n} bytes (+{-n & 3} padding) at offset {pos - 4} "
            f"exceeds the {max(end - pos, 0)} bytes left",
        )
    try:
        text = data[pos:stop].decode()
    except UnicodeDecodeError:
        return _parse_utf8_slow(data[pos:stop], pos), after
    # Godot's UTF-8 parser skips a byte order mark and stops at the first NUL.
    if "\0" in text:
        text = text[: text.index("\0")]
    if text[:1] == "\ufeff":
        text = text[1:]
    return text, after


def _parse_utf8_slow(raw: bytes, pos: int) -> str:
    """Godot's parser ignores everything after a NUL byte, even invalid UTF-8."""
    if raw[:3] == _BOM:
        raw = raw[3:]
    nul = raw.find(0)
    if nul >= 0:
        raw = raw[:nul]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VariantError(
            Error.ERR_INVALID_DATA, f"invalid UTF-8 in string at offset {pos}: {exc.reason}"
        ) from None


# ------------------------------------------------------------------- leaf decoders


def _dec_nil(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    return None, pos


def _dec_bool(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    if end - pos < 4:
        raise _truncated("bool", 4, pos, end)
    return _U32.unpack_from(data, pos)[0] != 0, pos + 4


def _dec_int(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    if header & HEADER_DATA_FLAG_64:
        if end - pos < 8:
            raise _truncated("int64", 8, pos, end)
        return _I64.unpack_from(data, pos)[0], pos + 8
    if end - pos < 4:
        raise _truncated("int32", 4, pos, end)
    return _I32.unpack_from(data, pos)[0], pos + 4


def _dec_float(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    if header & HEADER_DATA_FLAG_64:
        if end - pos < 8:
            raise _truncated("float64", 8, pos, end)
        return _F64.unpack_from(data, pos)[0], pos + 8
    if end - pos < 4:
        raise _truncated("float32", 4, pos, end)
    return _F32.unpack_from(data, pos)[0], pos + 4


def _dec_string(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    return _read_string(data, pos, end)


def _dec_string_name(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    text, pos = _read_string(data, pos, end)
    return StringName(text), pos


def _real_decoder(name: str, count: int, build: _Fn[[tuple[float, ...]], Any]) -> _Decoder:
    """Decoder of a real_t math type: binary32, or binary64 with FLAG_64 (double builds)."""
    s32 = _S(f"<{count}f")
    s64 = _S(f"<{count}d")
    n32 = 4 * count
    n64 = 8 * count

    def decode(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
        if header & HEADER_DATA_FLAG_64:
            if end - pos < n64:
                raise _truncated(f"{name} (64-bit)", n64, pos, end)
            # A single-precision Godot converts double-build values to its own real_t.
            return build(round_f32(s64.unpack_from(data, pos))), pos + n64
        if end - pos < n32:
            raise _truncated(name, n32, pos, end)
        return build(s32.unpack_from(data, pos)), pos + n32

    decode.__name__ = f"_dec_{name.lower()}"
    return decode


def _fixed_decoder(name: str, fmt: str, build: _Fn[[tuple[Any, ...]], Any]) -> _Decoder:
    """Decoder of a type with a fixed payload that ignores the header flags."""
    s = _S("<" + fmt)
    size = s.size

    def decode(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
        if end - pos < size:
            raise _truncated(name, size, pos, end)
        return build(s.unpack_from(data, pos)), pos + size

    decode.__name__ = f"_dec_{name.lower()}"
    return decode


_b_vector2 = functools.partial(_new, Vector2)


def _b_rect2(c: tuple[Any, ...]) -> Rect2:
    return _new(Rect2, (_new(Vector2, c[0:2]), _new(Vector2, c[2:4])))


_b_vector3 = functools.partial(_new, Vector3)


def _b_transform2d(c: tuple[Any, ...]) -> Transform2D:
    return _new(Transform2D, (_new(Vector2, c[0:2]), _new(Vector2, c[2:4]), _new(Vector2, c[4:6])))


_b_vector4 = functools.partial(_new, Vector4)


def _b_plane(c: tuple[Any, ...]) -> Plane:
    return _new(Plane, (_new(Vector3, c[0:3]), c[3]))


_b_quaternion = functools.partial(_new, Quaternion)


def _b_aabb(c: tuple[Any, ...]) -> AABB:
    return _new(AABB, (_new(Vector3, c[0:3]), _new(Vector3, c[3:6])))


def _basis_from_rows(c: tuple[Any, ...]) -> Basis:
    # Stream order is row-major; the columns are every third value.
    return _new(Basis, (_new(Vector3, c[0:9:3]), _new(Vector3, c[1:9:3]), _new(Vector3, c[2:9:3])))


def _b_transform3d(c: tuple[Any, ...]) -> Transform3D:
    return _new(Transform3D, (_basis_from_rows(c), _new(Vector3, c[9:12])))


def _b_projection(c: tuple[Any, ...]) -> Projection:
    x, y, z, w = (_new(Vector4, c[i : i + 4]) for i in (0, 4, 8, 12))
    return _new(Projection, (x, y, z, w))


_b_vector2i = functools.partial(_new, Vector2i)


def _b_rect2i(c: tuple[Any, ...]) -> Rect2i:
    return _new(Rect2i, (_new(Vector2i, c[0:2]), _new(Vector2i, c[2:4])))


_b_vector3i = functools.partial(_new, Vector3i)


_b_vector4i = functools.partial(_new, Vector4i)


_b_color = functools.partial(_new, Color)


def _dec_node_path(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    if end - pos < 4:
        raise _truncated("NodePath", 4, pos, end)
    first = _U32.unpack_from(data, pos)[0]
    if not first & 0x80000000:
        raise VariantError(
            Error.ERR_INVALID_DATA, f"unsupported old (pre-3.0) NodePath format at offset {pos}"
        )
    if end - pos < 12:
        raise _truncated("NodePath", 12, pos, end)
    name_count, subname_count, flags = _U32x3.unpack_from(data, pos)
    name_count &= 0x7FFFFFFF
    pos += 12
    if flags & 2:  # Obsolete format with the property stored separately.
        subname_count = (subname_count + 1) & 0xFFFFFFFF
    total = (name_count + subname_count) & 0xFFFFFFFF
    names: list[str] = []
    subnames: list[str] = []
    for i in range(total):
        text, pos = _read_string(data, pos, end)
        (names if i < name_count else subnames).append(text)
    return NodePath.from_parts(names, subnames, bool(flags & 1)), pos


def _dec_rid(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    if end - pos < 8:
        raise _truncated("RID", 8, pos, end)
    return RID(_I64.unpack_from(data, pos)[0]), pos + 8


def _dec_callable(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    return _CALLABLE, pos


def _dec_signal(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    name, pos = _read_string(data, pos, end)
    if end - pos < 8:
        raise _truncated("Signal object id", 8, pos, end)
    return Signal(_I64.unpack_from(data, pos)[0], name), pos + 8


def _dec_packed_byte_array(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    if end - pos < 4:
        raise _truncated("PackedByteArray size", 4, pos, end)
    count = _I32.unpack_from(data, pos)[0]
    pos += 4
    if count < 0 or count > end - pos:
        raise VariantError(
            Error.ERR_INVALID_DATA,
            f"PackedByteArray of {count} bytes at offset {pos - 4} exceeds the "
            f"{max(end - pos, 0)} bytes left",
        )
    # Godot does not require the final padding to be present (it counts it anyway).
    return data[pos : pos + count], pos + count + (-count & 3)


def _f64_to_f32_bytes(raw: bytes) -> bytes:
    doubles = array.array("d", raw)
    if not LITTLE_ENDIAN_HOST:  # pragma: no cover - big-endian hosts only
        doubles.byteswap()
    floats = array.array("f", doubles)  # C cast: out-of-range values become +-inf
    if not LITTLE_ENDIAN_HOST:  # pragma: no cover
        floats.byteswap()
    return floats.tobytes()


def _packed_decoder(cls: type[_PackedNumeric[Any]], real_t: bool) -> _Decoder:
    element = cls._itemsize * cls._width
    element64 = 8 * cls._width
    name = cls.__name__

    def decode(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
        if end - pos < 4:
            raise _truncated(f"{name} size", 4, pos, end)
        count = _I32.unpack_from(data, pos)[0]
        pos += 4
        wide = real_t and header & HEADER_DATA_FLAG_64
        size = element64 if wide else element
        if count < 0 or count * size > end - pos:
            raise VariantError(
                Error.ERR_INVALID_DATA,
                f"{name} of {count} elements ({size} bytes each) at offset {pos - 4} "
                f"exceeds the {max(end - pos, 0)} bytes left",
            )
        stop = pos + count * size
        raw = data[pos:stop]
        if wide:
            raw = _f64_to_f32_bytes(raw)
        return cls._from_le_bytes(raw), stop

    decode.__name__ = f"_dec_{name}"
    return decode


def _dec_packed_string_array(data: bytes, pos: int, header: int, end: int) -> tuple[Any, int]:
    if end - pos < 4:
        raise _truncated("PackedStringArray size", 4, pos, end)
    count = _I32.unpack_from(data, pos)[0]  # Negative: Godot gives an empty array.
    pos += 4
    strings: list[str] = []
    append = strings.append
    for _ in range(count):
        text, pos = _read_string(data, pos, end)
        append(text)
    return _new(PackedStringArray, strings), pos


_LEAF: tuple[_Decoder | None, ...] = (
    _dec_nil,
    _dec_bool,
    _dec_int,
    _dec_float,
    _dec_string,
    _real_decoder("Vector2", 2, _b_vector2),
    _fixed_decoder("Vector2i", "2i", _b_vector2i),
    _real_decoder("Rect2", 4, _b_rect2),
    _fixed_decoder("Rect2i", "4i", _b_rect2i),
    _real_decoder("Vector3", 3, _b_vector3),
    _fixed_decoder("Vector3i", "3i", _b_vector3i),
    _real_decoder("Transform2D", 6, _b_transform2d),
    _real_decoder("Vector4", 4, _b_vector4),
    _fixed_decoder("Vector4i", "4i", _b_vector4i),
    _real_decoder("Plane", 4, _b_plane),
    _real_decoder("Quaternion", 4, _b_quaternion),
    _real_decoder("AABB", 6, _b_aabb),
    _real_decoder("Basis", 9, _basis_from_rows),
    _real_decoder("Transform3D", 12, _b_transform3d),
    _real_decoder("Projection", 16, _b_projection),
    _fixed_decoder("Color", "4f", _b_color),  # Always binary32, even with FLAG_64.
    _dec_string_name,
    _dec_node_path,
    _dec_rid,
    None,  # OBJECT: handled by the container code (it may hold properties).
    _dec_callable,
    _dec_signal,
    None,  # DICTIONARY
    None,  # ARRAY
    _dec_packed_byte_array,
    _packed_decoder(PackedInt32Array, False),
    _packed_decoder(PackedInt64Array, False),
    _packed_decoder(PackedFloat32Array, False),
    _packed_decoder(PackedFloat64Array, False),
    _dec_packed_string_array,
    _packed_decoder(PackedVector2Array, True),
    _packed_decoder(PackedVector3Array, True),
    _packed_decoder(PackedColorArray, False),  # Always binary32.
    _packed_decoder(PackedVector4Array, True),
)
assert len(_LEAF) == _VARIANT_MAX


# ------------------------------------------------------------- containers, objects

_K_ARRAY = 0
_K_TYPED_ARRAY = 1
_K_DICT = 2
_K_TYPED_DICT = 3
_K_OBJECT = 4

_NO_KEY: Any = object()
_UNTYPED = ContainerType()
_BUILTIN_TYPES = tuple(ContainerType(VariantType(i)) for i in range(_VARIANT_MAX))
_EOAID_TYPE = ContainerType(T.TYPE_OBJECT, ENCODED_OBJECT_AS_ID_CLASS)


def _read_container_type(
    kind: int, data: bytes, pos: int, end: int, allow_objects: bool
) -> tuple[ContainerType, int]:
    """Read one typed-container slot like Godot's ``_decode_container_type()``."""
    if kind == ContainerTypeKind.NONE:
        return _UNTYPED, pos
    if kind == ContainerTypeKind.BUILTIN:
        if end - pos < 4:
            raise _truncated("container element type", 4, pos, end)
        builtin = _I32.unpack_from(data, pos)[0]
        if not 0 <= builtin < _VARIANT_MAX:
            raise VariantError(
                Error.ERR_INVALID_DATA, f"invalid container element type {builtin} at offset {pos}"
            )
        if builtin == T.TYPE_OBJECT and not allow_objects:
            return _EOAID_TYPE, pos + 4
        return _BUILTIN_TYPES[builtin], pos + 4
    if kind == ContainerTypeKind.CLASS_NAME:
        class_name, pos = _read_string(data, pos, end)
        if not allow_objects:
            return _EOAID_TYPE, pos
        return ContainerType(T.TYPE_OBJECT, class_name), pos
    path, pos = _read_string(data, pos, end)
    if not allow_objects:
        return _EOAID_TYPE, pos
    if not path.startswith("res://"):
        raise VariantError(Error.ERR_INVALID_DATA, f'Invalid script path "{path}".')
    return ContainerType(T.TYPE_OBJECT, "", path), pos


def _open_container(
    t: int, data: bytes, pos: int, header: int, end: int, allow_objects: bool
) -> tuple[Any, int, list[Any] | None]:
    """Decode the head of an ARRAY / DICTIONARY / OBJECT; return a frame if it has children."""
    if t == T.TYPE_ARRAY:
        ct, pos = _read_container_type((header >> 16) & 3, data, pos, end, allow_objects)
        if end - pos < 4:
            raise _truncated("Array size", 4, pos, end)
        count = _U32.unpack_from(data, pos)[0] & 0x7FFFFFFF
        pos += 4
        typed = ct.builtin != T.TYPE_NIL
        if not count:
            return (TypedArray._trusted(ct, []) if typed else []), pos, None
        if typed:
            return None, pos, [_K_TYPED_ARRAY, [], count, _NO_KEY, ct, None]
        return None, pos, [_K_ARRAY, [], count, _NO_KEY, None, None]
    if t == T.TYPE_DICTIONARY:
        kt, pos = _read_container_type((header >> 16) & 3, data, pos, end, allow_objects)
        vt, pos = _read_container_type((header >> 18) & 3, data, pos, end, allow_objects)
        if end - pos < 4:
            raise _truncated("Dictionary size", 4, pos, end)
        count = _U32.unpack_from(data, pos)[0] & 0x7FFFFFFF
        pos += 4
        typed = kt.builtin != T.TYPE_NIL or vt.builtin != T.TYPE_NIL
        if not count:
            return (TypedDictionary._trusted(kt, vt, {}) if typed else {}), pos, None
        if typed:
            return None, pos, [_K_TYPED_DICT, {}, 2 * count, _NO_KEY, kt, vt]
        return None, pos, [_K_DICT, {}, 2 * count, _NO_KEY, None, None]
    # OBJECT
    if header & HEADER_DATA_FLAG_OBJECT_AS_ID:
        if end - pos < 8:
            raise _truncated("object id", 8, pos, end)
        object_id = _I64.unpack_from(data, pos)[0]
        return (EncodedObjectAsID(object_id) if object_id else None), pos + 8, None
    if not allow_objects:
        raise VariantError(
            Error.ERR_UNAUTHORIZED,
            f"full object at offset {pos - 4} but objects are not allowed "
            "(decode with allow_objects=True / bytes_to_var_with_objects)",
        )
    class_name, pos = _read_string(data, pos, end)
    if not class_name:
        return None, pos, None
    if end - pos < 4:
        raise _truncated("object property count", 4, pos, end)
    count = _I32.unpack_from(data, pos)[0]
    pos += 4
    obj = GodotObject(class_name)
    if count <= 0:
        return obj, pos, None
    return None, pos, [_K_OBJECT, obj, count, _NO_KEY, None, None]


def _hashable_key(key: Any) -> Any:
    """Python dicts need hashable keys: Arrays used as keys become tuples."""
    try:
        if isinstance(key, list):
            return tuple(_hashable_key(item) for item in key)
        hash(key)
    except RecursionError:
        raise VariantError(
            Error.ERR_INVALID_DATA, "Dictionary key is nested too deeply to be used in Python"
        ) from None
    except TypeError:
        raise VariantError(
            Error.ERR_INVALID_DATA,
            f"a Dictionary key of type {type(key).__name__} cannot be represented in Python",
        ) from None
    return key


def _set_item(target: dict[Any, Any], key: Any, value: Any) -> None:
    try:
        target[key] = value
    except TypeError:
        target[_hashable_key(key)] = value


def _finish(frame: list[Any]) -> Any:
    kind = frame[0]
    if kind == _K_TYPED_ARRAY:
        return TypedArray._trusted(frame[4], frame[1])
    if kind == _K_TYPED_DICT:
        return TypedDictionary._trusted(frame[4], frame[5], frame[1])
    return frame[1]


def _too_deep() -> VariantError:
    return VariantError(
        Error.ERR_OUT_OF_MEMORY,
        f"Variant is too deep (more than {MAX_RECURSION_DEPTH} nested levels)",
    )


def _bad_type(t: int, pos: int) -> VariantError:
    return VariantError(
        Error.ERR_INVALID_DATA, f"invalid Variant type {t} in header at offset {pos}"
    )


def _read_one(
    data: bytes, pos: int, end: int, allow_objects: bool
) -> tuple[Any, int, list[Any] | None]:
    """Read one Variant; a container with children gives a frame instead of a value."""
    if end - pos < 4:
        raise _truncated("Variant header", 4, pos, end)
    header = _U32.unpack_from(data, pos)[0]
    t = header & 0xFF
    if t >= _VARIANT_MAX:
        raise _bad_type(t, pos)
    decoder = _LEAF[t]
    if decoder is None:
        return _open_container(t, data, pos + 4, header, end, allow_objects)
    value, pos = decoder(data, pos + 4, header, end)
    return value, pos, None


def _deliver_typed(frame: list[Any], value: Any) -> None:
    """Deliver one value to a typed-container or object frame."""
    kind = frame[0]
    frame[2] -= 1
    if kind == _K_TYPED_ARRAY:
        ok, converted = validate(frame[4], value)
        if ok:
            frame[1].append(converted)
        else:
            _log.error(
                "Attempted to push_back a variable of type '%s' into a TypedArray of %s; "
                "element dropped (as Godot does).",
                type(value).__name__,
                frame[4],
            )
        return
    key = frame[3]
    if key is _NO_KEY:  # A typed Dictionary key (object frames read their names first).
        frame[3] = value
        return
    frame[3] = _NO_KEY
    if kind == _K_TYPED_DICT:
        kok, k = validate(frame[4], key)
        vok, v = validate(frame[5], value)
        if kok and vok:
            _set_item(frame[1], k, v)
        else:
            _log.error(
                "Attempted to insert a (%s, %s) pair into a TypedDictionary of (%s, %s); "
                "pair dropped (as Godot does).",
                type(key).__name__,
                type(value).__name__,
                frame[4],
                frame[5],
            )
        return
    # Object property ``key`` = ``value``.
    if key == "script" and value is not None:
        if type(value) is not str:
            raise VariantError(
                Error.ERR_INVALID_DATA,
                'Invalid value for "script" property, expected script path as String.',
            )
        if not value.startswith("res://"):
            raise VariantError(Error.ERR_INVALID_DATA, f'Invalid script path "{value}".')
    frame[1].properties[key] = value


def _decode(data: bytes, pos: int, allow_objects: bool) -> tuple[Any, int]:
    end = len(data)
    value, pos, frame = _read_one(data, pos, end, allow_objects)
    if frame is None:
        return value, pos
    leaf = _LEAF
    unpack_u32 = _U32.unpack_from
    max_type = _VARIANT_MAX
    read_string = _read_string
    unpack_i32 = _I32.unpack_from
    flag_64 = HEADER_DATA_FLAG_64
    stack: list[list[Any]] = [frame]
    while True:
        frame = stack[-1]
        kind = frame[0]
        child: list[Any] | None = None
        remaining = frame[2]
        if kind == _K_ARRAY or kind == _K_DICT:
            # Untyped containers, the hot path: leaves are decoded inline.
            if len(stack) > MAX_RECURSION_DEPTH:
                raise _too_deep()
            target = frame[1]
            key = frame[3]
            while remaining:
                if end - pos < 4:
                    raise _truncated("Variant header", 4, pos, end)
                header = unpack_u32(data, pos)[0]
                t = header & 0xFF
                if t >= max_type:
                    raise _bad_type(t, pos)
                if t == 4:  # STRING (e.g. Dictionary keys): inlined common case
                    start = pos + 8
                    n = unpack_i32(data, pos + 4)[0] if start <= end else -1
                    after = start + n + (-n & 3)
                    value = None
                    if 0 <= n and after <= end:
                        try:
                            value = data[start : start + n].decode()
                        except UnicodeDecodeError:
                            pass
                    if value is None or "\0" in value or value[:1] == "\ufeff":
                        value, pos = read_string(data, pos + 4, end)  # errors, NUL, BOM
                    else:
                        pos = after
                elif t == 2 and not header & flag_64 and end - pos >= 8:  # int32: inlined
                    value = unpack_i32(data, pos + 4)[0]
                    pos += 8
                else:
                    decoder = leaf[t]
                    if decoder is None:
                        value, pos, child = _open_container(
                            t, data, pos + 4, header, end, allow_objects
                        )
                        if child is not None:
                            break
                    else:
                        value, pos = decoder(data, pos + 4, header, end)
                remaining -= 1
                if kind == _K_ARRAY:
                    target.append(value)
                elif key is _NO_KEY:
                    key = value
                else:
                    try:
                        target[key] = value
                    except TypeError:
                        target[_hashable_key(key)] = value
                    key = _NO_KEY
            frame[2] = remaining
            frame[3] = key
        else:
            # Typed containers and objects.
            while remaining:
                if kind == _K_OBJECT and frame[3] is _NO_KEY:
                    frame[3], pos = _read_string(data, pos, end)
                if len(stack) > MAX_RECURSION_DEPTH:
                    raise _too_deep()
                value, pos, child = _read_one(data, pos, end, allow_objects)
                if child is not None:
                    break
                _deliver_typed(frame, value)
                remaining = frame[2]
        if child is not None:
            stack.append(child)
            continue
        # ``frame`` is complete: hand its value to the enclosing container.
        stack.pop()
        value = _finish(frame)
        if not stack:
            return value, pos
        parent = stack[-1]
        kind = parent[0]
        if kind == _K_ARRAY:
            parent[1].append(value)
            parent[2] -= 1
        elif kind == _K_DICT:
            parent[2] -= 1
            if parent[3] is _NO_KEY:
                parent[3] = value
            else:
                _set_item(parent[1], parent[3], value)
                parent[3] = _NO_KEY
        else:
            _deliver_typed(parent, value)


def decode_variant(
    data: bytes | bytearray | memoryview, allow_objects: bool = False
) -> tuple[Any, int]:
    """Decode one Variant from the start of ``data`` (``bytes_to_var``).

    Returns ``(value, consumed_length)``; bytes after the Variant are ignored. Like Godot's
    ``r_len``, the length includes trailing padding, even the final padding of a
    PackedByteArray that is missing from ``data``. Full objects need ``allow_objects``
    (else ``VariantError`` with ``Error.ERR_UNAUTHORIZED``); objects sent as ids always
    decode (to :class:`EncodedObjectAsID`). Raises :class:`VariantError` with Godot's error
    code for malformed data.
    """
    if type(data) is not bytes:
        try:
            data = memoryview(data).tobytes()
        except TypeError:
            raise TypeError(
                f"decode_variant() needs a bytes-like object, not {type(data).__name__}"
            ) from None
    try:
        return _decode(data, 0, allow_objects)
    except MemoryError:
        raise VariantError(Error.ERR_OUT_OF_MEMORY, "out of memory while decoding") from None
