"""Typed Array / typed Dictionary support and ``typeof()``.

Godot 4.3+ sends the element type of a typed Array (``Array[int]``) and 4.4+ the key and
value types of a typed Dictionary (``Dictionary[StringName, int]``). Plain ``list`` and
``dict`` stand for untyped containers; :class:`TypedArray` and :class:`TypedDictionary`
(``list`` / ``dict`` subclasses) carry a :class:`ContainerType` per slot and check every
inserted value like Godot's ``ContainerTypeValidate`` (int is converted to float,
String and StringName into each other, ``None`` fits an object slot; anything else
raises ``TypeError``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, SupportsIndex, overload

if TYPE_CHECKING:
    from typing import Self

from ._real import f32
from .constants import VariantType
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

__all__ = ["ContainerType", "TypedArray", "TypedDictionary", "typeof"]

T = VariantType


@dataclass(frozen=True)
class ContainerType:
    """The type of one typed-container slot, like Godot's ``ContainerType``.

    ``builtin`` is the Variant type (``TYPE_NIL`` = untyped). Object slots use
    ``TYPE_OBJECT`` plus a native ``class_name`` (e.g. ``"Node"``) and/or the
    ``res://`` path of a ``script``.
    """

    builtin: VariantType = VariantType.TYPE_NIL
    class_name: str = ""
    script: str = ""

    def __post_init__(self) -> None:
        try:
            builtin = VariantType(self.builtin)
        except ValueError:
            raise ValueError(f"invalid Variant type {self.builtin!r}") from None
        if builtin == T.TYPE_MAX:
            raise ValueError("TYPE_MAX is not a Variant type")
        object.__setattr__(self, "builtin", builtin)
        if not isinstance(self.class_name, str) or not isinstance(self.script, str):
            raise TypeError("class_name and script must be str")
        if (self.class_name or self.script) and builtin != T.TYPE_OBJECT:
            raise ValueError("class_name / script need builtin TYPE_OBJECT")

    @classmethod
    def of(cls, spec: ContainerType | VariantType | SupportsIndex) -> ContainerType:
        """Normalize a ContainerType, a VariantType or a type id to a ContainerType."""
        if isinstance(spec, ContainerType):
            return spec
        return cls(VariantType(int(spec)))

    def is_typed(self) -> bool:
        """True unless this slot is untyped (``TYPE_NIL``)."""
        return self.builtin != T.TYPE_NIL

    def __repr__(self) -> str:
        args = [f"VariantType.{self.builtin.name}"]
        if self.class_name:
            args.append(repr(self.class_name))
        if self.script:
            args.append(f"script={self.script!r}")
        return f"ContainerType({', '.join(args)})"


UNTYPED = ContainerType()

_EXACT_TYPES: dict[type, VariantType] = {
    type(None): T.TYPE_NIL,
    bool: T.TYPE_BOOL,
    int: T.TYPE_INT,
    float: T.TYPE_FLOAT,
    str: T.TYPE_STRING,
    Vector2: T.TYPE_VECTOR2,
    Vector2i: T.TYPE_VECTOR2I,
    Rect2: T.TYPE_RECT2,
    Rect2i: T.TYPE_RECT2I,
    Vector3: T.TYPE_VECTOR3,
    Vector3i: T.TYPE_VECTOR3I,
    Transform2D: T.TYPE_TRANSFORM2D,
    Vector4: T.TYPE_VECTOR4,
    Vector4i: T.TYPE_VECTOR4I,
    Plane: T.TYPE_PLANE,
    Quaternion: T.TYPE_QUATERNION,
    AABB: T.TYPE_AABB,
    Basis: T.TYPE_BASIS,
    Transform3D: T.TYPE_TRANSFORM3D,
    Projection: T.TYPE_PROJECTION,
    Color: T.TYPE_COLOR,
    StringName: T.TYPE_STRING_NAME,
    NodePath: T.TYPE_NODE_PATH,
    RID: T.TYPE_RID,
    GodotObject: T.TYPE_OBJECT,
    EncodedObjectAsID: T.TYPE_OBJECT,
    Callable: T.TYPE_CALLABLE,
    Signal: T.TYPE_SIGNAL,
    dict: T.TYPE_DICTIONARY,
    list: T.TYPE_ARRAY,
    tuple: T.TYPE_ARRAY,
    bytes: T.TYPE_PACKED_BYTE_ARRAY,
    bytearray: T.TYPE_PACKED_BYTE_ARRAY,
    PackedInt32Array: T.TYPE_PACKED_INT32_ARRAY,
    PackedInt64Array: T.TYPE_PACKED_INT64_ARRAY,
    PackedFloat32Array: T.TYPE_PACKED_FLOAT32_ARRAY,
    PackedFloat64Array: T.TYPE_PACKED_FLOAT64_ARRAY,
    PackedStringArray: T.TYPE_PACKED_STRING_ARRAY,
    PackedVector2Array: T.TYPE_PACKED_VECTOR2_ARRAY,
    PackedVector3Array: T.TYPE_PACKED_VECTOR3_ARRAY,
    PackedColorArray: T.TYPE_PACKED_COLOR_ARRAY,
    PackedVector4Array: T.TYPE_PACKED_VECTOR4_ARRAY,
}


def typeof(value: object) -> VariantType:
    """The Variant type ``value`` is encoded as, like GDScript's ``typeof()``.

    Raises ``TypeError`` for Python values that have no Variant type.
    """
    t = _EXACT_TYPES.get(type(value))
    if t is not None:
        return t
    # Subclasses (IntEnum, TypedArray, OrderedDict, ...), checked most specific first.
    for cls, vt in (
        (bool, T.TYPE_BOOL),
        (int, T.TYPE_INT),
        (float, T.TYPE_FLOAT),
        (StringName, T.TYPE_STRING_NAME),
        (str, T.TYPE_STRING),
        (bytes, T.TYPE_PACKED_BYTE_ARRAY),
        (bytearray, T.TYPE_PACKED_BYTE_ARRAY),
        (list, T.TYPE_ARRAY),
        (tuple, T.TYPE_ARRAY),
        (dict, T.TYPE_DICTIONARY),
        (Mapping, T.TYPE_DICTIONARY),
    ):
        if isinstance(value, cls):
            return vt
    converted = _foreign_scalar(value)
    if converted is not None:
        return typeof(converted)
    raise TypeError(f"{type(value).__name__} has no Godot Variant type")


def _foreign_scalar(value: object) -> object | None:
    """NumPy scalars become the matching Python number; other values give ``None``."""
    cls = type(value)
    if cls.__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        item = value.item()
        if isinstance(item, (bool, int, float)):
            return item
    return None


def validate(ct: ContainerType, value: Any) -> tuple[bool, Any]:
    """Check ``value`` against a slot type like Godot's ``ContainerTypeValidate::validate``.

    Returns ``(True, converted_value)`` or ``(False, value)``.
    """
    want = ct.builtin
    if want == T.TYPE_NIL:
        return True, value
    try:
        have = typeof(value)
    except TypeError:
        return False, value
    if have == want:
        if want == T.TYPE_INT and type(value) is not int:
            return True, int(value)
        if want == T.TYPE_FLOAT and type(value) is not float:
            return True, float(value)
        return True, value
    if have == T.TYPE_NIL and want == T.TYPE_OBJECT:
        return True, value
    if want == T.TYPE_STRING and have == T.TYPE_STRING_NAME:
        return True, str.__str__(value)
    if want == T.TYPE_STRING_NAME and have == T.TYPE_STRING:
        return True, StringName(value)
    if want == T.TYPE_FLOAT and have == T.TYPE_INT:
        # Godot converts with a C ``(float)`` cast, i.e. through binary32.
        return True, f32(float(value))
    return False, value


def _spec_repr(ct: ContainerType) -> str:
    """``VariantType.TYPE_INT`` for plain builtin slots, the full ContainerType otherwise."""
    if ct.class_name or ct.script:
        return repr(ct)
    return f"VariantType.{ct.builtin.name}"


def _type_name(ct: ContainerType) -> str:
    if ct.builtin == T.TYPE_OBJECT:
        return ct.script or ct.class_name or "Object"
    return ct.builtin.name[5:].lower() if ct.builtin != T.TYPE_NIL else "Variant"


def _checked(ct: ContainerType, value: Any, operation: str, where: str) -> Any:
    ok, converted = validate(ct, value)
    if not ok:
        raise TypeError(
            f"Attempted to {operation} a variable of type '{type(value).__name__}' "
            f"into a {where} of type '{_type_name(ct)}'."
        )
    return converted


class TypedArray(list[Any]):
    """A typed Godot Array (``Array[int]``, ``Array[Node]``), a ``list`` subclass.

    ``TypedArray(VariantType.TYPE_INT, [1, 2])`` or ``TypedArray(ContainerType(...), items)``.
    Values are checked (and converted) on every insertion. Equality with other lists
    compares elements only, as in Godot; the element type is :attr:`element_type`.
    """

    __slots__ = ("_type",)
    _type: ContainerType

    def __init__(
        self, element_type: ContainerType | VariantType | SupportsIndex, items: Iterable[Any] = ()
    ) -> None:
        ct = ContainerType.of(element_type)
        if not ct.is_typed():
            raise ValueError("TypedArray needs an element type; use a list for an untyped Array")
        self._type = ct
        super().__init__(_checked(ct, v, "push_back", "TypedArray") for v in items)

    @classmethod
    def _trusted(cls, ct: ContainerType, items: list[Any]) -> TypedArray:
        """Wrap already validated items (codec use)."""
        self = list.__new__(cls)
        list.extend(self, items)
        self._type = ct
        return self

    @property
    def element_type(self) -> ContainerType:
        """The element type."""
        return self._type

    def is_typed(self) -> bool:
        """Always true (plain lists are the untyped arrays)."""
        return True

    def get_typed_builtin(self) -> VariantType:
        """The element Variant type, like ``Array.get_typed_builtin()``."""
        return self._type.builtin

    def get_typed_class_name(self) -> str:
        """The element class name for object arrays (else ``""``)."""
        return self._type.class_name

    def get_typed_script(self) -> str:
        """The element script path for script-typed arrays (else ``""``)."""
        return self._type.script

    def append(self, value: Any) -> None:
        """Append ``value`` after checking its type."""
        super().append(_checked(self._type, value, "push_back", "TypedArray"))

    def insert(self, index: SupportsIndex, value: Any) -> None:
        """Insert ``value`` after checking its type."""
        super().insert(index, _checked(self._type, value, "insert", "TypedArray"))

    def extend(self, values: Iterable[Any]) -> None:
        """Append all ``values`` after checking their types."""
        ct = self._type
        super().extend([_checked(ct, v, "append_array", "TypedArray") for v in values])

    def __iadd__(self, values: Iterable[Any]) -> Self:  # type: ignore[misc]
        self.extend(values)
        return self

    @overload
    def __setitem__(self, index: SupportsIndex, value: Any) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[Any]) -> None: ...
    def __setitem__(self, index: SupportsIndex | slice, value: Any) -> None:
        ct = self._type
        if isinstance(index, slice):
            super().__setitem__(index, [_checked(ct, v, "set", "TypedArray") for v in value])
        else:
            super().__setitem__(index, _checked(ct, value, "set", "TypedArray"))

    def copy(self) -> TypedArray:
        """A shallow copy with the same element type."""
        return TypedArray._trusted(self._type, list(self))

    def __repr__(self) -> str:
        return f"TypedArray({_spec_repr(self._type)}, {list.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (TypedArray, (self._type, list(self)))


class TypedDictionary(dict[Any, Any]):
    """A typed Godot Dictionary (``Dictionary[String, int]``), a ``dict`` subclass.

    ``TypedDictionary(key_type, value_type, items)``; either type may be untyped
    (``VariantType.TYPE_NIL``) but not both. Keys and values are checked on insertion.
    """

    __slots__ = ("_key_type", "_value_type")
    _key_type: ContainerType
    _value_type: ContainerType

    def __init__(
        self,
        key_type: ContainerType | VariantType | SupportsIndex,
        value_type: ContainerType | VariantType | SupportsIndex,
        items: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = (),
    ) -> None:
        kt = ContainerType.of(key_type)
        vt = ContainerType.of(value_type)
        if not (kt.is_typed() or vt.is_typed()):
            raise ValueError(
                "TypedDictionary needs a key or value type; use a dict for an untyped Dictionary"
            )
        self._key_type = kt
        self._value_type = vt
        super().__init__()
        self.update(items)

    @classmethod
    def _trusted(
        cls, kt: ContainerType, vt: ContainerType, items: dict[Any, Any]
    ) -> TypedDictionary:
        """Wrap already validated items (codec use)."""
        self = dict.__new__(cls)
        dict.update(self, items)
        self._key_type = kt
        self._value_type = vt
        return self

    @property
    def key_type(self) -> ContainerType:
        """The key type (``TYPE_NIL`` = any)."""
        return self._key_type

    @property
    def value_type(self) -> ContainerType:
        """The value type (``TYPE_NIL`` = any)."""
        return self._value_type

    def is_typed(self) -> bool:
        """Always true (plain dicts are the untyped dictionaries)."""
        return True

    def is_typed_key(self) -> bool:
        """True if the keys are typed."""
        return self._key_type.is_typed()

    def is_typed_value(self) -> bool:
        """True if the values are typed."""
        return self._value_type.is_typed()

    def get_typed_key_builtin(self) -> VariantType:
        """The key Variant type."""
        return self._key_type.builtin

    def get_typed_value_builtin(self) -> VariantType:
        """The value Variant type."""
        return self._value_type.builtin

    def get_typed_key_class_name(self) -> str:
        """The key class name for object keys (else ``""``)."""
        return self._key_type.class_name

    def get_typed_value_class_name(self) -> str:
        """The value class name for object values (else ``""``)."""
        return self._value_type.class_name

    def get_typed_key_script(self) -> str:
        """The key script path (else ``""``)."""
        return self._key_type.script

    def get_typed_value_script(self) -> str:
        """The value script path (else ``""``)."""
        return self._value_type.script

    def _check(self, key: Any, value: Any) -> tuple[Any, Any]:
        return (
            _checked(self._key_type, key, "use", "TypedDictionary key"),
            _checked(self._value_type, value, "use", "TypedDictionary value"),
        )

    def __setitem__(self, key: Any, value: Any) -> None:
        k, v = self._check(key, value)
        super().__setitem__(k, v)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Insert items (a mapping or pairs, and keywords) after checking their types."""
        if len(args) > 1:
            raise TypeError(f"update expected at most 1 argument, got {len(args)}")
        pairs: list[tuple[Any, Any]] = []
        if args:
            source = args[0]
            pairs.extend(source.items() if isinstance(source, Mapping) else source)
        pairs.extend(kwargs.items())
        checked = [self._check(k, v) for k, v in pairs]
        for k, v in checked:
            super().__setitem__(k, v)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """Like ``dict.setdefault`` with type checks."""
        k, v = self._check(key, default)
        if k in self:
            return self[k]
        super().__setitem__(k, v)
        return v

    def __ior__(self, other: Any) -> Self:  # type: ignore[misc]
        self.update(other)
        return self

    def copy(self) -> TypedDictionary:
        """A shallow copy with the same key and value types."""
        return TypedDictionary._trusted(self._key_type, self._value_type, dict(self))

    @classmethod
    def fromkeys(cls, iterable: Iterable[Any], value: Any = None) -> Any:
        """Not supported: the key and value types are required."""
        raise TypeError("use TypedDictionary(key_type, value_type, items)")

    def __repr__(self) -> str:
        kt = _spec_repr(self._key_type)
        vt = _spec_repr(self._value_type)
        return f"TypedDictionary({kt}, {vt}, {dict.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (TypedDictionary, (self._key_type, self._value_type, dict(self)))
