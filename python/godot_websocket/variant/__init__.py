"""Godot 4's binary Variant format (``var_to_bytes`` / ``bytes_to_var``) in pure Python.

Strict codec: :func:`encode_variant` / :func:`decode_variant` raise :class:`VariantError`
(carrying Godot's ``Error`` code). Godot-semantics wrappers: :func:`var_to_bytes`,
:func:`bytes_to_var` and the ``*_with_objects`` forms log and return ``b""`` / ``None``.

Type mapping: ``None`` NIL, ``bool``, ``int`` (int64), ``float``, ``str`` String,
``bytes`` PackedByteArray, ``list`` Array, ``dict`` Dictionary, and the value classes
exported here for every other Godot type. See ``docs/variant.md``.
"""

from __future__ import annotations

from .api import bytes_to_var, bytes_to_var_with_objects, var_to_bytes, var_to_bytes_with_objects
from .constants import MAX_RECURSION_DEPTH, ContainerTypeKind, VariantType
from .containers import ContainerType, TypedArray, TypedDictionary, typeof
from .decode import decode_variant
from .encode import encode_variant
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
)

__all__ = [
    "AABB",
    "MAX_RECURSION_DEPTH",
    "RID",
    "Basis",
    "Callable",
    "Color",
    "ContainerType",
    "ContainerTypeKind",
    "EncodedObjectAsID",
    "GodotObject",
    "NodePath",
    "PackedColorArray",
    "PackedFloat32Array",
    "PackedFloat64Array",
    "PackedInt32Array",
    "PackedInt64Array",
    "PackedStringArray",
    "PackedVector2Array",
    "PackedVector3Array",
    "PackedVector4Array",
    "Plane",
    "Projection",
    "Quaternion",
    "Rect2",
    "Rect2i",
    "Signal",
    "StringName",
    "Transform2D",
    "Transform3D",
    "TypedArray",
    "TypedDictionary",
    "VariantError",
    "VariantType",
    "Vector2",
    "Vector2i",
    "Vector3",
    "Vector3i",
    "Vector4",
    "Vector4i",
    "bytes_to_var",
    "bytes_to_var_with_objects",
    "decode_variant",
    "encode_variant",
    "typeof",
    "var_to_bytes",
    "var_to_bytes_with_objects",
]
