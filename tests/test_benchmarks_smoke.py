"""The benchmarks run (tiny sizes) and write their JSON; no timing is asserted.

Benchmarks are not timed tests: the real numbers live in docs/performance.md.
This only checks that the harness, the servers and the load generator work, for
our package (with its default threaded context and, as ``ours-nt``, a no-thread
one) plus one other peer (``websockets``, which the test extras install).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

pytest.importorskip("websockets")
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("GWS_SANITIZER")),
    reason="benchmarks are meaningless (and very slow) on sanitizer builds",
)


def test_run_quick(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    md = tmp_path / "perf.md"
    p = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--reps", "1",
         "--peers", "ours,ours-nt,websockets", "--out", str(out), "--md", str(md)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["meta"]["quick"] is True
    workloads = {r["workload"] for r in result["records"]}
    assert workloads == {"W1", "W2", "W3", "W4", "W5", "W6"}
    ours = [r for r in result["records"] if r["peer"] in ("ours", "ours-nt")]
    failed = [r for r in ours if not r["ok"]]
    assert not failed, failed
    # ours-nt (no-thread context) runs W1, W2, W4 and W6, with its own client too
    nt = {(r["workload"], r["variant"]) for r in ours if r["peer"] == "ours-nt"}
    assert {("W1", "loadgen"), ("W1", "own-client")} <= nt, nt
    assert {w for w, _ in nt} == {"W1", "W2", "W4", "W6"}, nt
    # W2 runs each library's own client too (for ours and websockets; never for lwsc)
    w2 = {(r["peer"], r["variant"]): r for r in result["records"] if r["workload"] == "W2"}
    for peer in ("ours", "websockets"):
        for c in result["sizes"]["W2"]["own_conns"]:
            r = w2[(peer, f"own-client C={c}")]
            assert r["ok"], r
            assert r["metrics"]["messages"] > 0 and r["metrics"]["msgs_per_s"] > 0
            assert r["metrics"]["client_cpu_s"] >= 0
    text = md.read_text()
    assert "<!-- results:begin -->" in text and "### W6" in text
    assert "msgs/s (own client)" in text
    assert "no-thread context" in text


def test_run_quick_batch_peers(tmp_path: Path) -> None:
    """The batch peers (get_packets()/put_packets()) run W2 only, both clients."""
    out = tmp_path / "run.json"
    p = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--reps", "1", "--workloads",
         "W1,W2", "--peers", "ours-batch,ours-nt-batch", "--w2-conns", "1,10",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    records = json.loads(out.read_text())["records"]
    assert {r["workload"] for r in records} == {"W2"}
    got = {(r["peer"], r["variant"]) for r in records if r["ok"]}
    assert got == {(peer, v) for peer in ("ours-batch", "ours-nt-batch")
                   for v in ("C=1", "C=10", "own-client C=1", "own-client C=10")}, records
    for r in records:
        assert r["metrics"]["messages"] > 0 and r["metrics"]["msgs_per_s"] > 0


def test_micro_quick(tmp_path: Path) -> None:
    out = tmp_path / "micro.json"
    p = subprocess.run(
        [sys.executable, str(BENCH / "micro.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    summary = json.loads(out.read_text())["summary"]
    for key in ("idle_poll_server_1", "get_packet", "put_packet_one_peer",
                "put_packet_broadcast_100", "get_packets", "get_packets_with_peers",
                "put_packets_one_peer", "put_packets_broadcast_100"):
        assert summary[key]["median"] > 0
