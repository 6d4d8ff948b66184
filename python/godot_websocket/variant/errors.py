"""The exception raised by the strict Variant encoder and decoder."""

from __future__ import annotations

from ..error import Error, error_string

__all__ = ["VariantError"]


class VariantError(ValueError):
    """A Variant could not be encoded or decoded.

    ``error`` holds the code Godot's ``encode_variant()`` / ``decode_variant()`` return
    in the same situation (e.g. ``Error.ERR_INVALID_DATA`` for malformed bytes,
    ``Error.ERR_UNAUTHORIZED`` for a full object while objects are not allowed,
    ``Error.ERR_OUT_OF_MEMORY`` for values nested deeper than 1024 levels).
    """

    error: Error

    def __init__(self, error: Error, message: str) -> None:
        super().__init__(f"{message} ({error.name}: {error_string(error)})")
        self.error = error
        self.detail = message

    def __reduce__(self) -> tuple[type[VariantError], tuple[Error, str]]:
        return (VariantError, (self.error, self.detail))
