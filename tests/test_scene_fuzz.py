"""Bounded run of the SceneMultiplayer fuzz target (tests/fuzz/fuzz_scene.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from godot_websocket.scene import SceneMultiplayer

FUZZ = Path(__file__).resolve().parent / "fuzz" / "fuzz_scene.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_scene", FUZZ)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_scene", module)
    spec.loader.exec_module(module)
    return module


def test_bounded_fuzz_run() -> None:
    fuzz = load()
    ran = fuzz.run_bounded(iterations=4000, seconds=4.0, seed=20240601)
    assert ran >= 200  # a slow machine still gets a meaningful run


def test_the_target_reports_escaped_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz = load()

    def broken(self: SceneMultiplayer, sender: int, data: bytes) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(SceneMultiplayer, "_process_rpc", broken)
    with fuzz.FuzzTarget() as target, pytest.raises(AssertionError, match="KeyError"):
        target.one(fuzz.SEEDS[2])
