"""Runs the Variant fuzz target (tests/fuzz/fuzz_variant.py) for a few seconds."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

FUZZER = Path(__file__).resolve().parent / "fuzz" / "fuzz_variant.py"


def _run(tmp_path: Path, seconds: int, extra_env: dict[str, str], *args: str) -> str:
    env = {**os.environ, **extra_env}
    proc = subprocess.run(
        [sys.executable, str(FUZZER), f"-max_total_time={seconds}", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


def test_fuzz_target_runs(tmp_path: Path) -> None:
    if importlib.util.find_spec("atheris") is not None:
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        output = _run(tmp_path, 5, {}, f"-artifact_prefix={tmp_path}/", str(corpus))
        assert "Done" in output
    else:
        output = _run(tmp_path, 5, {})
        assert "no failure" in output


def test_fuzz_fallback_runs(tmp_path: Path) -> None:
    pytest.importorskip("hypothesis")
    output = _run(tmp_path, 2, {"FUZZ_VARIANT_NO_ATHERIS": "1"})
    assert "no failure" in output


def test_fuzz_target_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    # The target itself: a valid Variant passes, garbage passes (VariantError), and the
    # checks are real (a wrong consumed length is caught).
    monkeypatch.setenv("FUZZ_VARIANT_NO_ATHERIS", "1")
    spec = importlib.util.spec_from_file_location("fuzz_variant", FUZZER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.TestOneInput(b"\x00" + bytes.fromhex("0200000005000000"))
    module.TestOneInput(b"\x01\xff\xff")
    module.TestOneInput(b"")
    assert len(module.seed_inputs()) > 2
    monkeypatch.setattr(module, "decode_variant", lambda body, allow_objects: (None, 5))
    with pytest.raises(AssertionError, match="consumed"):
        module.TestOneInput(b"\x00\x00\x00\x00\x00")
