"""The global ``Error`` enum and ``error_string()`` (spec §6)."""

from __future__ import annotations

import enum

import pytest

import godot_websocket
from godot_websocket import Error, error_string

# (value, name, error_string text) - spec §6, in order.
ERRORS = [
    (0, "OK", "OK"),
    (1, "FAILED", "Failed"),
    (2, "ERR_UNAVAILABLE", "Unavailable"),
    (3, "ERR_UNCONFIGURED", "Unconfigured"),
    (4, "ERR_UNAUTHORIZED", "Unauthorized"),
    (5, "ERR_PARAMETER_RANGE_ERROR", "Parameter out of range"),
    (6, "ERR_OUT_OF_MEMORY", "Out of memory"),
    (7, "ERR_FILE_NOT_FOUND", "File not found"),
    (8, "ERR_FILE_BAD_DRIVE", "File: Bad drive"),
    (9, "ERR_FILE_BAD_PATH", "File: Bad path"),
    (10, "ERR_FILE_NO_PERMISSION", "File: Permission denied"),
    (11, "ERR_FILE_ALREADY_IN_USE", "File already in use"),
    (12, "ERR_FILE_CANT_OPEN", "Can't open file"),
    (13, "ERR_FILE_CANT_WRITE", "Can't write file"),
    (14, "ERR_FILE_CANT_READ", "Can't read file"),
    (15, "ERR_FILE_UNRECOGNIZED", "File unrecognized"),
    (16, "ERR_FILE_CORRUPT", "File corrupt"),
    (17, "ERR_FILE_MISSING_DEPENDENCIES", "Missing dependencies for file"),
    (18, "ERR_FILE_EOF", "End of file"),
    (19, "ERR_CANT_OPEN", "Can't open"),
    (20, "ERR_CANT_CREATE", "Can't create"),
    (21, "ERR_QUERY_FAILED", "Query failed"),
    (22, "ERR_ALREADY_IN_USE", "Already in use"),
    (23, "ERR_LOCKED", "Locked"),
    (24, "ERR_TIMEOUT", "Timeout"),
    (25, "ERR_CANT_CONNECT", "Can't connect"),
    (26, "ERR_CANT_RESOLVE", "Can't resolve"),
    (27, "ERR_CONNECTION_ERROR", "Connection error"),
    (28, "ERR_CANT_ACQUIRE_RESOURCE", "Can't acquire resource"),
    (29, "ERR_CANT_FORK", "Can't fork"),
    (30, "ERR_INVALID_DATA", "Invalid data"),
    (31, "ERR_INVALID_PARAMETER", "Invalid parameter"),
    (32, "ERR_ALREADY_EXISTS", "Already exists"),
    (33, "ERR_DOES_NOT_EXIST", "Does not exist"),
    (34, "ERR_DATABASE_CANT_READ", "Can't read database"),
    (35, "ERR_DATABASE_CANT_WRITE", "Can't write database"),
    (36, "ERR_COMPILATION_FAILED", "Compilation failed"),
    (37, "ERR_METHOD_NOT_FOUND", "Method not found"),
    (38, "ERR_LINK_FAILED", "Link failed"),
    (39, "ERR_SCRIPT_FAILED", "Script failed"),
    (40, "ERR_CYCLIC_LINK", "Cyclic link detected"),
    (41, "ERR_INVALID_DECLARATION", "Invalid declaration"),
    (42, "ERR_DUPLICATE_SYMBOL", "Duplicate symbol"),
    (43, "ERR_PARSE_ERROR", "Parse error"),
    (44, "ERR_BUSY", "Busy"),
    (45, "ERR_SKIP", "Skip"),
    (46, "ERR_HELP", "Help"),
    (47, "ERR_BUG", "Bug"),
    (48, "ERR_PRINTER_ON_FIRE", "Printer on fire"),
]


def test_error_is_an_int_enum_with_exactly_49_members() -> None:
    assert issubclass(Error, enum.IntEnum)
    assert len(Error) == 49
    assert [(e.value, e.name) for e in Error] == [(v, n) for v, n, _ in ERRORS]
    assert not hasattr(Error, "ERR_MAX")


@pytest.mark.parametrize(("value", "name", "text"), ERRORS)
def test_each_error(value: int, name: str, text: str) -> None:
    member = Error[name]
    assert member == value
    assert int(member) == value
    assert Error(value) is member
    assert error_string(member) == text
    assert error_string(value) == text


@pytest.mark.parametrize("value", [-1, 49, 1000])
def test_error_string_out_of_range(value: int) -> None:
    assert error_string(value) == "(invalid error code)"


@pytest.mark.parametrize("value", ["OK", 1.0, None, True])
def test_error_string_wrong_type(value: object) -> None:
    with pytest.raises(TypeError):
        error_string(value)  # type: ignore[arg-type]


def test_exported_from_package() -> None:
    assert godot_websocket.Error is Error
    assert godot_websocket.error_string is error_string
    assert "Error" in godot_websocket.__all__
    assert "error_string" in godot_websocket.__all__
