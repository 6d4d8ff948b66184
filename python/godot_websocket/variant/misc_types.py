"""Godot's non-math value types: StringName, NodePath, RID, Callable, Signal and objects."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, SupportsIndex

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "RID",
    "Callable",
    "EncodedObjectAsID",
    "GodotObject",
    "NodePath",
    "Signal",
    "StringName",
]


def _int64(value: SupportsIndex, what: str) -> int:
    """Normalize an id to Godot's signed int64 view (accepts the unsigned uint64 form too)."""
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {type(value).__name__}") from None
    if not -(2**63) <= v < 2**64:
        raise ValueError(f"{what} {v} does not fit in 64 bits")
    return v - 2**64 if v >= 2**63 else v


class _Frozen:
    """Base for small immutable value classes built on ``__slots__``."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")


_set = object.__setattr__


class StringName(str):
    """Godot's ``StringName`` (an interned string), a ``str`` subclass.

    It is encoded with the STRING_NAME type id (21) instead of STRING (4). Like in Godot 4,
    a StringName compares equal to a String with the same text (and hashes the same, so
    ``StringName("a")`` and ``"a"`` are the same ``dict`` key in Python).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"StringName({str.__repr__(self)})"

    def __reduce__(self) -> tuple[type[StringName], tuple[str]]:
        return (StringName, (str(self),))


class NodePath(_Frozen):
    """Godot's ``NodePath``: node ``names``, property ``subnames`` and an absolute flag.

    ``NodePath("/root/Main:position:x")`` parses like Godot (names ``root``, ``Main``;
    subnames ``position``, ``x``; absolute). ``str()`` gives the path text back, ``repr()``
    is ``NodePath('...')``. Equality compares names, subnames and the absolute flag.
    """

    __slots__ = ("_absolute", "_hash", "_names", "_subnames")
    _names: tuple[StringName, ...]
    _subnames: tuple[StringName, ...]
    _absolute: bool
    _hash: int

    def __init__(self, path: str = "") -> None:
        if not isinstance(path, str):
            raise TypeError(f"NodePath() expects a str, got {type(path).__name__}")
        names: list[str] = []
        subnames: list[str] = []
        absolute = path.startswith("/")
        head = path
        colon = path.find(":")
        if colon != -1:
            parts = path[colon + 1 :].split(":")
            for i, part in enumerate(parts):
                if not part:
                    if i == len(parts) - 1:
                        continue  # Godot allows a trailing ':'.
                    raise ValueError(f"Invalid NodePath {path!r}")
                subnames.append(part)
            head = path[:colon]
        names = [name for name in head.split("/") if name]
        self._init(names, subnames, absolute)

    def _init(self, names: Iterable[str], subnames: Iterable[str], absolute: bool) -> None:
        _set(self, "_names", tuple(map(StringName, names)))
        _set(self, "_subnames", tuple(map(StringName, subnames)))
        _set(self, "_absolute", bool(absolute))
        _set(self, "_hash", hash((self._names, self._subnames, self._absolute)))

    @classmethod
    def from_parts(
        cls, names: Iterable[str], subnames: Iterable[str] = (), absolute: bool = False
    ) -> Self:
        """Build a NodePath from its parts (Godot's C++ ``NodePath(names, subnames, absolute)``)."""
        self = object.__new__(cls)
        names = tuple(names)
        subnames = tuple(subnames)
        for part in (*names, *subnames):
            if not isinstance(part, str):
                raise TypeError(f"NodePath parts must be str, got {type(part).__name__}")
        self._init(names, subnames, absolute)
        return self

    @property
    def names(self) -> tuple[StringName, ...]:
        """The node names (the part before the first ``:``, split at ``/``)."""
        return self._names

    @property
    def subnames(self) -> tuple[StringName, ...]:
        """The property subnames (the ``:``-separated part)."""
        return self._subnames

    @property
    def absolute(self) -> bool:
        """True if the path starts at the root (``/``)."""
        return self._absolute

    def is_absolute(self) -> bool:
        """True if the path starts at the root (``/``)."""
        return self._absolute

    def is_empty(self) -> bool:
        """True for ``NodePath("")``."""
        return not (self._names or self._subnames or self._absolute)

    def get_name_count(self) -> int:
        """Number of node names."""
        return len(self._names)

    def get_name(self, idx: int) -> StringName:
        """The node name at ``idx``."""
        return self._names[idx]

    def get_subname_count(self) -> int:
        """Number of property subnames."""
        return len(self._subnames)

    def get_subname(self, idx: int) -> StringName:
        """The property subname at ``idx``."""
        return self._subnames[idx]

    def get_concatenated_names(self) -> StringName:
        """The names joined with ``/`` (without the leading ``/`` of absolute paths)."""
        return StringName("/".join(self._names))

    def get_concatenated_subnames(self) -> StringName:
        """The subnames joined with ``:``."""
        return StringName(":".join(self._subnames))

    def __str__(self) -> str:
        text = ("/" if self._absolute else "") + "/".join(self._names)
        if self._subnames:
            text += ":" + ":".join(self._subnames)
        return text

    def __repr__(self) -> str:
        return f"NodePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not NodePath:
            return False
        return (
            self._hash == other._hash
            and self._names == other._names
            and self._subnames == other._subnames
            and self._absolute == other._absolute
        )

    def __hash__(self) -> int:
        return self._hash

    def __bool__(self) -> bool:
        return not self.is_empty()

    def __reduce__(self) -> tuple[Any, ...]:
        return (NodePath.from_parts, (self._names, self._subnames, self._absolute))


class RID(_Frozen):
    """Godot's ``RID``: an opaque 64-bit resource id (0 = invalid).

    Ids are only meaningful inside the process that created them. The id is kept as
    GDScript sees it (``rid_get_id()``): a signed int64; an unsigned 64-bit value is
    accepted and converted.
    """

    __slots__ = ("_id",)
    _id: int

    def __init__(self, id: SupportsIndex = 0) -> None:
        _set(self, "_id", _int64(id, "RID id"))

    @property
    def id(self) -> int:
        """The id (signed int64)."""
        return self._id

    def get_id(self) -> int:
        """The id (signed int64), like ``RID.get_id()``."""
        return self._id

    def is_valid(self) -> bool:
        """True unless the id is 0."""
        return self._id != 0

    def __eq__(self, other: object) -> bool:
        return type(other) is RID and other._id == self._id

    def __hash__(self) -> int:
        return hash(("RID", self._id))

    def __bool__(self) -> bool:
        return self._id != 0

    def __repr__(self) -> str:
        return f"RID({self._id})"

    def __reduce__(self) -> tuple[type[RID], tuple[int]]:
        return (RID, (self._id,))


class Callable(_Frozen):
    """Godot's ``Callable`` as far as the wire format carries it: not at all.

    Godot encodes every Callable as a bare header and decodes it as an empty
    ``Callable()``; all instances of this class are equal.
    """

    __slots__ = ()

    def is_null(self) -> bool:
        """Always true: a decoded Callable is empty."""
        return True

    def is_valid(self) -> bool:
        """Always false: a decoded Callable cannot be called."""
        return False

    def __eq__(self, other: object) -> bool:
        return type(other) is Callable

    def __hash__(self) -> int:
        return hash("Callable")

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "Callable()"

    def __str__(self) -> str:
        return "null::null"

    def __reduce__(self) -> tuple[type[Callable], tuple[()]]:
        return (Callable, ())


class Signal(_Frozen):
    """Godot's ``Signal``: a signal ``name`` on the object with instance id ``object_id``.

    The object id is process-local (signed int64, as GDScript sees it).
    """

    __slots__ = ("_name", "_object_id")
    _object_id: int
    _name: StringName

    def __init__(self, object_id: SupportsIndex = 0, name: str = "") -> None:
        if not isinstance(name, str):
            raise TypeError(f"Signal name must be a str, got {type(name).__name__}")
        _set(self, "_object_id", _int64(object_id, "Signal object id"))
        _set(self, "_name", StringName(name))

    @property
    def object_id(self) -> int:
        """Instance id of the object that owns the signal."""
        return self._object_id

    @property
    def name(self) -> StringName:
        """The signal name."""
        return self._name

    def get_object_id(self) -> int:
        """Instance id of the object that owns the signal."""
        return self._object_id

    def get_name(self) -> StringName:
        """The signal name."""
        return self._name

    def is_null(self) -> bool:
        """True for ``Signal()`` (no object and no name)."""
        return self._object_id == 0 and not self._name

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Signal
            and other._object_id == self._object_id
            and other._name == self._name
        )

    def __hash__(self) -> int:
        return hash(("Signal", self._object_id, self._name))

    def __bool__(self) -> bool:
        return not self.is_null()

    def __repr__(self) -> str:
        return f"Signal({self._object_id}, {str(self._name)!r})"

    def __str__(self) -> str:
        return f"{self._object_id}::{self._name}" if not self.is_null() else "null::null"

    def __reduce__(self) -> tuple[type[Signal], tuple[int, str]]:
        return (Signal, (self._object_id, str(self._name)))


class EncodedObjectAsID(_Frozen):
    """A reference to a Godot object by instance id (what ``bytes_to_var`` gives for objects).

    Godot sends objects as ``OBJECT | FLAG_OBJECT_AS_ID`` + a 64-bit instance id unless
    full objects are requested; the receiver gets an ``EncodedObjectAsID`` with that id
    (id 0 decodes to ``None``). Encoding this class writes the same id form again.
    """

    __slots__ = ("_object_id",)
    _object_id: int

    def __init__(self, object_id: SupportsIndex) -> None:
        _set(self, "_object_id", _int64(object_id, "object id"))

    @property
    def object_id(self) -> int:
        """The instance id (signed int64, as GDScript sees it)."""
        return self._object_id

    def get_object_id(self) -> int:
        """The instance id, like ``EncodedObjectAsID.get_object_id()``."""
        return self._object_id

    def __eq__(self, other: object) -> bool:
        return type(other) is EncodedObjectAsID and other._object_id == self._object_id

    def __hash__(self) -> int:
        return hash(("EncodedObjectAsID", self._object_id))

    def __repr__(self) -> str:
        return f"EncodedObjectAsID({self._object_id})"

    def __str__(self) -> str:
        return f"<EncodedObjectAsID#{self._object_id}>"

    def __reduce__(self) -> tuple[type[EncodedObjectAsID], tuple[int]]:
        return (EncodedObjectAsID, (self._object_id,))


class GodotObject:
    """A full Godot object: its native ``class_name`` and stored ``properties``.

    This is what ``bytes_to_var_with_objects`` gives for a full object and what
    ``var_to_bytes_with_objects`` writes as one: the class name, then every property in
    ``properties`` order (Godot sends the properties with ``PROPERTY_USAGE_STORAGE`` in
    ``get_property_list()`` order, e.g. ``resource_local_to_scene``, ``resource_name``,
    ``script`` for a Resource). A ``script`` property must be ``None`` or a ``res://``
    path. ``instance_id`` is only used when the object is encoded *as an id*
    (``full_objects=False``).

    Objects are mutable like Godot's; equality compares class, instance id and properties,
    the hash uses the class and instance id only.
    """

    __slots__ = ("_class_name", "_instance_id", "properties")
    _class_name: str
    _instance_id: int
    properties: dict[str, Any]

    def __init__(
        self,
        class_name: str,
        properties: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        *,
        instance_id: SupportsIndex = 0,
    ) -> None:
        if not isinstance(class_name, str):
            raise TypeError(f"class_name must be a str, got {type(class_name).__name__}")
        self._class_name = str(class_name)
        self._instance_id = _int64(instance_id, "instance id")
        self.properties = dict(properties) if properties is not None else {}
        for key in self.properties:
            if not isinstance(key, str):
                raise TypeError(f"property names must be str, got {type(key).__name__}")

    @property
    def class_name(self) -> str:
        """The native class name (``get_class()``), e.g. ``"Resource"``."""
        return self._class_name

    @property
    def instance_id(self) -> int:
        """The instance id sent when encoding as an id (0 = none)."""
        return self._instance_id

    def get_class(self) -> str:
        """The native class name, like ``Object.get_class()``."""
        return self._class_name

    def get_instance_id(self) -> int:
        """The instance id, like ``Object.get_instance_id()``."""
        return self._instance_id

    def get(self, prop: str, default: Any = None) -> Any:
        """A property value (``default`` if it is not set), like ``Object.get()``."""
        return self.properties.get(prop, default)

    def set(self, prop: str, value: Any) -> None:
        """Set a property, like ``Object.set()``."""
        if not isinstance(prop, str):
            raise TypeError(f"property names must be str, got {type(prop).__name__}")
        self.properties[prop] = value

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self.properties.items())

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is GodotObject
            and other._class_name == self._class_name
            and other._instance_id == self._instance_id
            and other.properties == self.properties
        )

    def __hash__(self) -> int:
        return hash(("GodotObject", self._class_name, self._instance_id))

    def __repr__(self) -> str:
        extra = f", instance_id={self._instance_id}" if self._instance_id else ""
        return f"GodotObject({self._class_name!r}, {self.properties!r}{extra})"

    def __str__(self) -> str:
        return f"<{self._class_name}#{self._instance_id}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make_object, (self._class_name, self.properties, self._instance_id))


def _make_object(class_name: str, properties: dict[str, Any], instance_id: int) -> GodotObject:
    return GodotObject(class_name, properties, instance_id=instance_id)
