"""Fuzz target for the Godot Variant decoder (``godot_websocket.variant``).

Every input must decode to a value or raise ``VariantError`` -- never another exception,
never a hang -- and whatever decodes must encode again. The first input byte chooses
``allow_objects``; the rest is the Variant.

Run (from the repository root):

    PYTHONPATH=python python tests/fuzz/fuzz_variant.py -max_total_time=60

With atheris installed (``pip install atheris``) this is a coverage-guided libFuzzer run
(other libFuzzer flags work too; give a corpus directory to keep the corpus, else a
temporary one is seeded); without atheris, or with FUZZ_VARIANT_NO_ATHERIS=1, the same
command runs a time-bounded Hypothesis search instead. Seeds come from Godot's byte
vectors (tests/data/vectors, copies of shared/spec/vectors).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parents[1] / "python"))  # PYTHONPATH, if set, wins

# Decoding garbage logs (e.g. dropped typed-container elements); keep the output readable.
logging.getLogger("godot_websocket").setLevel(logging.CRITICAL)

atheris = None
if not os.environ.get("FUZZ_VARIANT_NO_ATHERIS"):
    try:
        import atheris
    except ImportError:  # pragma: no cover - depends on the environment
        atheris = None

if atheris is not None:
    with atheris.instrument_imports(include=["godot_websocket.variant"]):
        from godot_websocket.variant import VariantError, decode_variant, encode_variant
else:
    from godot_websocket.variant import VariantError, decode_variant, encode_variant


def TestOneInput(data: bytes) -> None:
    """Decode ``data[1:]``; fail on anything but a value or a VariantError."""
    if not data:
        return
    allow_objects = bool(data[0] & 1)
    body = data[1:]
    try:
        value, consumed = decode_variant(body, allow_objects=allow_objects)
    except VariantError:
        return
    if not (4 <= consumed <= len(body) + 3 and consumed % 4 == 0):
        raise AssertionError(f"bad consumed length {consumed} for {len(body)} bytes")
    encode_variant(value, full_objects=allow_objects)


def seed_inputs() -> list[bytes]:
    """Godot's own byte vectors (the copies in tests/data, else shared/spec) plus a few
    hand-made ones."""
    seeds = [b"\x00" + bytes.fromhex(h) for h in ("00000000", "1c00000001000000020000002a000000")]
    for vectors in (HERE.parent / "data" / "vectors",
                    HERE.parents[1] / "shared" / "spec" / "vectors",
                    HERE.parents[2] / "shared" / "spec" / "vectors"):
        if vectors.is_dir():
            for path in sorted(vectors.glob("*.json")):
                for entry in json.loads(path.read_text(encoding="utf-8")):
                    seeds.append(b"\x01" + bytes.fromhex(entry["hex"]))
            break
    return seeds


def _max_total_time(argv: list[str], default: float) -> float:
    for arg in argv:
        if arg.startswith("-max_total_time="):
            return float(arg.split("=", 1)[1])
    return default


def run_hypothesis(seconds: float) -> None:
    """Fallback without atheris: Hypothesis-generated inputs until ``seconds`` have passed."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = seed_inputs()

    def mutate(seed: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
        out = bytearray(seed)
        for pos, byte in edits:
            if out:
                out[pos % len(out)] = byte
        return bytes(out[: cut % (len(out) + 1)] if cut else out)

    inputs = st.binary(max_size=512) | st.builds(
        mutate,
        st.sampled_from(seeds),
        st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), max_size=6),
        st.integers(0, 4096),
    )

    @settings(
        max_examples=500,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def fuzz(data: bytes) -> None:
        TestOneInput(data)

    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        fuzz()
        rounds += 1
    print(f"fuzz_variant: {rounds * 500} Hypothesis inputs in {seconds:.0f} s, no failure")


def main() -> None:
    """Run atheris (libFuzzer flags accepted) or the Hypothesis fallback."""
    argv = list(sys.argv)
    if atheris is None:
        run_hypothesis(_max_total_time(argv, 60.0))
        return
    corpus_given = any(not a.startswith("-") for a in argv[1:])
    if not corpus_given:
        corpus = tempfile.mkdtemp(prefix="fuzz_variant_corpus_")
        for i, seed in enumerate(seed_inputs()):
            Path(corpus, f"seed{i:03d}").write_bytes(seed)
        argv.append(corpus)
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
