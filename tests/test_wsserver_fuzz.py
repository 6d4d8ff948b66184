"""The server side's protocol code (csrc/wsserver.c, csrc/wsproto.c) against fuzzing clients:
a bounded run of tests/fuzz/fuzz_wsserver.py, and inputs worth keeping, with exact outcomes.

GWS_WSSERVER_FUZZ_SECONDS sets the length of the random run (default 3 s)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fuzz_campaign

FUZZ = Path(__file__).resolve().parent / "fuzz" / "fuzz_wsserver.py"
SECONDS = float(os.environ.get("GWS_WSSERVER_FUZZ_SECONDS", "3"))
SLOW = bool(os.environ.get("GWS_SANITIZER"))

pytestmark = pytest.mark.skipif(os.environ.get("GODOT_WEBSOCKET_SERVER") == "lws",
                                reason="fuzzes the core's own server side (wsserver.c)")


fz = fuzz_campaign.load("fuzz_wsserver")
F = fz.Frame


@pytest.fixture(scope="module")
def servers() -> Iterator[Any]:
    s = fz.Servers()
    yield s
    s.close()


def run(servers: Any, frames: list[Any], head: bytes | None = None, outcome: str = "open",
        small: bool = False, byte_by_byte: bool = False) -> Any:
    """One scenario; asserts that the model agrees with what happened, returns the result."""
    head = fz.request() if head is None else head
    for i, f in enumerate(frames):
        f.mask = bytes([i + 1, 0x5A, 0xA5, 0x3C])
    total = len(head) + sum(len(f.encode()) for f in frames)
    chunks = [1] * total if byte_by_byte else [total]
    scn = fz.Scenario(head, outcome, frames, small, chunks, [])
    res = fz.run_scenario(scn, servers, random.Random(0))
    assert res.failure == "", res.failure
    return res


def server_frames(res: Any) -> list[tuple[int, bytes]]:
    """What the server wrote after the 101 response and the id message."""
    return fz._frames_from_server(res.data.partition(b"\r\n\r\n")[2])[1:]


# ------------------------------------------------------------------ the random run


def test_bounded_campaign() -> None:
    report = fz.run_campaign(seconds=SECONDS, seed=20261128)
    assert not report.failures, "\n\n".join(text for _, text in report.failures)
    assert report.cases >= (10 if SLOW else 40)


def test_command_line() -> None:
    proc = subprocess.run(
        [sys.executable, str(FUZZ), "-max_total_time=1", "--seed", "7"],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "no failure" in proc.stdout


def test_the_checks_are_real(servers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # a model that is wrong about close codes: the run must say so
    monkeypatch.setattr(fz, "close_code_bad", lambda code: False)
    scn = fz.Scenario(fz.request(), "open", [F(8, fz.close_body(1005))], False, [500], [])
    res = fz.run_scenario(scn, servers, random.Random(0))
    assert "close frames" in res.failure and "1002" not in res.failure.split("expected")[1]


# ---------------------------------------------------------- inputs worth keeping


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["whole", "bytewise"])
def test_fragments_with_control_frames_between(servers: Any, byte_by_byte: bool) -> None:
    frames = [F(1, "h\u00e9".encode(), fin=False), F(9, b"ping"), F(0, b"ll", fin=False),
              F(10, b""), F(0, b"o"), F(2, bytes(60000)), F(8, fz.close_body(4000, b"x"))]
    res = run(servers, frames, byte_by_byte=byte_by_byte)
    assert res.messages == ["h\u00e9llo".encode(), bytes(60000)]
    assert server_frames(res) == [(10, b"ping"), (8, fz.close_body(4000, b"x"))]


def test_ping_then_framing_error_in_one_read(servers: Any) -> None:
    # the pong still owed is not sent after the close 1002 (as the lws server)
    res = run(servers, [F(9, b"p"), F(2, b"plain", masked=False)])
    assert server_frames(res) == [(8, fz.close_body(1002, b"unmasked"))]


@pytest.mark.parametrize("bad, reason", [
    (F(2, b"x", rsv=0x40), b"rsv bits"),
    (F(0xB, b"x" * 200), b"bad opc"),  # payload longer than a control frame's: skipped
    (F(9, b"x", fin=False), b"frag ctl"),
    (F(0, b"x"), b"bad cont"),
])
def test_framing_error_then_more_frames(servers: Any, bad: Any, reason: bytes) -> None:
    # the bad frame is skipped whole; data after it is not delivered, a ping is not
    # answered, and the client's close frame ends the connection
    res = run(servers, [F(2, b"before"), bad, F(2, b"after"), F(9, b"p"),
                        F(8, fz.close_body(1000))], byte_by_byte=True)
    assert res.messages == [b"before"]
    assert server_frames(res) == [(8, fz.close_body(1002, reason))]


def test_message_over_the_limit_announced_by_its_header(servers: Any) -> None:
    # 1009 as soon as the header announces too much: the payload never has to arrive
    frames = [F(2, b"ok"), F(2, bytes(301))]
    res = run(servers, frames, small=True)
    assert res.messages == [b"ok"]
    assert server_frames(res) == [(8, fz.close_body(1009))]


def test_large_message_read_straight_into_place(servers: Any) -> None:
    # read_direct(): masked payload over 32 KiB, several messages, odd sizes
    sizes = [32 * 1024 + 1, 65535, 40000, 33333]
    frames = [F(2, bytes([i]) * n) for i, n in enumerate(sizes)]
    frames[2] = F(2, b"a" * 20000, fin=False)
    frames.insert(3, F(0, b"b" * 20000))
    res = run(servers, frames)
    assert [len(m) for m in res.messages] == [32 * 1024 + 1, 65535, 40000, 33333]
    assert res.messages[2] == b"a" * 20000 + b"b" * 20000


@pytest.mark.parametrize("head, outcome", fz.REQUESTS, ids=range(len(fz.REQUESTS)))
def test_request_table(servers: Any, head: bytes, outcome: str) -> None:
    run(servers, [F(2, b"m")] if outcome == "open" else [], head=head, outcome=outcome)


def test_request_cut_short(servers: Any) -> None:
    for n in (0, 1, 17, len(fz.request()) - 1):
        run(servers, [], head=fz.request()[:n], outcome="cut")
