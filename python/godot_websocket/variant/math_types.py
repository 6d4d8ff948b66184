"""Godot's math value types: vectors, rectangles, transforms, Color, ...

Every class is an immutable ``tuple`` subclass whose items are what Godot's own
``operator[]`` / constructor use: a Vector2 is ``(x, y)``, a Rect2 is
``(position, size)``, a Basis is its three column vectors ``(x, y, z)``, a Transform3D is
``(basis, origin)``. Tuple unpacking therefore works (``x, y = v``) and fields carry
Godot's names (``v.x``, ``rect.position``, ``color.a``, ``xform.origin``).

Semantics follow an official (single-precision) Godot build:

* ``real_t`` components (everything except the ``*i`` integer types) are rounded to
  binary32 on construction, as Godot stores them; Color is always binary32.
* Integer vectors hold int32 components; out-of-range values raise ``ValueError``.
* ``==`` is true only for the same type with equal components (``Vector2(1, 2)`` is not
  equal to ``Vector2i(1, 2)`` nor to the tuple ``(1.0, 2.0)``), ``hash`` agrees with it.
* ``bool(v)`` is false for the default value (zero vector, identity transform, ...), like
  Godot's ``if v:``.
* ``repr()`` is a constructor call that evaluates back to an equal value
  (``Vector2(1.0, 2.0)``); ``str()`` is exactly what Godot's ``print()`` shows
  (``(1.0, 2.0)``, ``[P: (0.0, 0.0), S: (1.0, 1.0)]``).
* Tuple concatenation / repetition (``+``, ``*``) is disabled; these classes carry data,
  they do not implement Godot's vector arithmetic.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, SupportsFloat, SupportsIndex, TypeVar, overload

if TYPE_CHECKING:
    from typing import Self

from ._real import format_real, round_f32

__all__ = [
    "AABB",
    "Basis",
    "Color",
    "Plane",
    "Projection",
    "Quaternion",
    "Rect2",
    "Rect2i",
    "Transform2D",
    "Transform3D",
    "Vector2",
    "Vector2i",
    "Vector3",
    "Vector3i",
    "Vector4",
    "Vector4i",
]

_T = TypeVar("_T", bound=tuple[Any, ...])
_V_co = TypeVar("_V_co", covariant=True)
_new = tuple.__new__

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


def _godot_value(cls: type[_T]) -> type[_T]:
    """Give a tuple subclass strict, type-aware equality, hashing and Godot truthiness."""
    name = cls.__name__

    def eq(self: tuple[Any, ...], other: object) -> bool:
        if type(other) is type(self):
            return tuple.__eq__(self, other)
        return False

    def ne(self: tuple[Any, ...], other: object) -> bool:
        return not eq(self, other)

    def hash_(self: tuple[Any, ...]) -> int:
        return hash((name, tuple.__hash__(self)))

    def bool_(self: tuple[Any, ...]) -> bool:
        return not eq(self, type(self)())

    def getnewargs(self: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(self)

    def _not_supported(self: tuple[Any, ...], other: object) -> Any:
        return NotImplemented

    namespace: dict[str, Callable[..., Any]] = {
        "__eq__": eq,
        "__ne__": ne,
        "__hash__": hash_,
        "__bool__": bool_,
        "__getnewargs__": getnewargs,
        "__add__": _not_supported,
        "__mul__": _not_supported,
        "__rmul__": _not_supported,
    }
    for attr, func in namespace.items():
        func.__name__ = attr
        func.__qualname__ = f"{name}.{attr}"
        setattr(cls, attr, func)
    return cls


class _Field(Protocol[_V_co]):
    """What a type checker sees of a named field: reading it gives a ``_V_co``."""

    @overload
    def __get__(self, obj: None, owner: type[Any], /) -> _Field[_V_co]: ...
    @overload
    def __get__(self, obj: tuple[Any, ...], owner: type[Any] | None = None, /) -> _V_co: ...


def _field(index: int, doc: str) -> Any:
    """A read-only field named after item ``index`` of the tuple.

    A ``property`` over ``operator.itemgetter``: both are C code, so reading
    ``v.x`` costs no Python frame. The class annotates it as ``_Field[type]``.
    """
    return property(operator.itemgetter(index), doc=doc)


def _ints32(values: tuple[SupportsIndex, ...], what: str) -> tuple[int, ...]:
    try:
        ints = tuple(map(operator.index, values))
    except TypeError:
        bad = next(v for v in values if not hasattr(v, "__index__"))
        raise TypeError(
            f"{what} components must be integers, got {type(bad).__name__}: {bad!r}"
        ) from None
    for v in ints:
        if not _INT32_MIN <= v <= _INT32_MAX:
            raise ValueError(f"{what} component {v} is outside the int32 range")
    return ints


def _parts(value: Iterable[Any], size: int, what: str) -> tuple[Any, ...]:
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(
            f"{what} must be a vector of {size} numbers, got {type(value).__name__}"
        ) from None
    if len(items) != size:
        raise TypeError(f"{what} must have {size} components, got {len(items)}")
    return items


def _real_str(values: Iterable[float]) -> str:
    return "(" + ", ".join(map(format_real, values)) + ")"


def _int_str(values: Iterable[int]) -> str:
    return "(" + ", ".join(map(str, values)) + ")"


def _real_repr(self: tuple[float, ...]) -> str:
    """``Vector3(1.0, 2.0, 3.0)``: a constructor call that evaluates back."""
    return type(self).__name__ + _real_str(self)


def _int_repr(self: tuple[int, ...]) -> str:
    return type(self).__name__ + _int_str(self)


# ---------------------------------------------------------------------------- vectors


@_godot_value
class Vector2(tuple[float, float]):
    """Godot's ``Vector2``: two ``real_t`` components ``x`` and ``y`` (binary32)."""

    __slots__ = ()

    def __new__(cls, x: SupportsFloat = 0.0, y: SupportsFloat = 0.0) -> Self:
        return _new(cls, round_f32((x, y)))  # type: ignore[arg-type]

    x: _Field[float] = _field(0, "The X component.")
    y: _Field[float] = _field(1, "The Y component.")

    __repr__ = _real_repr
    __str__ = _real_str


@_godot_value
class Vector2i(tuple[int, int]):
    """Godot's ``Vector2i``: two int32 components ``x`` and ``y``."""

    __slots__ = ()

    def __new__(cls, x: SupportsIndex = 0, y: SupportsIndex = 0) -> Self:
        return _new(cls, _ints32((x, y), "Vector2i"))

    x: _Field[int] = _field(0, "The X component.")
    y: _Field[int] = _field(1, "The Y component.")

    __repr__ = _int_repr
    __str__ = _int_str


@_godot_value
class Vector3(tuple[float, float, float]):
    """Godot's ``Vector3``: ``real_t`` components ``x``, ``y``, ``z`` (binary32)."""

    __slots__ = ()

    def __new__(
        cls, x: SupportsFloat = 0.0, y: SupportsFloat = 0.0, z: SupportsFloat = 0.0
    ) -> Self:
        return _new(cls, round_f32((x, y, z)))  # type: ignore[arg-type]

    x: _Field[float] = _field(0, "The X component.")
    y: _Field[float] = _field(1, "The Y component.")
    z: _Field[float] = _field(2, "The Z component.")

    __repr__ = _real_repr
    __str__ = _real_str


@_godot_value
class Vector3i(tuple[int, int, int]):
    """Godot's ``Vector3i``: int32 components ``x``, ``y``, ``z``."""

    __slots__ = ()

    def __new__(cls, x: SupportsIndex = 0, y: SupportsIndex = 0, z: SupportsIndex = 0) -> Self:
        return _new(cls, _ints32((x, y, z), "Vector3i"))

    x: _Field[int] = _field(0, "The X component.")
    y: _Field[int] = _field(1, "The Y component.")
    z: _Field[int] = _field(2, "The Z component.")

    __repr__ = _int_repr
    __str__ = _int_str


@_godot_value
class Vector4(tuple[float, float, float, float]):
    """Godot's ``Vector4``: ``real_t`` components ``x``, ``y``, ``z``, ``w`` (binary32)."""

    __slots__ = ()

    def __new__(
        cls,
        x: SupportsFloat = 0.0,
        y: SupportsFloat = 0.0,
        z: SupportsFloat = 0.0,
        w: SupportsFloat = 0.0,
    ) -> Self:
        return _new(cls, round_f32((x, y, z, w)))  # type: ignore[arg-type]

    x: _Field[float] = _field(0, "The X component.")
    y: _Field[float] = _field(1, "The Y component.")
    z: _Field[float] = _field(2, "The Z component.")
    w: _Field[float] = _field(3, "The W component.")

    __repr__ = _real_repr
    __str__ = _real_str


@_godot_value
class Vector4i(tuple[int, int, int, int]):
    """Godot's ``Vector4i``: int32 components ``x``, ``y``, ``z``, ``w``."""

    __slots__ = ()

    def __new__(
        cls,
        x: SupportsIndex = 0,
        y: SupportsIndex = 0,
        z: SupportsIndex = 0,
        w: SupportsIndex = 0,
    ) -> Self:
        return _new(cls, _ints32((x, y, z, w), "Vector4i"))

    x: _Field[int] = _field(0, "The X component.")
    y: _Field[int] = _field(1, "The Y component.")
    z: _Field[int] = _field(2, "The Z component.")
    w: _Field[int] = _field(3, "The W component.")

    __repr__ = _int_repr
    __str__ = _int_str


@_godot_value
class Quaternion(tuple[float, float, float, float]):
    """Godot's ``Quaternion``: ``x``, ``y``, ``z``, ``w`` (binary32); default identity."""

    __slots__ = ()

    def __new__(
        cls,
        x: SupportsFloat = 0.0,
        y: SupportsFloat = 0.0,
        z: SupportsFloat = 0.0,
        w: SupportsFloat = 1.0,
    ) -> Self:
        return _new(cls, round_f32((x, y, z, w)))  # type: ignore[arg-type]

    x: _Field[float] = _field(0, "The X component.")
    y: _Field[float] = _field(1, "The Y component.")
    z: _Field[float] = _field(2, "The Z component.")
    w: _Field[float] = _field(3, "The W (real) component.")

    __repr__ = _real_repr
    __str__ = _real_str


@_godot_value
class Color(tuple[float, float, float, float]):
    """Godot's ``Color``: ``r``, ``g``, ``b``, ``a`` as binary32 (also in double builds).

    ``Color()`` is opaque black ``(0, 0, 0, 1)`` like in Godot; ``a`` defaults to 1.
    """

    __slots__ = ()

    def __new__(
        cls,
        r: SupportsFloat = 0.0,
        g: SupportsFloat = 0.0,
        b: SupportsFloat = 0.0,
        a: SupportsFloat = 1.0,
    ) -> Self:
        return _new(cls, round_f32((r, g, b, a)))  # type: ignore[arg-type]

    r: _Field[float] = _field(0, "Red.")
    g: _Field[float] = _field(1, "Green.")
    b: _Field[float] = _field(2, "Blue.")
    a: _Field[float] = _field(3, "Alpha.")

    __repr__ = _real_repr
    __str__ = _real_str


# ------------------------------------------------------------------------ rectangles


@_godot_value
class Rect2(tuple[Vector2, Vector2]):
    """Godot's ``Rect2``: ``position`` and ``size`` (Vector2).

    ``Rect2(position, size)`` or ``Rect2(x, y, width, height)``.
    """

    __slots__ = ()

    @overload
    def __new__(cls) -> Self: ...
    @overload
    def __new__(cls, position: Iterable[float], size: Iterable[float], /) -> Self: ...
    @overload
    def __new__(
        cls,
        x: SupportsFloat,
        y: SupportsFloat,
        width: SupportsFloat,
        height: SupportsFloat,
        /,
    ) -> Self: ...
    def __new__(cls, *args: Any) -> Self:
        if not args:
            comps: tuple[Any, ...] = (0.0, 0.0, 0.0, 0.0)
        elif len(args) == 2:
            comps = _parts(args[0], 2, "Rect2 position") + _parts(args[1], 2, "Rect2 size")
        elif len(args) == 4:
            comps = args
        else:
            raise TypeError("Rect2() takes 0, 2 (position, size) or 4 (x, y, w, h) arguments")
        c = round_f32(comps)
        return _new(cls, (_new(Vector2, c[0:2]), _new(Vector2, c[2:4])))

    position: _Field[Vector2] = _field(0, "The origin (top-left corner).")
    size: _Field[Vector2] = _field(1, "Width and height.")

    @property
    def end(self) -> Vector2:
        """``position + size``."""
        return Vector2(self[0][0] + self[1][0], self[0][1] + self[1][1])

    def __repr__(self) -> str:
        return "Rect2" + _real_str((*self[0], *self[1]))

    def __str__(self) -> str:
        return f"[P: {self[0]}, S: {self[1]}]"


@_godot_value
class Rect2i(tuple[Vector2i, Vector2i]):
    """Godot's ``Rect2i``: int32 ``position`` and ``size`` (Vector2i).

    ``Rect2i(position, size)`` or ``Rect2i(x, y, width, height)``.
    """

    __slots__ = ()

    @overload
    def __new__(cls) -> Self: ...
    @overload
    def __new__(
        cls, position: Iterable[SupportsIndex], size: Iterable[SupportsIndex], /
    ) -> Self: ...
    @overload
    def __new__(
        cls,
        x: SupportsIndex,
        y: SupportsIndex,
        width: SupportsIndex,
        height: SupportsIndex,
        /,
    ) -> Self: ...
    def __new__(cls, *args: Any) -> Self:
        if not args:
            comps: tuple[Any, ...] = (0, 0, 0, 0)
        elif len(args) == 2:
            comps = _parts(args[0], 2, "Rect2i position") + _parts(args[1], 2, "Rect2i size")
        elif len(args) == 4:
            comps = args
        else:
            raise TypeError("Rect2i() takes 0, 2 (position, size) or 4 (x, y, w, h) arguments")
        c = _ints32(comps, "Rect2i")
        return _new(cls, (_new(Vector2i, c[0:2]), _new(Vector2i, c[2:4])))

    position: _Field[Vector2i] = _field(0, "The origin (top-left corner).")
    size: _Field[Vector2i] = _field(1, "Width and height.")

    @property
    def end(self) -> Vector2i:
        """``position + size``."""
        return Vector2i(self[0][0] + self[1][0], self[0][1] + self[1][1])

    def __repr__(self) -> str:
        return "Rect2i" + _int_str((*self[0], *self[1]))

    def __str__(self) -> str:
        return f"[P: {self[0]}, S: {self[1]}]"


@_godot_value
class AABB(tuple[Vector3, Vector3]):
    """Godot's ``AABB``: ``position`` and ``size`` (Vector3)."""

    __slots__ = ()

    def __new__(
        cls,
        position: Iterable[SupportsFloat] = (0.0, 0.0, 0.0),
        size: Iterable[SupportsFloat] = (0.0, 0.0, 0.0),
    ) -> Self:
        c = round_f32(_parts(position, 3, "AABB position") + _parts(size, 3, "AABB size"))
        return _new(cls, (_new(Vector3, c[0:3]), _new(Vector3, c[3:6])))

    position: _Field[Vector3] = _field(0, "The minimum corner.")
    size: _Field[Vector3] = _field(1, "Width, height and depth.")

    @property
    def end(self) -> Vector3:
        """``position + size``."""
        p, s = self
        return Vector3(p[0] + s[0], p[1] + s[1], p[2] + s[2])

    def __repr__(self) -> str:
        return f"AABB({self[0]!r}, {self[1]!r})"

    def __str__(self) -> str:
        return f"[P: {self[0]}, S: {self[1]}]"


@_godot_value
class Plane(tuple[Vector3, float]):
    """Godot's ``Plane``: ``normal`` (Vector3) and distance ``d``.

    ``Plane(normal, d=0)`` or ``Plane(a, b, c, d)`` (normal ``(a, b, c)``).
    """

    __slots__ = ()

    @overload
    def __new__(cls) -> Self: ...
    @overload
    def __new__(cls, normal: Iterable[SupportsFloat], d: SupportsFloat = 0.0, /) -> Self: ...
    @overload
    def __new__(
        cls, a: SupportsFloat, b: SupportsFloat, c: SupportsFloat, d: SupportsFloat, /
    ) -> Self: ...
    def __new__(cls, *args: Any) -> Self:
        if not args:
            comps: tuple[Any, ...] = (0.0, 0.0, 0.0, 0.0)
        elif len(args) in (1, 2):
            comps = (*_parts(args[0], 3, "Plane normal"), args[1] if len(args) == 2 else 0.0)
        elif len(args) == 4:
            comps = args
        else:
            raise TypeError("Plane() takes 0, 1-2 (normal, d) or 4 (a, b, c, d) arguments")
        c = round_f32(comps)
        return _new(cls, (_new(Vector3, c[0:3]), c[3]))

    normal: _Field[Vector3] = _field(0, "The plane normal.")
    d: _Field[float] = _field(1, "Distance from the origin along the normal.")

    @property
    def x(self) -> float:
        """``normal.x``."""
        return self[0][0]

    @property
    def y(self) -> float:
        """``normal.y``."""
        return self[0][1]

    @property
    def z(self) -> float:
        """``normal.z``."""
        return self[0][2]

    def __repr__(self) -> str:
        return "Plane" + _real_str((*self[0], self[1]))

    def __str__(self) -> str:
        return f"[N: {self[0]}, D: {format_real(self[1])}]"


# ------------------------------------------------------------------------ transforms


@_godot_value
class Transform2D(tuple[Vector2, Vector2, Vector2]):
    """Godot's ``Transform2D``: columns ``x``, ``y`` (basis) and ``origin``.

    ``Transform2D()`` is the identity; ``Transform2D(x_axis, y_axis, origin)``.
    """

    __slots__ = ()

    def __new__(
        cls,
        x: Iterable[SupportsFloat] = (1.0, 0.0),
        y: Iterable[SupportsFloat] = (0.0, 1.0),
        origin: Iterable[SupportsFloat] = (0.0, 0.0),
    ) -> Self:
        c = round_f32(
            _parts(x, 2, "Transform2D x")
            + _parts(y, 2, "Transform2D y")
            + _parts(origin, 2, "Transform2D origin")
        )
        return _new(cls, (_new(Vector2, c[0:2]), _new(Vector2, c[2:4]), _new(Vector2, c[4:6])))

    x: _Field[Vector2] = _field(0, "The X axis (first column).")
    y: _Field[Vector2] = _field(1, "The Y axis (second column).")
    origin: _Field[Vector2] = _field(2, "The translation (third column).")

    def __repr__(self) -> str:
        return f"Transform2D({self[0]!r}, {self[1]!r}, {self[2]!r})"

    def __str__(self) -> str:
        return f"[X: {self[0]}, Y: {self[1]}, O: {self[2]}]"


@_godot_value
class Basis(tuple[Vector3, Vector3, Vector3]):
    """Godot's ``Basis``: the column vectors ``x``, ``y``, ``z``; default identity.

    Godot stores a Basis as three *rows*, so its wire format is row-major
    (``x.x, y.x, z.x, x.y, ...``); the constructor, like GDScript's, takes *columns*.
    """

    __slots__ = ()

    def __new__(
        cls,
        x: Iterable[SupportsFloat] = (1.0, 0.0, 0.0),
        y: Iterable[SupportsFloat] = (0.0, 1.0, 0.0),
        z: Iterable[SupportsFloat] = (0.0, 0.0, 1.0),
    ) -> Self:
        c = round_f32(_parts(x, 3, "Basis x") + _parts(y, 3, "Basis y") + _parts(z, 3, "Basis z"))
        return _new(cls, (_new(Vector3, c[0:3]), _new(Vector3, c[3:6]), _new(Vector3, c[6:9])))

    x: _Field[Vector3] = _field(0, "The X axis (first column).")
    y: _Field[Vector3] = _field(1, "The Y axis (second column).")
    z: _Field[Vector3] = _field(2, "The Z axis (third column).")

    def __repr__(self) -> str:
        return f"Basis({self[0]!r}, {self[1]!r}, {self[2]!r})"

    def __str__(self) -> str:
        return f"[X: {self[0]}, Y: {self[1]}, Z: {self[2]}]"


@_godot_value
class Transform3D(tuple[Basis, Vector3]):
    """Godot's ``Transform3D``: ``basis`` (Basis) and ``origin`` (Vector3).

    ``Transform3D()`` is the identity; ``Transform3D(basis, origin)`` or
    ``Transform3D(x_axis, y_axis, z_axis, origin)``.
    """

    __slots__ = ()

    @overload
    def __new__(cls) -> Self: ...
    @overload
    def __new__(cls, basis: Basis, origin: Iterable[SupportsFloat], /) -> Self: ...
    @overload
    def __new__(
        cls,
        x: Iterable[SupportsFloat],
        y: Iterable[SupportsFloat],
        z: Iterable[SupportsFloat],
        origin: Iterable[SupportsFloat],
        /,
    ) -> Self: ...
    def __new__(cls, *args: Any) -> Self:
        if not args:
            basis, origin = Basis(), Vector3()
        elif len(args) == 2:
            if type(args[0]) is not Basis:
                raise TypeError(f"Transform3D basis must be a Basis, got {type(args[0]).__name__}")
            basis, origin = args[0], Vector3(*_parts(args[1], 3, "Transform3D origin"))
        elif len(args) == 4:
            basis = Basis(args[0], args[1], args[2])
            origin = Vector3(*_parts(args[3], 3, "Transform3D origin"))
        else:
            raise TypeError(
                "Transform3D() takes 0, 2 (basis, origin) or 4 (x, y, z, origin) arguments"
            )
        return _new(cls, (basis, origin))

    basis: _Field[Basis] = _field(0, "The rotation / scale part.")
    origin: _Field[Vector3] = _field(1, "The translation.")

    def __repr__(self) -> str:
        return f"Transform3D({self[0]!r}, {self[1]!r})"

    def __str__(self) -> str:
        b = self[0]
        return f"[X: {b[0]}, Y: {b[1]}, Z: {b[2]}, O: {self[1]}]"


@_godot_value
class Projection(tuple[Vector4, Vector4, Vector4, Vector4]):
    """Godot's ``Projection``: a 4x4 matrix of column vectors ``x``, ``y``, ``z``, ``w``.

    ``Projection()`` is the identity; ``Projection(x, y, z, w)`` takes columns.
    """

    __slots__ = ()

    def __new__(
        cls,
        x: Iterable[SupportsFloat] = (1.0, 0.0, 0.0, 0.0),
        y: Iterable[SupportsFloat] = (0.0, 1.0, 0.0, 0.0),
        z: Iterable[SupportsFloat] = (0.0, 0.0, 1.0, 0.0),
        w: Iterable[SupportsFloat] = (0.0, 0.0, 0.0, 1.0),
    ) -> Self:
        c = round_f32(
            _parts(x, 4, "Projection x")
            + _parts(y, 4, "Projection y")
            + _parts(z, 4, "Projection z")
            + _parts(w, 4, "Projection w")
        )
        return _new(
            cls,
            (
                _new(Vector4, c[0:4]),
                _new(Vector4, c[4:8]),
                _new(Vector4, c[8:12]),
                _new(Vector4, c[12:16]),
            ),
        )

    x: _Field[Vector4] = _field(0, "First column.")
    y: _Field[Vector4] = _field(1, "Second column.")
    z: _Field[Vector4] = _field(2, "Third column.")
    w: _Field[Vector4] = _field(3, "Fourth column.")

    def __repr__(self) -> str:
        return f"Projection({self[0]!r}, {self[1]!r}, {self[2]!r}, {self[3]!r})"

    def __str__(self) -> str:
        return f"[X: {self[0]}, Y: {self[1]}, Z: {self[2]}, W: {self[3]}]"
