"""Helpers shared by the Variant tests (plus tests of the helpers themselves).

``assert_same(actual, expected)`` is a strict comparison: same Python types at every
level, floats compared bit for bit (so ``-0.0`` differs from ``0.0`` and NaN equals the
same NaN), dictionaries compared in insertion order (the wire order), typed containers
compared with their element types, objects with class, id and ordered properties.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest

from godot_websocket.variant import (
    GodotObject,
    PackedStringArray,
    TypedArray,
    TypedDictionary,
    Vector2,
)
from godot_websocket.variant.packed import _PackedNumeric

# Godot's vectors, copied from the project's spec (shared/spec/vectors, which lives
# next to the checkout) so that the suite runs from a plain clone;
# test_vector_copies_match_the_spec checks the copies against the spec when it is there.
VECTOR_DIR = Path(__file__).resolve().parent / "data" / "vectors"
SPEC_VECTOR_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec" / "vectors"
VECTOR_FILES = ("variant_vectors.json", "variant_vectors_engine.json")


def load_vectors() -> list[dict[str, Any]]:
    """All test vectors of both JSON files (each tagged with its file name)."""
    vectors = []
    for name in VECTOR_FILES:
        path = VECTOR_DIR / name
        for entry in json.loads(path.read_text(encoding="utf-8")):
            vectors.append({**entry, "file": name})
    return vectors


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def assert_same(actual: Any, expected: Any, path: str = "value") -> None:
    """Assert ``actual`` and ``expected`` are identical Variants (types, bits, order)."""
    assert type(actual) is type(expected), (
        f"{path}: type {type(actual).__name__} != {type(expected).__name__} "
        f"({actual!r} vs {expected!r})"
    )
    if isinstance(expected, float):
        assert _bits(actual) == _bits(expected), f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, _PackedNumeric):
        assert actual.to_byte_array() == expected.to_byte_array(), (
            f"{path}: {actual!r} != {expected!r}"
        )
    elif isinstance(expected, GodotObject):
        assert actual.class_name == expected.class_name, f"{path}: class name"
        assert actual.instance_id == expected.instance_id, f"{path}: instance id"
        assert list(actual.properties) == list(expected.properties), f"{path}: property names"
        for key, value in expected.properties.items():
            assert_same(actual.properties[key], value, f"{path}.{key}")
    elif isinstance(expected, dict):
        if isinstance(expected, TypedDictionary):
            assert actual.key_type == expected.key_type, f"{path}: key type"
            assert actual.value_type == expected.value_type, f"{path}: value type"
        assert len(actual) == len(expected), f"{path}: {len(actual)} != {len(expected)} items"
        for i, ((ak, av), (ek, ev)) in enumerate(zip(actual.items(), expected.items())):
            assert_same(ak, ek, f"{path}.key[{i}]")
            assert_same(av, ev, f"{path}[{ek!r}]")
    elif isinstance(expected, (list, tuple)):
        if isinstance(expected, TypedArray):
            assert actual.element_type == expected.element_type, f"{path}: element type"
        assert len(actual) == len(expected), f"{path}: {len(actual)} != {len(expected)} items"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


# ---------------------------------------------------------------- helper self-tests


def test_vectors_are_found() -> None:
    vectors = load_vectors()
    assert len(vectors) == 52
    assert len({v["name"] for v in vectors}) == len(vectors)


def test_assert_same_is_strict() -> None:
    assert_same([1, 2.0, "a"], [1, 2.0, "a"])
    assert_same(math.nan, math.nan)
    for a, b in [
        (0.0, -0.0),
        (1, 1.0),
        (True, 1),
        ([1], (1,)),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        (Vector2(1, 2), Vector2(1, 3)),
        (PackedStringArray(["a"]), PackedStringArray(["b"])),
        (GodotObject("A", {"x": 1}), GodotObject("A", {"x": 1.0})),
        (GodotObject("A", {"x": 1, "y": 2}), GodotObject("A", {"y": 2, "x": 1})),
    ]:
        with pytest.raises(AssertionError):
            assert_same(a, b)
