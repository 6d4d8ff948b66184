"""The Variant benchmark runs (tiny sizes; this checks the script, not the speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_variant.py"


def test_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "variant.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--size",
            "16",
            "--repeat",
            "2",
            "--min-time",
            "0.001",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "game_state_dict" in proc.stdout and "MB/s" in proc.stdout
    result = json.loads(out.read_text(encoding="utf-8"))
    rows = result["results"]
    assert {(r["case"], r["operation"]) for r in rows} == {
        (case, op)
        for case in ("game_state_dict", "packed_float32_array[16]", "packed_vector2_array[16]")
        for op in ("encode", "decode")
    }
    for row in rows:
        assert row["us_per_op"] > 0 and row["mb_per_s"] > 0 and row["bytes"] % 4 == 0
    by_case = {r["case"]: r["bytes"] for r in rows}
    assert by_case["packed_float32_array[16]"] == 8 + 16 * 4
    assert by_case["packed_vector2_array[16]"] == 8 + 16 * 8
