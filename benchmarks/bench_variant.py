"""Benchmark of the Godot Variant codec (not a test).

Measures ``encode_variant`` / ``decode_variant`` on

* a typical game-state message: a Dictionary of 20 fields mixing Vector2/Vector3, ints,
  floats, bools and short strings;
* a PackedFloat32Array and a PackedVector2Array of ``--size`` elements (default 10,000).

For each case the time of one operation is the median over ``--repeat`` repetitions
(each long enough to be timed reliably); the table shows microseconds per operation and
MB/s of encoded data (10^6 bytes per second). Results go to ``--out`` as JSON.

    PYTHONPATH=python python benchmarks/bench_variant.py [--out benchmarks/results/variant.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "python"))  # PYTHONPATH, if set, wins

from godot_websocket.variant import (  # noqa: E402
    PackedFloat32Array,
    PackedVector2Array,
    Vector2,
    Vector3,
    decode_variant,
    encode_variant,
)


def game_state_message() -> dict[str, Any]:
    """A Dictionary of 20 fields, as a game server might send ~30 times a second."""
    return {
        "tick": 123456,
        "player_id": 7,
        "name": "Zoë",
        "team": "red",
        "position": Vector3(10.5, 0.0, -3.25),
        "velocity": Vector3(0.1, -9.8, 2.0),
        "aim": Vector2(0.5, -0.25),
        "cursor": Vector2(640.0, 360.0),
        "health": 87.5,
        "armor": 0.3,
        "ammo": 30,
        "score": 1520,
        "kills": 12,
        "deaths": 3,
        "alive": True,
        "crouching": False,
        "weapon": "rifle",
        "state": "run",
        "latency_ms": 42.125,
        "seq": 99887766,
    }


def cases(size: int) -> list[tuple[str, Any]]:
    """(name, value) of every benchmarked value."""
    floats = [((i * 7919) % 10007) / 97.0 for i in range(size)]
    return [
        ("game_state_dict", game_state_message()),
        (f"packed_float32_array[{size}]", PackedFloat32Array(floats)),
        (f"packed_vector2_array[{size}]", PackedVector2Array(zip(floats, reversed(floats)))),
    ]


def measure(func: Callable[[], object], repeat: int, min_time: float) -> tuple[float, int]:
    """Median seconds per call over ``repeat`` runs of ``number`` calls each."""
    number = 1
    while True:  # Calibrate: one repetition must last at least ``min_time``.
        start = time.perf_counter()
        for _ in range(number):
            func()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            break
        number = max(number * 2, int(number * min_time / max(elapsed, 1e-9) * 1.2))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples), number


def run(size: int, repeat: int, min_time: float) -> list[dict[str, Any]]:
    """Benchmark every case; return one result row per (case, operation)."""
    rows = []
    for name, value in cases(size):
        data = encode_variant(value)
        assert decode_variant(data) == (value, len(data))
        for operation, func in (
            ("encode", lambda v=value: encode_variant(v)),
            ("decode", lambda d=data: decode_variant(d)),
        ):
            seconds, number = measure(func, repeat, min_time)
            rows.append(
                {
                    "case": name,
                    "operation": operation,
                    "bytes": len(data),
                    "us_per_op": seconds * 1e6,
                    "mb_per_s": len(data) / seconds / 1e6,
                    "repeat": repeat,
                    "number": number,
                }
            )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """Print the results as a text table."""
    header = f"{'case':<32} {'op':<7} {'bytes':>8} {'us/op':>10} {'MB/s':>9}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['case']:<32} {r['operation']:<7} {r['bytes']:>8} "
            f"{r['us_per_op']:>10.2f} {r['mb_per_s']:>9.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "variant.json"
    )
    parser.add_argument("--size", type=int, default=10_000, help="packed array elements")
    parser.add_argument("--repeat", type=int, default=7, help="repetitions (median)")
    parser.add_argument(
        "--min-time", type=float, default=0.2, help="seconds per repetition (at least)"
    )
    args = parser.parse_args(argv)
    rows = run(args.size, args.repeat, args.min_time)
    print_table(rows)
    result = {
        "benchmark": "variant",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "size": args.size,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
