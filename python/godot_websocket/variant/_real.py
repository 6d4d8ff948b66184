"""Single-precision (``real_t``) helpers shared by the value classes and the codec.

Godot's official builds store the components of Vector2, Rect2, Vector3, Transform2D,
Vector4, Plane, Quaternion, AABB, Basis, Transform3D, Projection and Color as 32-bit
floats. The value classes of this package do the same: every component is rounded to
the nearest binary32 value when an object is constructed, so a value compares equal to
itself after a trip through the wire format, exactly as in Godot.
"""

from __future__ import annotations

import array
import math
import struct
import sys
from collections.abc import Iterable

__all__ = [
    "LITTLE_ENDIAN_HOST",
    "f32",
    "format_real",
    "round_f32",
    "to_f32_bytes",
]

LITTLE_ENDIAN_HOST = sys.byteorder == "little"

_F32 = struct.Struct("<f")
_ROUNDERS: dict[int, struct.Struct] = {n: struct.Struct(f"<{n}f") for n in range(1, 17)}


def f32(value: float) -> float:
    """Round ``value`` to the nearest binary32 number (overflow gives +-inf, like a C cast)."""
    try:
        result: float = _F32.unpack(_F32.pack(value))[0]
    except OverflowError:
        # struct refuses values that round to infinity; a C float cast gives +-inf.
        return math.copysign(math.inf, value)
    return result


def round_f32(values: tuple[float, ...]) -> tuple[float, ...]:
    """Round every number of ``values`` to binary32 (see :func:`f32`).

    Raises ``TypeError`` when an element is not a real number.
    """
    rounder = _ROUNDERS[len(values)]
    try:
        result: tuple[float, ...] = rounder.unpack(rounder.pack(*values))
    except OverflowError:
        return tuple(f32(v) for v in values)
    except struct.error:
        for v in values:
            if isinstance(v, (str, bytes)) or not hasattr(v, "__float__"):
                raise TypeError(f"expected a real number, got {type(v).__name__}: {v!r}") from None
        raise
    return result


def to_f32_bytes(values: Iterable[float]) -> bytes:
    """Little-endian binary32 bytes of ``values`` (C loop; overflow gives +-inf)."""
    arr = array.array("f", values)
    if not LITTLE_ENDIAN_HOST:
        arr.byteswap()
    return arr.tobytes()


def format_real(value: float) -> str:
    """Shortest text that reads back as the same binary32 value, printed the way Godot does.

    Integral values keep a ``.0`` (``1.0``), non-finite values print as ``inf``, ``-inf``
    and ``nan``.
    """
    if math.isnan(value):
        return "nan"
    if value in (math.inf, -math.inf):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    for precision in range(1, 10):
        candidate = float(f"{value:.{precision}g}")
        if f32(candidate) == value:
            text = repr(candidate)
            break
    return _godot_style(text)


def format_float(value: float) -> str:
    """Shortest text of a binary64 number, printed the way Godot does (``1.0``, ``inf``)."""
    if math.isnan(value):
        return "nan"
    if value in (math.inf, -math.inf):
        return "inf" if value > 0 else "-inf"
    return _godot_style(repr(value))


def _godot_style(text: str) -> str:
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = exponent[0] if exponent[0] in "+-" else "+"
        digits = exponent.lstrip("+-").lstrip("0") or "0"
        return f"{mantissa}e{sign}{digits.zfill(2)}"
    if "." not in text:
        text += ".0"
    return text
