"""Variant type ids and the header constants of Godot 4's binary Variant format."""

from __future__ import annotations

import enum

__all__ = [
    "HEADER_DATA_FLAG_64",
    "HEADER_DATA_FLAG_OBJECT_AS_ID",
    "HEADER_TYPE_MASK",
    "MAX_RECURSION_DEPTH",
    "ContainerTypeKind",
    "VariantType",
]


class VariantType(enum.IntEnum):
    """Godot 4's ``Variant.Type`` enum (GDScript's ``TYPE_*`` constants), ids 0-38.

    The ids are identical in every Godot 4.x release; ``TYPE_PACKED_VECTOR4_ARRAY`` (38)
    was appended in 4.3. ``TYPE_MAX`` (39) is not a valid type id on the wire.
    """

    TYPE_NIL = 0
    TYPE_BOOL = 1
    TYPE_INT = 2
    TYPE_FLOAT = 3
    TYPE_STRING = 4
    TYPE_VECTOR2 = 5
    TYPE_VECTOR2I = 6
    TYPE_RECT2 = 7
    TYPE_RECT2I = 8
    TYPE_VECTOR3 = 9
    TYPE_VECTOR3I = 10
    TYPE_TRANSFORM2D = 11
    TYPE_VECTOR4 = 12
    TYPE_VECTOR4I = 13
    TYPE_PLANE = 14
    TYPE_QUATERNION = 15
    TYPE_AABB = 16
    TYPE_BASIS = 17
    TYPE_TRANSFORM3D = 18
    TYPE_PROJECTION = 19
    TYPE_COLOR = 20
    TYPE_STRING_NAME = 21
    TYPE_NODE_PATH = 22
    TYPE_RID = 23
    TYPE_OBJECT = 24
    TYPE_CALLABLE = 25
    TYPE_SIGNAL = 26
    TYPE_DICTIONARY = 27
    TYPE_ARRAY = 28
    TYPE_PACKED_BYTE_ARRAY = 29
    TYPE_PACKED_INT32_ARRAY = 30
    TYPE_PACKED_INT64_ARRAY = 31
    TYPE_PACKED_FLOAT32_ARRAY = 32
    TYPE_PACKED_FLOAT64_ARRAY = 33
    TYPE_PACKED_STRING_ARRAY = 34
    TYPE_PACKED_VECTOR2_ARRAY = 35
    TYPE_PACKED_VECTOR3_ARRAY = 36
    TYPE_PACKED_COLOR_ARRAY = 37
    TYPE_PACKED_VECTOR4_ARRAY = 38
    TYPE_MAX = 39


class ContainerTypeKind(enum.IntEnum):
    """How a typed Array / Dictionary slot describes its type on the wire (2-bit field)."""

    NONE = 0
    BUILTIN = 1
    CLASS_NAME = 2
    SCRIPT = 3


#: Bits 0-7 of the header hold the Variant type id.
HEADER_TYPE_MASK = 0xFF
#: INT, FLOAT and the real_t math types: the payload uses 64-bit numbers.
HEADER_DATA_FLAG_64 = 1 << 16
#: OBJECT: the payload is a 64-bit instance id instead of a full object.
HEADER_DATA_FLAG_OBJECT_AS_ID = 1 << 16
#: ARRAY: bits 16-17 hold the element type kind (Godot 4.3+).
HEADER_DATA_FIELD_TYPED_ARRAY_SHIFT = 16
#: DICTIONARY: bits 16-17 hold the key type kind, bits 18-19 the value type kind (4.4+).
HEADER_DATA_FIELD_TYPED_DICTIONARY_KEY_SHIFT = 16
HEADER_DATA_FIELD_TYPED_DICTIONARY_VALUE_SHIFT = 18

#: ``Variant::MAX_RECURSION_DEPTH``: values nested deeper than this fail to encode/decode.
MAX_RECURSION_DEPTH = 1024

#: Class name Godot substitutes for object-typed containers when objects are not allowed.
ENCODED_OBJECT_AS_ID_CLASS = "EncodedObjectAsID"
