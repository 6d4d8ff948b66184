"""What the fuzz campaigns of tests/fuzz/ share: their report, the summary a command-line run
prints, and loading a campaign module into a test (they are scripts, not a package)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

FUZZ_DIR = Path(__file__).resolve().parent / "fuzz"


@dataclass
class Report:
    """A campaign: cases run, failures (index, text) and outcome counts."""

    seed: int
    cases: int = 0
    seconds: float = 0.0
    failures: list[tuple[int, str]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every campaign takes (libFuzzer's spellings too): --seconds, --seed,
    --cases, --case; ``doc``'s first line describes the command."""
    p = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    p.add_argument("--seconds", "-max_total_time", type=float, default=30.0)
    p.add_argument("--seed", "-seed", type=int, default=0)
    p.add_argument("--cases", "-runs", type=int, default=None, help="at most this many")
    p.add_argument("--case", type=int, default=None, help="run only this case, in detail")
    return p


def finish(name: str, report: Report) -> int:
    """Print a command-line run's failures and summary; the exit status (1: failures)."""
    for _, text in report.failures:
        print("FAIL " + text)
    rate = report.cases / report.seconds if report.seconds else 0.0
    outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(report.outcomes.items()))
    print(f"{name}: {report.cases} cases in {report.seconds:.1f} s ({rate:.0f}/s), "
          f"seed {report.seed}, {len(report.failures)} failed; outcomes: {outcomes}")
    if not report.failures:
        print(f"{name}: no failure")
    return 1 if report.failures else 0


def load(name: str) -> ModuleType:
    """tests/fuzz/<name>.py as module ``name`` (registered first: its dataclasses look
    their module up while the file runs)."""
    spec = importlib.util.spec_from_file_location(name, FUZZ_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module
