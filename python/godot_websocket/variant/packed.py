"""Godot's packed arrays (PackedByteArray maps to ``bytes``; the others are classes here).

The numeric packed arrays keep their elements as one little-endian ``bytes`` block, the
exact wire layout, so encoding and decoding them costs one copy and no per-element
Python work. They convert from and to ``array.array``, any buffer-protocol object with a
matching item format, and NumPy arrays (NumPy is optional and only imported when a NumPy
array is passed in or ``to_numpy()`` is called).

All packed arrays here are immutable and hashable (Godot's are mutable value types;
build a new array to change one). ``==`` compares element values like Godot (for float
arrays ``0.0 == -0.0`` and NaN is unequal to everything).
"""

from __future__ import annotations

import array
import functools
import itertools
import operator
import struct
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, SupportsIndex, TypeVar, cast, overload

from ._real import LITTLE_ENDIAN_HOST, format_real
from .math_types import Color, Vector2, Vector3, Vector4

if TYPE_CHECKING:
    from typing import Self

    import numpy.typing as npt

__all__ = [
    "PackedColorArray",
    "PackedFloat32Array",
    "PackedFloat64Array",
    "PackedInt32Array",
    "PackedInt64Array",
    "PackedStringArray",
    "PackedVector2Array",
    "PackedVector3Array",
    "PackedVector4Array",
]

_E = TypeVar("_E")
_new = tuple.__new__

# array.array type codes with the exact item sizes the wire format needs.
_CODE_I32 = next(c for c in "ilh" if array.array(c).itemsize == 4)
_CODE_I64 = next(c for c in "qlL" if array.array(c).itemsize == 8 and c != "L")

_INT_RANGES = {4: (-(2**31), 2**31 - 1), 8: (-(2**63), 2**63 - 1)}


def _is_numpy_array(value: object) -> bool:
    cls = type(value)
    return cls.__module__ == "numpy" and cls.__name__ == "ndarray"


def _import_numpy() -> Any:
    try:
        import numpy
    except ImportError:  # pragma: no cover - only without numpy
        raise ImportError("to_numpy() needs NumPy (pip install numpy)") from None
    return numpy


class _PackedNumeric(Generic[_E]):
    """Common implementation of the numeric packed arrays (little-endian bytes storage)."""

    __slots__ = ("_data", "_hash", "_view")

    #: array.array / struct item code of one component.
    _code: ClassVar[str]
    #: Bytes per component.
    _itemsize: ClassVar[int]
    #: Components per element (2 for Vector2, ...).
    _width: ClassVar[int] = 1
    #: NumPy dtype of one component, little-endian.
    _dtype: ClassVar[str]
    #: True for float components.
    _is_float: ClassVar[bool]
    #: Class of one element (Vector2, ...), None for plain numbers.
    _element_type: ClassVar[type[Any] | None] = None
    #: Little-endian struct of one element.
    _unpacker: ClassVar[struct.Struct]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "_code"):  # concrete, or an intermediate base that fixes the code
            cls._unpacker = struct.Struct("<" + cls._code * cls._width)

    _data: bytes
    _view: Any
    _hash: int | None

    def __init__(self, values: Iterable[Any] | Any = ()) -> None:
        self._data = self._coerce(values)
        self._view = None
        self._hash = None

    # ---------------------------------------------------------------- construction

    @classmethod
    def _from_le_bytes(cls, data: bytes) -> Self:
        """Wrap little-endian component bytes without copying or checking (codec use)."""
        self = object.__new__(cls)
        self._data = data
        self._view = None
        self._hash = None
        return self

    @classmethod
    def from_byte_array(cls, data: bytes | bytearray | memoryview) -> Self:
        """Build from raw little-endian bytes (the inverse of :meth:`to_byte_array`).

        Like Godot's ``PackedByteArray.to_float32_array()`` and friends; the length must
        be a multiple of the element size.
        """
        raw = bytes(data)
        size = cls._itemsize * cls._width
        if len(raw) % size:
            raise ValueError(
                f"{cls.__name__}.from_byte_array() needs a multiple of {size} bytes, got {len(raw)}"
            )
        return cls._from_le_bytes(raw)

    @classmethod
    def _coerce(cls, values: Any) -> bytes:
        if type(values) is cls:
            return values._data
        if _is_numpy_array(values):
            return cls._from_numpy(values)
        if not isinstance(values, str):
            try:
                view = memoryview(values)
            except TypeError:
                view = None
            if view is not None:
                return cls._from_buffer(view)
        return cls._from_iterable(values)

    @classmethod
    def _from_buffer(cls, view: memoryview) -> bytes:
        fmt = view.format
        order = fmt[0] if fmt[:1] in ("@", "=", "<", ">", "!") else "@"
        base = fmt.lstrip("@=<>!")
        if view.itemsize == cls._itemsize and base in cls._accepted_formats():
            # Same item type: one memcpy (plus a byte swap for big-endian data).
            raw = view.tobytes()
            cls._check_length(len(raw) // cls._itemsize)
            big = order in (">", "!") or (order in ("@", "=") and not LITTLE_ENDIAN_HOST)
            return cls._swap(raw) if big else raw
        if view.ndim != 1:
            return cls._from_iterable(view.tolist())
        # Another numeric item type: convert element-wise in C (array.array does the loop).
        try:
            arr = array.array(cls._code, view)
        except OverflowError:
            raise ValueError(f"a value does not fit in {cls.__name__}") from None
        except TypeError as exc:
            raise TypeError(f"cannot build {cls.__name__} from this buffer: {exc}") from None
        cls._check_length(len(arr))
        if not LITTLE_ENDIAN_HOST:  # pragma: no cover - big-endian hosts only
            arr.byteswap()
        return arr.tobytes()

    @classmethod
    def _accepted_formats(cls) -> tuple[str, ...]:
        if cls._is_float:
            return ("f",) if cls._itemsize == 4 else ("d",)
        return ("i", "l", "q") if cls._itemsize in (4, 8) else ()

    @classmethod
    def _swap(cls, raw: bytes) -> bytes:
        arr = array.array(cls._code, raw)
        arr.byteswap()
        return arr.tobytes()

    @classmethod
    def _check_length(cls, components: int) -> None:
        if components % cls._width:
            raise ValueError(
                f"{cls.__name__} needs a multiple of {cls._width} components, got {components}"
            )

    @classmethod
    def _from_numpy(cls, values: Any) -> bytes:
        np = _import_numpy()
        kind = values.dtype.kind
        if cls._is_float:
            if kind not in "biuf":
                raise TypeError(f"cannot build {cls.__name__} from a {values.dtype} array")
        else:
            if kind not in "biu":
                raise TypeError(f"cannot build {cls.__name__} from a {values.dtype} array")
            if values.size and kind != "b":
                lo, hi = _INT_RANGES[cls._itemsize]
                if int(values.min()) < lo or int(values.max()) > hi:
                    raise ValueError(f"a value does not fit in {cls.__name__}")
        if (
            cls._width > 1
            and not (values.ndim == 2 and values.shape[1] == cls._width)
            and values.ndim != 1
        ):
            raise ValueError(
                f"{cls.__name__} needs an array of shape (n, {cls._width}) or (n * {cls._width},)"
            )
        if cls._width == 1 and values.ndim != 1:
            raise ValueError(f"{cls.__name__} needs a 1-dimensional array")
        with np.errstate(over="ignore", invalid="ignore"):
            converted = np.ascontiguousarray(values, dtype=cls._dtype)
        cls._check_length(converted.size)
        return bytes(converted.tobytes())

    @classmethod
    def _from_iterable(cls, values: Iterable[Any]) -> bytes:
        if isinstance(values, (str, bytes, bytearray)) and cls._width > 1:
            raise TypeError(f"cannot build {cls.__name__} from {type(values).__name__}")
        if cls._width == 1:
            flat: Iterable[Any] = values
        else:
            items = list(values)
            try:
                lengths = set(map(len, items))
            except TypeError:
                raise TypeError(
                    f"{cls.__name__} elements must be vectors of {cls._width} numbers"
                ) from None
            if lengths - {cls._width}:
                raise TypeError(f"{cls.__name__} elements must have {cls._width} components")
            flat = itertools.chain.from_iterable(items)
        try:
            arr = array.array(cls._code, flat)
        except OverflowError:
            raise ValueError(f"a value does not fit in {cls.__name__}") from None
        except TypeError as exc:
            raise TypeError(f"invalid {cls.__name__} element: {exc}") from None
        if not LITTLE_ENDIAN_HOST:
            arr.byteswap()
        return arr.tobytes()

    # ---------------------------------------------------------------- access

    def _components(self) -> Any:
        """Native-order view of the components (memoryview, or array on big-endian hosts)."""
        view = self._view
        if view is None:
            if LITTLE_ENDIAN_HOST:
                view = memoryview(self._data).cast(self._code)  # type: ignore[call-overload]
            else:  # pragma: no cover - big-endian hosts only
                view = array.array(self._code, self._data)
                view.byteswap()
            self._view = view
        return view

    def __len__(self) -> int:
        return len(self._data) // (self._itemsize * self._width)

    @overload
    def __getitem__(self, index: SupportsIndex) -> _E: ...
    @overload
    def __getitem__(self, index: slice) -> Self: ...
    def __getitem__(self, index: SupportsIndex | slice) -> _E | Self:
        n = len(self)
        size = self._itemsize * self._width
        if isinstance(index, slice):
            rng = range(n)[index]
            if rng.step == 1:
                return self._from_le_bytes(self._data[rng.start * size : rng.stop * size])
            data = self._data
            return self._from_le_bytes(b"".join(data[i * size : (i + 1) * size] for i in rng))
        i = operator.index(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"{type(self).__name__} index out of range")
        comps = self._unpacker.unpack_from(self._data, i * size)
        if self._element_type is None:
            return comps[0]  # type: ignore[no-any-return]
        return _new(self._element_type, comps)  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[_E]:
        return iter(self.tolist())

    def tolist(self) -> list[_E]:
        """The elements as a list (numbers, or Vector2/Vector3/Vector4/Color objects)."""
        if self._element_type is None:
            return self._components().tolist()  # type: ignore[no-any-return]
        make = functools.partial(_new, self._element_type)
        return list(map(make, self._unpacker.iter_unpack(self._data)))

    def to_array(self) -> array.array[Any]:
        """A native-order ``array.array`` copy of the components (flattened for vectors)."""
        arr = array.array(self._code, self._data)
        if not LITTLE_ENDIAN_HOST:  # pragma: no cover - big-endian hosts only
            arr.byteswap()
        return arr

    def to_byte_array(self) -> bytes:
        """The raw little-endian bytes, like Godot's ``to_byte_array()``."""
        return self._data

    def to_numpy(self) -> npt.NDArray[Any]:
        """A read-only NumPy view of the data (no copy); shape ``(n,)`` or ``(n, width)``.

        Call ``.copy()`` on it for a writable array. Needs NumPy.
        """
        np = _import_numpy()
        arr = np.frombuffer(self._data, dtype=self._dtype)
        if self._width > 1:
            arr = arr.reshape(-1, self._width)
        return cast("npt.NDArray[Any]", arr)

    def size(self) -> int:
        """Number of elements, like Godot's ``size()``."""
        return len(self)

    def is_empty(self) -> bool:
        """True if there are no elements."""
        return not self._data

    # ---------------------------------------------------------------- comparison

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return False
        assert isinstance(other, _PackedNumeric)
        if not self._is_float:
            return self._data == other._data
        return bool(self._components() == other._components())

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            if self._is_float:
                h = hash((type(self).__name__, tuple(self._components().tolist())))
            else:
                h = hash((type(self).__name__, self._data))
            self._hash = h
        return h

    def __bool__(self) -> bool:
        return bool(self._data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self).from_byte_array, (self._data,))

    def _format_element(self, element: Any) -> str:
        return repr(element)

    def __repr__(self) -> str:
        items = ", ".join(map(self._format_element, self))
        return f"{type(self).__name__}([{items}])"

    def __str__(self) -> str:
        return "[" + ", ".join(map(str, self)) + "]"


class PackedInt32Array(_PackedNumeric[int]):
    """Godot's ``PackedInt32Array``: int32 elements."""

    __slots__ = ()
    _code = _CODE_I32
    _itemsize = 4
    _dtype = "<i4"
    _is_float = False


class PackedInt64Array(_PackedNumeric[int]):
    """Godot's ``PackedInt64Array``: int64 elements."""

    __slots__ = ()
    _code = _CODE_I64
    _itemsize = 8
    _dtype = "<i8"
    _is_float = False


class PackedFloat32Array(_PackedNumeric[float]):
    """Godot's ``PackedFloat32Array``: binary32 elements (values are rounded on input)."""

    __slots__ = ()
    _code = "f"
    _itemsize = 4
    _dtype = "<f4"
    _is_float = True

    def _format_element(self, element: Any) -> str:
        return format_real(element)

    def __str__(self) -> str:
        return "[" + ", ".join(map(format_real, self)) + "]"


class PackedFloat64Array(_PackedNumeric[float]):
    """Godot's ``PackedFloat64Array``: binary64 elements."""

    __slots__ = ()
    _code = "d"
    _itemsize = 8
    _dtype = "<f8"
    _is_float = True


class _PackedVectors(_PackedNumeric[_E]):
    """Packed arrays of float vectors: ``_width`` binary32 components an element."""

    __slots__ = ()
    _code = "f"
    _itemsize = 4
    _dtype = "<f4"
    _is_float = True


class PackedVector2Array(_PackedVectors[Vector2]):
    """Godot's ``PackedVector2Array``: Vector2 elements (binary32 components)."""

    __slots__ = ()
    _width = 2
    _element_type = Vector2


class PackedVector3Array(_PackedVectors[Vector3]):
    """Godot's ``PackedVector3Array``: Vector3 elements (binary32 components)."""

    __slots__ = ()
    _width = 3
    _element_type = Vector3


class PackedColorArray(_PackedVectors[Color]):
    """Godot's ``PackedColorArray``: Color elements (always binary32)."""

    __slots__ = ()
    _width = 4
    _element_type = Color


class PackedVector4Array(_PackedVectors[Vector4]):
    """Godot's ``PackedVector4Array`` (Godot 4.3+): Vector4 elements (binary32)."""

    __slots__ = ()
    _width = 4
    _element_type = Vector4


class PackedStringArray(tuple[str, ...]):
    """Godot's ``PackedStringArray``: an immutable tuple of ``str``.

    Equal only to another PackedStringArray with the same strings.
    """

    __slots__ = ()

    def __new__(cls, values: Iterable[str] = ()) -> Self:
        items = tuple(values)
        for item in items:
            if not isinstance(item, str):
                raise TypeError(
                    f"PackedStringArray elements must be str, got {type(item).__name__}"
                )
        return _new(cls, (str(item) if type(item) is not str else item for item in items))

    def __eq__(self, other: object) -> bool:
        return type(other) is PackedStringArray and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(("PackedStringArray", tuple.__hash__(self)))

    def __add__(self, other: object) -> Any:
        return NotImplemented

    def __mul__(self, other: object) -> Any:
        return NotImplemented

    def __rmul__(self, other: object) -> Any:
        return NotImplemented

    def __getnewargs__(self) -> tuple[tuple[str, ...]]:
        return (tuple(self),)

    def size(self) -> int:
        """Number of elements, like Godot's ``size()``."""
        return len(self)

    def is_empty(self) -> bool:
        """True if there are no elements."""
        return not self

    def __repr__(self) -> str:
        return f"PackedStringArray({list(self)!r})"

    def __str__(self) -> str:
        return "[" + ", ".join(f'"{s}"' for s in self) + "]"


# Ensure struct agrees with the array codes used above.
assert struct.calcsize(_CODE_I32) == 4
assert struct.calcsize(_CODE_I64) == 8
