"""The ws:// client's protocol code (csrc/wsclient.c) against a fuzzing server: a bounded
run of tests/fuzz/fuzz_wsclient.py, and inputs it found worth keeping, with exact outcomes.

GWS_WSCLIENT_FUZZ_SECONDS sets the length of the random run (default 3 s)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import fuzz_campaign

FUZZ = Path(__file__).resolve().parent / "fuzz" / "fuzz_wsclient.py"
SECONDS = float(os.environ.get("GWS_WSCLIENT_FUZZ_SECONDS", "3"))
SLOW = bool(os.environ.get("GWS_SANITIZER"))

pytestmark = pytest.mark.skipif(os.environ.get("GODOT_WEBSOCKET_CLIENT") == "lws",
                                reason="fuzzes the core's own ws:// client (wsclient.c)")


fz = fuzz_campaign.load("fuzz_wsclient")
frame = fz.encode_frame


def close_body(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def run(frames: bytes, head: bytes | None = None, byte_by_byte: bool = False,
        **kwargs: Any) -> Any:
    """One scenario: a good head (unless given), then ``frames``; asserts that the model
    agrees with what happened, returns the result."""
    template = (fz.valid_head() if head is None else head) + frames
    scn = fz.Scenario(template, **kwargs)
    if byte_by_byte:
        scn.plan = [(1, 0.0)] * len(template)
    result = fz.run_scenario(scn)
    assert result.failure == "", result.failure
    return result


def closes(result: Any) -> list[bytes]:
    """The payloads of the close frames the client wrote."""
    return [p for op, p, _ in result.client_frames if op == 0x8]


# ------------------------------------------------------------------ the random run


def test_bounded_campaign() -> None:
    report = fz.run_campaign(seconds=SECONDS, seed=20261128)
    assert not report.failures, "\n\n".join(text for _, text in report.failures)
    assert report.cases >= (20 if SLOW else 100)  # a slow machine still gets a real run


def test_command_line() -> None:
    proc = subprocess.run(
        [sys.executable, str(FUZZ), "-max_total_time=1", "--seed", "7", "--concurrency", "2"],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "no failure" in proc.stdout


def test_the_checks_are_real(monkeypatch: pytest.MonkeyPatch) -> None:
    # a model that is wrong about close codes: the run must say so
    monkeypatch.setattr(fz, "close_code_bad", lambda code: False)
    result = fz.run_scenario(fz.Scenario(fz.valid_head() + frame(0x8, close_body(1005))))
    assert "close code 1002, expected 1005" in result.failure
    # and a report names the way to run that case again
    case = fz._Case(3, fz.generate(fz.case_rng(9, 3)))
    assert "--seed 9 --case 3" in fz.describe(case, 9)


# ---------------------------------------------------------- inputs worth keeping


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["whole", "bytewise"])
def test_64_bit_length_with_the_top_bit_set(byte_by_byte: bool) -> None:
    # the frame before it is delivered; this one drops TCP (-1), no close frame
    wire = frame(0x2, b"ok") + b"\x82\x7f" + struct.pack("!Q", 1 << 63 | 5) + b"hello"
    result = run(wire, byte_by_byte=byte_by_byte)
    assert result.messages == [(b"ok", False)]
    assert result.code == -1
    assert closes(result) == []


def test_masked_server_frames_are_read() -> None:
    # servers must not mask, but the lws client reads them (docs/differences.md)
    wire = (frame(0x1, "h\u00e9".encode(), mask=b"\x01\x02\x03\x04")
            + frame(0x2, b"ab", fin=False, mask=b"\xff\x00\xff\x00")
            + frame(0x0, b"cdefg", mask=b"\x10\x20\x30\x40")
            + frame(0x8, close_body(4000, b"x"), mask=b"\x00\x00\x00\x01"))
    result = run(wire, byte_by_byte=True)
    assert result.messages == [("h\u00e9".encode(), True), (b"abcdefg", False)]
    assert (result.code, result.reason) == (4000, "x")
    assert closes(result) == [close_body(4000, b"x")]


@pytest.mark.parametrize("op", [0x8, 0x9, 0xA])
def test_fragmented_control_frame(op: int) -> None:
    wire = (frame(0x2, b"one") + frame(0x2, b"a", fin=False) + frame(op, b"p", fin=False)
            + frame(0x0, b"b"))
    result = run(wire)
    assert result.messages == [(b"one", False)]
    assert result.code == -1
    assert closes(result) == []


def test_control_frames_between_fragments_are_fine() -> None:
    wire = (frame(0x1, b"a", fin=False) + frame(0x9, b"ping") + frame(0x0, b"b", fin=False)
            + frame(0xA, b"") + frame(0x0, b"c") + frame(0x8, close_body(1000)))
    result = run(wire, byte_by_byte=True)
    assert result.messages == [(b"abc", True)]
    assert result.code == 1000
    assert [p for op, p, _ in result.client_frames if op == 0xA] == [b"ping"]


@pytest.mark.parametrize(("body", "code", "reason", "echo"), [
    (b"\x03", 0, "", b"\x03"),  # 1 byte: no code (lws); Godot would say 1002
    (b"", 0, "", b""),
    (close_body(1005, b"why"), 1002, "why", close_body(1002, b"why")),  # invalid codes
    (close_body(999), 1002, "", close_body(1002)),
    (close_body(1012), 1002, "", close_body(1002)),
    (close_body(2999, b"r" * 123), 1002, "r" * 123, close_body(1002, b"r" * 123)),
    (close_body(3000, b"\xff"), 3000, "\ufffd", close_body(3000, b"\xff")),
    (close_body(65535), 65535, "", close_body(65535)),
], ids=["1-byte", "empty", "1005", "999", "1012", "2999-long-reason", "3000-bad-utf8",
        "65535"])
def test_close_frame_bodies(body: bytes, code: int, reason: str, echo: bytes) -> None:
    result = run(frame(0x2, b"before") + frame(0x8, body) + frame(0x2, b"after"))
    assert result.messages == [(b"before", False)]
    assert (result.code, result.reason) == (code, reason)
    assert closes(result) == [echo]


def test_close_frame_over_125_bytes() -> None:
    result = run(frame(0x8, close_body(1000, b"r" * 124)))
    assert (result.code, result.messages, closes(result)) == (-1, [], [])


@pytest.mark.parametrize("wire", [
    frame(0x0, b"cont"),                                   # continuation without a start
    frame(0x1, b"a", fin=False) + frame(0x2, b"b"),        # data inside a fragmented one
    frame(0x2, b"x", rsv=4),                               # a reserved bit
    frame(0x3, b"x"),                                      # a reserved opcode
    frame(0xB, b""),
], ids=["orphan-continuation", "interleaved", "rsv", "opcode-3", "opcode-b"])
def test_framing_errors_drop_the_connection(wire: bytes) -> None:
    result = run(frame(0x1, b"ok") + wire + frame(0x2, b"never"))
    assert result.messages == [(b"ok", True)]
    assert (result.code, closes(result)) == (-1, [])


def test_huge_length_is_1009_at_its_first_byte() -> None:
    wire = frame(0x2, b"fits") + b"\x82\x7f" + struct.pack("!Q", 1 << 40) + b"abc"
    result = run(wire, inbound=1000)
    assert result.messages == [(b"fits", False)]
    assert (result.code, result.reason) == (1009, "Message too big")
    assert closes(result) == [close_body(1009)]


def test_invalid_utf8_split_over_fragments_is_1007() -> None:
    good = "\u20ac".encode()
    wire = (frame(0x1, good[:2], fin=False) + frame(0x0, good[2:])
            + frame(0x1, b"\xed\xa0", fin=False) + frame(0x0, b"\x80"))  # a surrogate
    result = run(wire, byte_by_byte=True)
    assert result.messages == [(good, True)]
    assert (result.code, closes(result)) == (1007, [close_body(1007)])


@pytest.mark.parametrize("mode", ["graceful", "fin"])
def test_back_pressure_keeps_input_until_read(mode: str) -> None:
    # one message at a time may wait unread; the rest (and the close frame, or the
    # end of the stream) waits in the kept input, and nothing is lost
    blobs = [bytes([i]) * 100 for i in range(6)]
    wire = b"".join(frame(0x2, b) for b in blobs) + frame(0x8, close_body(4001, b"done"))
    result = run(wire, max_queued=1, inbound=1000, take=1, quiet=0.5, mode=mode)
    assert result.messages == [(b, False) for b in blobs]
    assert result.packets == result.messages
    assert (result.code, result.reason) == (4001, "done")


def test_framing_error_in_kept_input_stops_reading() -> None:
    # Found by the fuzzer.  The first message fills the byte budget: reading pauses, and
    # a text fragment and a binary frame (a framing error there) are kept.  When the
    # peer reads and reading resumes, the kept input fails; what arrived meanwhile (a
    # continuation that completes the text) must not be read any more: no message
    # (and no 1007 for bad UTF-8 in such bytes), TCP dropped with -1.
    first = frame(0x2, b"m" * 1000) + frame(0x1, b"\xf0", fin=False) + frame(0x2, b"bad frame")
    later = frame(0x0, "\U0001f600".encode()[1:])
    for tail in (later, frame(0x0, b"\xff")):
        result = run(first + tail, inbound=1000, hold=0.1,
                     plan=[(len(fz.valid_head()) + len(first), 0.03), (len(tail), 0.0)])
        assert result.messages == [(b"m" * 1000, False)]
        assert (result.code, closes(result)) == (-1, [])


def test_stream_cut_by_the_server() -> None:
    wire = frame(0x2, b"a") + frame(0x2, b"bcdef")
    result = run(wire, mode="fin", cut=len(fz.valid_head()) + len(wire) - 2)
    assert (result.messages, result.code) == ([(b"a", False)], -1)


@pytest.mark.parametrize(("size", "opens"), [(4095, True), (4096, True), (4097, False)])
def test_response_head_limit(size: int, opens: bool) -> None:
    base = fz.valid_head("", "X-Pad: ")
    head = base[:-4] + b"p" * (size - len(base)) + b"\r\n\r\n"
    assert len(head) == size
    result = run(head=head, frames=frame(0x2, b"m") + frame(0x8, close_body(1000)))
    assert result.opened is opens
    assert result.code == (1000 if opens else -1)
    assert result.messages == ([(b"m", False)] if opens else [])


def test_sub_protocol_is_checked_exactly() -> None:
    ok = run(frame(0x8, close_body(1000)), head=fz.valid_head("chat"), protocols=["p1", "chat"])
    assert ok.opened and ok.code == 1000
    for proto in ("Chat", "p1, chat", "zzz", ""):
        bad = run(b"", head=fz.valid_head(proto), protocols=["p1", "chat"])
        assert (bad.opened, bad.code) == (False, -1), proto
