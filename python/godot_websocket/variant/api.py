"""Godot-semantics wrappers: ``var_to_bytes()`` / ``bytes_to_var()`` and their object forms.

Like GDScript's functions they never raise for bad values or data: on failure they log
one line on the ``godot_websocket.variant`` logger and return ``b""`` / ``None``.
"""

from __future__ import annotations

import logging
from typing import Any

from .decode import decode_variant
from .encode import encode_variant
from .errors import VariantError

__all__ = [
    "bytes_to_var",
    "bytes_to_var_with_objects",
    "var_to_bytes",
    "var_to_bytes_with_objects",
]

_log = logging.getLogger("godot_websocket.variant")


def _encode(value: Any, full_objects: bool, name: str) -> bytes:
    try:
        return encode_variant(value, full_objects)
    except (VariantError, TypeError) as exc:
        _log.error("%s: %s", name, exc)
        return b""


def _decode(data: bytes | bytearray | memoryview, allow_objects: bool, name: str) -> Any:
    try:
        return decode_variant(data, allow_objects)[0]
    except VariantError as exc:
        _log.error("%s: %s", name, exc)
        return None


def var_to_bytes(value: Any) -> bytes:
    """Encode ``value`` like GDScript's ``var_to_bytes()`` (objects as instance ids).

    Returns ``b""`` and logs an error if the value cannot be encoded.
    """
    return _encode(value, False, "var_to_bytes")


def var_to_bytes_with_objects(value: Any) -> bytes:
    """Encode ``value`` like ``var_to_bytes_with_objects()`` (full objects).

    Returns ``b""`` and logs an error if the value cannot be encoded.
    """
    return _encode(value, True, "var_to_bytes_with_objects")


def bytes_to_var(data: bytes | bytearray | memoryview) -> Any:
    """Decode like GDScript's ``bytes_to_var()``: full objects are refused.

    Returns ``None`` and logs an error for malformed data or a full object. Raises
    ``TypeError`` only if ``data`` is not bytes-like.
    """
    return _decode(data, False, "bytes_to_var")


def bytes_to_var_with_objects(data: bytes | bytearray | memoryview) -> Any:
    """Decode like ``bytes_to_var_with_objects()``: full objects are allowed.

    Returns ``None`` and logs an error for malformed data.
    """
    return _decode(data, True, "bytes_to_var_with_objects")
