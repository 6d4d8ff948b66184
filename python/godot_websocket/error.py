"""Godot's global ``Error`` enum and ``error_string()``.

The numbers are Godot 4's ``@GlobalScope.Error`` values (0-48); every method of this
package that Godot declares as returning ``Error`` returns a member of this enum.
"""

from __future__ import annotations

import enum

__all__ = ["Error", "error_string"]


class Error(enum.IntEnum):
    """Godot's ``Error`` enum, with Godot's names and numbers."""

    OK = 0
    FAILED = 1
    ERR_UNAVAILABLE = 2
    ERR_UNCONFIGURED = 3
    ERR_UNAUTHORIZED = 4
    ERR_PARAMETER_RANGE_ERROR = 5
    ERR_OUT_OF_MEMORY = 6
    ERR_FILE_NOT_FOUND = 7
    ERR_FILE_BAD_DRIVE = 8
    ERR_FILE_BAD_PATH = 9
    ERR_FILE_NO_PERMISSION = 10
    ERR_FILE_ALREADY_IN_USE = 11
    ERR_FILE_CANT_OPEN = 12
    ERR_FILE_CANT_WRITE = 13
    ERR_FILE_CANT_READ = 14
    ERR_FILE_UNRECOGNIZED = 15
    ERR_FILE_CORRUPT = 16
    ERR_FILE_MISSING_DEPENDENCIES = 17
    ERR_FILE_EOF = 18
    ERR_CANT_OPEN = 19
    ERR_CANT_CREATE = 20
    ERR_QUERY_FAILED = 21
    ERR_ALREADY_IN_USE = 22
    ERR_LOCKED = 23
    ERR_TIMEOUT = 24
    ERR_CANT_CONNECT = 25
    ERR_CANT_RESOLVE = 26
    ERR_CONNECTION_ERROR = 27
    ERR_CANT_ACQUIRE_RESOURCE = 28
    ERR_CANT_FORK = 29
    ERR_INVALID_DATA = 30
    ERR_INVALID_PARAMETER = 31
    ERR_ALREADY_EXISTS = 32
    ERR_DOES_NOT_EXIST = 33
    ERR_DATABASE_CANT_READ = 34
    ERR_DATABASE_CANT_WRITE = 35
    ERR_COMPILATION_FAILED = 36
    ERR_METHOD_NOT_FOUND = 37
    ERR_LINK_FAILED = 38
    ERR_SCRIPT_FAILED = 39
    ERR_CYCLIC_LINK = 40
    ERR_INVALID_DECLARATION = 41
    ERR_DUPLICATE_SYMBOL = 42
    ERR_PARSE_ERROR = 43
    ERR_BUSY = 44
    ERR_SKIP = 45
    ERR_HELP = 46
    ERR_BUG = 47
    ERR_PRINTER_ON_FIRE = 48


# Godot's own human-readable names, indexed by value (core/error/error_list.cpp).
_NAMES = (
    "OK", "Failed", "Unavailable", "Unconfigured", "Unauthorized", "Parameter out of range",
    "Out of memory", "File not found", "File: Bad drive", "File: Bad path",
    "File: Permission denied", "File already in use", "Can't open file", "Can't write file",
    "Can't read file", "File unrecognized", "File corrupt", "Missing dependencies for file",
    "End of file", "Can't open", "Can't create", "Query failed", "Already in use", "Locked",
    "Timeout", "Can't connect", "Can't resolve", "Connection error", "Can't acquire resource",
    "Can't fork", "Invalid data", "Invalid parameter", "Already exists", "Does not exist",
    "Can't read database", "Can't write database", "Compilation failed", "Method not found",
    "Link failed", "Script failed", "Cyclic link detected", "Invalid declaration",
    "Duplicate symbol", "Parse error", "Busy", "Skip", "Help", "Bug", "Printer on fire",
)
assert len(_NAMES) == len(Error)


def error_string(error: int) -> str:
    """Return Godot's human-readable name of an ``Error`` value.

    Like Godot's ``error_string()``, a value outside the enum gives ``"(invalid error code)"``.
    """
    if isinstance(error, bool) or not isinstance(error, int):
        raise TypeError(f"error_string() expects an int, not {type(error).__name__}")
    if 0 <= error < len(_NAMES):
        return _NAMES[error]
    return "(invalid error code)"
