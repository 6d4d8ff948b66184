"""Fuzz target for the ws:// client's protocol code (``csrc/wsclient.c``), over real sockets.

A raw TCP server on 127.0.0.1 (Python sockets, one thread serving every connection; several
cases run at a time) reads the upgrade request of a :class:`~godot_websocket.WebSocketPeer`
and answers with generated
bytes: a response head (valid, varied, or mutated: status line, missing / repeated /
wrong headers, sub-protocols, the 4096-byte head limit, garbage) followed by a stream of
frames (messages of every size and kind, fragmented ones with control frames between the
fragments, pings, pongs, close frames with every kind of body; then mutations: reserved
bits, bad opcodes, fragmented or oversized control frames, 64-bit lengths with the top bit
set, huge or wrong lengths, masked server frames, continuation frames without a start,
data frames inside a fragmented message, flipped bits, cut and spliced bytes).  The bytes
go out in random chunks (many of one byte) with small delays, so the parser meets every
split; some connections end with a half-close, a close or a reset at a random byte.  The
peers use small and large ``inbound_buffer_size`` / ``max_queued_packets`` and sometimes
are not polled for a while, so reading pauses (back-pressure) with input kept.

Every input is checked against a reference model (:func:`expect`) of what the client does
with those bytes (RFC 6455 as the libwebsockets client applies it, docs/differences.md):
whether the handshake succeeds and which sub-protocol is selected, the exact list of
messages the core delivers (every whole valid message before the first error, in order,
text or binary), and how the connection ends: OPEN, or CLOSED with -1 (handshake failure,
framing error, dropped TCP), 1009 / 1007 (ours), the server's close code (1002 for an
invalid one, 0 for a body of fewer than 2 bytes) and its reason.  The server also checks
what the client wrote: masked frames, pongs that echo a ping, and the right close frame
(the echo of the server's, or ours).  ``poll()`` must never raise and nothing may hang
(every wait is bounded).  A half-close is checked as exactly (the client reads all that
came before it); after a close or a reset, which may lose bytes in flight, the messages
must be a prefix of the model's and the code the model's or -1.

Run (from the repository root)::

    python tests/fuzz/fuzz_wsclient.py --seconds 60 --seed 1      # or -max_total_time=60
    python tests/fuzz/fuzz_wsclient.py --seed 1 --case 123         # one case, in detail

A failure prints the seed and case index that reproduce it.  With atheris installed and
``--atheris`` given, libFuzzer drives the generator (one case per input, through
``atheris.FuzzedDataProvider``; the core is not built for libFuzzer, so its coverage
feedback sees only Python); the random mode above needs nothing but the package.
``tests/test_wsclient_fuzz.py`` runs a bounded campaign in CI.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import logging
import os
import random
import selectors
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parents[1] / "python"))  # an installed package, if any, wins
sys.path.insert(0, str(HERE.parent))  # tests/

from fuzz_campaign import Report, finish  # noqa: E402
from fuzz_campaign import parser as campaign_parser  # noqa: E402
from godot_websocket import Error, WebSocketPeer  # noqa: E402
from godot_websocket._core import EV_CLOSED, EV_CLOSING, EV_MESSAGE, EV_OPEN  # noqa: E402

__all__ = [
    "TOKEN",
    "Outcome",
    "Report",
    "Result",
    "Scenario",
    "encode_frame",
    "expect",
    "generate",
    "run_campaign",
    "run_scenario",
    "valid_head",
]

# Sanitizer builds (.ci/sanitize sets GWS_SANITIZER) run several times slower.
SLOW = 4.0 if os.environ.get("GWS_SANITIZER") else 1.0
CASE_TIMEOUT = 8.0 * SLOW  # one case, start to end; longer means a hang
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 4096  # wsclient.c: WSC_MAX_HEAD
# Stands for the Sec-WebSocket-Accept value in generated heads (it depends on the key of
# the request); as long as the value (28 characters), so offsets in a head do not move.
TOKEN = b"\x01accept-placeholder\x01".ljust(28, b"\x02")

S = WebSocketPeer

# ---------------------------------------------------------------------------- model


def accept_of(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


def xor_mask(data: bytes, mask: bytes) -> bytes:
    """``data`` masked (or unmasked) with the 4-byte ``mask``, from offset 0."""
    n = len(data)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def _in_list(items: bytes, item: bytes, nocase: bool) -> bool:
    for part in items.split(b","):
        p = part.strip(b" \t")
        if (p.lower() == item.lower()) if nocase else (p == item):
            return True
    return False


def check_head(head: bytes, accept: bytes, offered: bytes) -> tuple[bool, bytes]:
    """Whether the client accepts the response head (``\\r\\n\\r\\n`` included), and the
    sub-protocol it selects.  The checks of the libwebsockets client (docs/differences.md):
    status 101 on an HTTP/1.x line, ``Upgrade: websocket``, ``Connection`` listing
    ``upgrade``, exactly one right ``Sec-WebSocket-Accept``, no extension, a sub-protocol
    if and only if some were offered, and then one of them (case-sensitive).  Header names
    are matched exactly (case aside); values lose surrounding blanks; of a repeated header
    the first counts."""
    eol = head.find(b"\n")
    if eol < 12 or head[:7] != b"HTTP/1." or head[8:9] != b" ":
        return False, b""
    if head[9:12] != b"101" or head[12:13] not in (b" ", b"\r", b"\n"):
        return False, b""
    seen: dict[bytes, list[Any]] = {}
    known = (b"upgrade", b"connection", b"sec-websocket-accept", b"sec-websocket-protocol",
             b"sec-websocket-extensions")
    pos = eol + 1
    while pos < len(head):
        eol = head.find(b"\n", pos)
        if eol < 0:
            break
        line = head[pos:eol]
        pos = eol + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            break
        name, colon, value = line.partition(b":")
        if not colon:
            return False, b""
        name = name.lower()
        if name in known:
            entry = seen.setdefault(name, [value.strip(b" \t"), 0])
            entry[1] += 1
    acc, up = seen.get(b"sec-websocket-accept"), seen.get(b"upgrade")
    conn, ext = seen.get(b"connection"), seen.get(b"sec-websocket-extensions")
    proto = seen.get(b"sec-websocket-protocol")
    if not acc or not acc[0] or not up or up[0].lower() != b"websocket":
        return False, b""
    # (the C copies Connection into a 256-byte string: 255 bytes, up to a NUL)
    if not conn or not _in_list(conn[0][:255].split(b"\0")[0], b"upgrade", True):
        return False, b""
    if ext and ext[0]:
        return False, b""
    if acc[1] != 1 or acc[0] != accept:
        return False, b""
    if proto and proto[0]:
        if not offered or not _in_list(offered, proto[0], False):
            return False, b""
        return True, proto[0]
    return not offered, b""


def close_code_bad(code: int) -> bool:
    """Close codes the libwebsockets client reports (and echoes) as 1002."""
    return code < 1000 or code in (1004, 1005, 1006) or 1012 <= code < 3000


def utf8_ok(data: bytes) -> bool:
    try:
        data.decode("utf-8")  # RFC 3629: no overlongs, surrogates, > U+10FFFF
    except UnicodeDecodeError:
        return False
    return True


@dataclass
class Outcome:
    """What the client does with a byte stream (see :func:`expect`)."""

    opened: bool = False  # the handshake succeeded
    selected: bytes = b""  # the sub-protocol
    messages: list[tuple[bytes, bool]] = field(default_factory=list)  # (data, text)
    # None: no end in these bytes (CONNECTING or OPEN); -1: handshake failure or framing
    # error (TCP dropped); 1009 / 1007: ours; else the code of the server's close frame
    code: int | None = None
    close_body: bytes | None = None  # the server's close frame as the client echoes it
    pings: list[bytes] = field(default_factory=list)  # pings read before the end
    why: str = ""  # why it ended (for reports and statistics)


def expect(stream: bytes, accept: bytes, offered: bytes, limit: int) -> Outcome:
    """The reference model: what a client that offered ``offered`` (the value of its
    Sec-WebSocket-Protocol header, b"" for none) and whose Sec-WebSocket-Accept must be
    ``accept`` does with ``stream`` (everything the server sent), with an
    ``inbound_buffer_size`` of ``limit`` (< 0: none).  Independent of how the bytes are cut."""
    out = Outcome()
    end = stream.find(b"\r\n\r\n")
    if end < 0 or end + 4 > MAX_HEAD:
        if end >= 0 or len(stream) > MAX_HEAD:
            out.code, out.why = -1, "head too large"
        return out
    out.opened, out.selected = check_head(stream[: end + 4], accept, offered)
    if not out.opened:
        out.code, out.why = -1, "head refused"
        return out
    _frames(stream[end + 4 :], limit, out)
    return out


def _frames(data: bytes, limit: int, out: Outcome) -> None:
    n, pos, msg_op = len(data), 0, 0
    acc = bytearray()
    while True:
        if n - pos < 2:
            return
        b0, b1 = data[pos], data[pos + 1]
        len7, masked = b1 & 0x7F, b1 & 0x80
        hlen = 2 + (2 if len7 == 126 else 8 if len7 == 127 else 0) + (4 if masked else 0)
        if n - pos < hlen:
            return
        if len7 == 126:
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        elif len7 == 127:
            length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            if length >> 63:
                out.code, out.why = -1, "64-bit length with the top bit set"
                return
        else:
            length = len7
        mask = data[pos + hlen - 4 : pos + hlen] if masked else None
        op, fin = b0 & 0x0F, bool(b0 & 0x80)
        if b0 & 0x70:
            out.code, out.why = -1, "reserved bits"
            return
        if op == 0:
            if not msg_op:
                out.code, out.why = -1, "continuation without a start"
                return
        elif op in (1, 2):
            if msg_op:
                out.code, out.why = -1, "data frame inside a fragmented message"
                return
            msg_op = op
        elif op in (8, 9, 10):
            if not fin or length > 125:
                out.code, out.why = -1, "fragmented or long control frame"
                return
        else:
            out.code, out.why = -1, "reserved opcode"
            return
        pos += hlen
        if op >= 8:
            if n - pos < length:
                return
            body = data[pos : pos + length]
            pos += length
            if mask:
                body = xor_mask(body, mask)
            if op == 8:
                code = int.from_bytes(body[:2], "big") if len(body) >= 2 else 0
                if len(body) >= 2 and close_code_bad(code):
                    code, body = 1002, b"\x03\xea" + body[2:]
                out.code, out.close_body, out.why = code, body, "close frame"
                return
            if op == 9:
                out.pings.append(body)
            continue
        # a data frame: the whole message is checked against the limit as soon as any
        # of this frame is read (its header announces the rest)
        if length and pos == n:
            return
        if 0 <= limit < len(acc) + length:
            out.code, out.why = 1009, "message too big"
            return
        take = min(length, n - pos)
        chunk = data[pos : pos + take]
        pos += take
        acc += xor_mask(chunk, mask) if mask else chunk
        if take < length:
            return
        if fin:
            if msg_op == 1 and not utf8_ok(bytes(acc)):
                out.code, out.why = 1007, "invalid UTF-8"
                return
            out.messages.append((bytes(acc), msg_op == 1))
            acc = bytearray()
            msg_op = 0


# ------------------------------------------------------------------------ generator


def encode_frame(op: int, payload: bytes = b"", fin: bool = True, mask: bytes | None = None,
                 rsv: int = 0, form: int = 0, length: int | None = None) -> bytes:
    """One frame as a server might send it.  ``form``: 7, 16 or 64 forces that length
    encoding (0: the shortest); ``length`` overrides the announced length."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | (op & 0x0F)
    mbit = 0x80 if mask else 0
    form = form or (7 if n < 126 else 16 if n < 65536 else 64)
    if form == 7 and n < 126:
        head = bytes([b0, mbit | n])
    elif form in (7, 16):
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n & 0xFFFF)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n & (2**64 - 1))
    if mask:
        head += mask
        payload = xor_mask(payload, mask)
    return head + payload


def valid_head(protocol: str = "", *extra: str) -> bytes:
    """A good response head (with :data:`TOKEN` for the accept value)."""
    lines = [b"HTTP/1.1 101 Switching Protocols", b"Upgrade: websocket",
             b"Connection: Upgrade", b"Sec-WebSocket-Accept: " + TOKEN]
    if protocol:
        lines.append(b"Sec-WebSocket-Protocol: " + protocol.encode())
    lines += [e.encode("latin-1") for e in extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class Frame:
    """A frame before encoding (so mutations can work on its fields)."""

    __slots__ = ("fin", "form", "length", "mask", "op", "payload", "rsv")

    def __init__(self, op: int, payload: bytes = b"", fin: bool = True) -> None:
        self.op, self.payload, self.fin = op, payload, fin
        self.mask: bytes | None = None
        self.rsv = 0
        self.form = 0
        self.length: int | None = None

    def encode(self) -> bytes:
        return encode_frame(self.op, self.payload, self.fin, self.mask, self.rsv, self.form,
                            self.length)


_CHARS = ["a", "z", " ", "\u00e9", "\u20ac", "\U0001f600", "\x00", "\u07ff", "\uffff"]
_BAD_UTF8 = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82",
             b"\x80", b"\xf8\x88\x80\x80\x80"]
_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000,
                4999, 5000, 65535, 0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1015, 1016,
                2999]


def _text(rng: random.Random, size: int) -> bytes:
    out = bytearray()
    if size > 64 and rng.random() < 0.5:
        out += b"x" * (size - 8)  # large ones mostly ASCII (fast to make)
    while len(out) < size:
        out += rng.choice(_CHARS).encode("utf-8")
    return bytes(out)


def _size(rng: random.Random, limit: int) -> int:
    if limit < 0:
        limit = 65535
    r = rng.random()
    if r < 0.15:
        return 0
    if r < 0.55:
        n = rng.randint(1, 20)
    elif r < 0.75:
        n = rng.randint(21, 300)
    elif r < 0.85:
        n = rng.choice([125, 126, 127, 65535, 65536, 65537])
    elif r < 0.93:
        n = rng.choice([limit, limit + 1, max(limit - 1, 0)])
    else:
        n = rng.randint(300, 70000)
    if n > limit and rng.random() < 0.8:
        n = rng.randint(0, limit)  # mostly what fits
    return min(n, 140_000)


def _message(rng: random.Random, limit: int) -> list[Frame]:
    """One message: one frame or several, maybe with control frames between them."""
    text = rng.random() < 0.5
    size = _size(rng, limit)
    payload = _text(rng, size) if text else rng.randbytes(size)
    if text and rng.random() < 0.1:
        pos = rng.randint(0, len(payload))
        payload = payload[:pos] + rng.choice(_BAD_UTF8) + payload[pos:]
    if rng.random() < 0.65:
        return [Frame(1 if text else 2, payload)]
    cuts = sorted(rng.randint(0, len(payload)) for _ in range(rng.randint(1, 4)))
    pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)])]
    frames = []
    for i, piece in enumerate(pieces):
        if i and rng.random() < 0.3:
            frames.append(_control(rng, rng.choice([9, 9, 10])))
        frames.append(Frame(0 if i else (1 if text else 2), piece, fin=i == len(pieces) - 1))
    return frames


def _control(rng: random.Random, op: int) -> Frame:
    if op == 8:
        r = rng.random()
        if r < 0.1:
            body = b""
        elif r < 0.2:
            body = rng.randbytes(1)
        else:
            body = struct.pack("!H", rng.choice(_CLOSE_CODES) if rng.random() < 0.9
                               else rng.getrandbits(16))
            reason = rng.choice([b"", b"bye", "\u00e9t\u00e9".encode(), b"\xff\xfe",
                                 b"r" * 123, _text(rng, rng.randint(0, 40))[:123]])
            body += reason
        return Frame(8, body[:125])
    return Frame(op, rng.randbytes(rng.choice([0, 1, 4, rng.randint(0, 125), 125])))


def _mutate_frames(rng: random.Random, frames: list[Frame], limit: int) -> None:
    for _ in range(rng.randint(1, 3)):
        if not frames:
            frames.append(Frame(2, b"x"))
        i = rng.randrange(len(frames))
        f = frames[i]
        kind = rng.randrange(14)
        if kind == 0:
            f.rsv = rng.randint(1, 7)
        elif kind == 1:
            f.op = rng.choice([3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
        elif kind == 2:  # a fragmented control frame
            frames.insert(i, _control(rng, rng.choice([8, 9, 10])))
            frames[i].fin = False
        elif kind == 3:  # a control frame over 125 bytes
            frames.insert(i, Frame(rng.choice([8, 9, 10]), rng.randbytes(rng.randint(126, 200))))
        elif kind == 4:  # 64-bit length with the top bit set
            f.form, f.length = 64, (1 << 63) | rng.choice([0, len(f.payload), rng.getrandbits(62)])
        elif kind == 5:  # huge lengths
            f.form = 64 if rng.random() < 0.7 else 0
            f.length = rng.choice([2**32, 2**40, 2**62, 2**63 - 1, abs(limit) + 1, 0xFFFF,
                                   65536, abs(limit) * 2 + 3])
        elif kind == 6:  # a wrong length
            f.length = max(0, len(f.payload) + rng.choice([-3, -2, -1, 1, 2, 5, 100]))
        elif kind == 7:  # masked (servers must not, clients read them anyway)
            f.mask = rng.choice([b"\0\0\0\0", rng.randbytes(4)])
        elif kind == 8:  # continuation without a start
            frames.insert(i, Frame(0, rng.randbytes(rng.randint(0, 10)), fin=rng.random() < 0.5))
        elif kind == 9:  # a data frame inside a fragmented message
            frames.insert(i, Frame(rng.choice([1, 2]), b"in", fin=rng.random() < 0.5))
            frames.insert(i, Frame(2, b"start", fin=False))
        elif kind == 10:
            del frames[i]
        elif kind == 11:
            frames.insert(i, frames[rng.randrange(len(frames))])
        elif kind == 12:  # a non-minimal length encoding (accepted)
            f.form = rng.choice([16, 64])
        else:
            j = rng.randrange(len(frames))
            frames[i], frames[j] = frames[j], frames[i]


def _mutate_bytes(rng: random.Random, data: bytearray, start: int = 0) -> None:
    for _ in range(rng.randint(1, 4)):
        if len(data) <= start:
            data += rng.randbytes(rng.randint(1, 8))
            continue
        pos = rng.randrange(start, len(data))
        kind = rng.randrange(6)
        if kind == 0:
            data[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            data[pos] = rng.choice([0, 0x7E, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif kind == 2:
            data[pos:pos] = rng.randbytes(rng.randint(1, 10))
        elif kind == 3:
            del data[pos : pos + rng.randint(1, 10)]
        elif kind == 4:
            del data[pos:]
        else:
            src = rng.randrange(start, len(data))
            data[pos:pos] = data[src : src + rng.randint(1, 32)]


def gen_frames(rng: random.Random, limit: int) -> bytes:
    """A stream of frames: valid ones, then (often) mutated."""
    if rng.random() < 0.05:
        return rng.randbytes(rng.randint(0, 300))  # plain garbage after the head
    frames: list[Frame] = []
    for _ in range(rng.choice([0, 1, 2, 3, 5, 8, 12])):
        r = rng.random()
        if r < 0.7:
            frames += _message(rng, limit)
        elif r < 0.9:
            frames.append(_control(rng, rng.choice([9, 10])))
        else:
            frames.append(_control(rng, 8))
    if rng.random() < 0.35:
        frames.append(_control(rng, 8))  # the server ends it (maybe with more after it)
        if rng.random() < 0.2:
            frames += _message(rng, limit)
    if rng.random() < 0.1:
        for f in frames:
            f.mask = rng.randbytes(4)
    if rng.random() < 0.45:
        _mutate_frames(rng, frames, limit)
    data = bytearray(b"".join(f.encode() for f in frames))
    if rng.random() < 0.12:
        _mutate_bytes(rng, data)
    return bytes(data)


_HEADER_CASES: list[Callable[[str], str]] = [str.lower, str.upper, str.title, str]


def gen_head(rng: random.Random, offered: list[str]) -> bytes:
    """A response head with :data:`TOKEN` for the accept value: mostly good (in many
    spellings), else mutated."""
    status = rng.choice(["HTTP/1.1 101 Switching Protocols", "HTTP/1.1 101", "HTTP/1.0 101 OK",
                         "HTTP/1.1 101 Switching Protocols"])
    hdrs: list[tuple[str, str]] = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                   ("Sec-WebSocket-Accept", TOKEN.decode("latin-1"))]
    if offered:
        hdrs.append(("Sec-WebSocket-Protocol", rng.choice(offered)))
    r = rng.random()
    if r < 0.3:
        hdrs[0] = ("Upgrade", rng.choice(["WebSocket", "WEBSOCKET", " websocket\t"]))
        hdrs[1] = ("Connection", rng.choice(["keep-alive, Upgrade", "upgrade", "Upgrade,close",
                                             " \tUpgrade ", "x,,upgrade,"]))
    if rng.random() < 0.3:
        hdrs += [("Server", "fuzz"), ("Date", "Thu, 01 Jan 1970 00:00:00 GMT"),
                 ("Sec-WebSocket-Extensions", ""), ("X-Empty", "")][: rng.randint(1, 4)]
    if rng.random() < 0.3:
        rng.shuffle(hdrs)
    case = rng.choice(_HEADER_CASES)
    hdrs = [(case(n), v) for n, v in hdrs]
    eol = rng.choice(["\r\n", "\r\n", "\r\n", "\n"])
    pad = None
    if rng.random() < 0.35:
        for _ in range(rng.randint(1, 2)):
            status, pad = _mutate_head(rng, status, hdrs, offered, pad)
    lines = [status, *(f"{n}:{' ' if rng.random() < 0.9 else ''}{v}" for n, v in hdrs)]
    head = (eol.join(lines) + "\r\n\r\n").encode("latin-1")
    if pad is not None:  # grow the head to a size around the 4096-byte limit
        fill = max(0, pad - len(head) - len("X-Pad: \r\n"))
        head = head[:-2] + b"X-Pad: " + b"p" * fill + b"\r\n\r\n"
    if rng.random() < 0.08:
        data = bytearray(head)
        _mutate_bytes(rng, data)
        head = bytes(data)
    return head


def _mutate_head(rng: random.Random, status: str, hdrs: list[tuple[str, str]],
                 offered: list[str], pad: int | None) -> tuple[str, int | None]:
    kind = rng.randrange(12)
    names = [n.lower() for n, _ in hdrs]

    def set_value(name: str, value: str) -> None:
        if name in names:
            hdrs[names.index(name)] = (hdrs[names.index(name)][0], value)
        else:
            hdrs.append((name, value))

    if kind == 0:
        status = rng.choice(["HTTP/1.1 200 OK", "HTTP/1.1 1010 Switching", "HTTP/2 101 X",
                             "HTTP/1.1  101 X", "HTTP/1.1 101x", "HTTP/1.1 10", "HTTP/1.1101 X",
                             "", "GET / HTTP/1.1", "HTTP/1.1 100 Continue", "http/1.1 101 x"])
    elif kind == 1 and hdrs:
        del hdrs[rng.randrange(len(hdrs))]
    elif kind == 2:
        dup = rng.choice(hdrs)
        hdrs.insert(rng.randint(0, len(hdrs)), (dup[0], rng.choice([dup[1], "other"])))
    elif kind == 3:
        set_value("sec-websocket-accept", rng.choice(["", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                                                      "x" + TOKEN.decode("latin-1")]))
    elif kind == 4:
        set_value("upgrade", rng.choice(["h2c", "websocket2", "web socket", "", "websocket,"]))
    elif kind == 5:
        set_value("connection", rng.choice(["close", "keep-alive", "upgrade2", "xupgrade",
                                            "Up\0grade", "a," * 130 + "upgrade", ""]))
    elif kind == 6:
        set_value("sec-websocket-extensions", rng.choice(["permessage-deflate", "x"]))
    elif kind == 7:
        value = rng.choice(["zzz", "P1", "p1, p2", "", offered[0] if offered else "chat"])
        if "sec-websocket-protocol" in names and rng.random() < 0.3:
            del hdrs[names.index("sec-websocket-protocol")]
        else:
            set_value("sec-websocket-protocol", value)
    elif kind == 8:
        hdrs.insert(rng.randint(0, len(hdrs)), (rng.choice(["garbage line", "", " "]), ""))
        if hdrs and rng.random() < 0.5:  # a name with a blank before the colon
            i = rng.randrange(len(hdrs))
            hdrs[i] = (hdrs[i][0] + " ", hdrs[i][1])
    elif kind == 9:
        pad = MAX_HEAD + rng.choice([-2, -1, 0, 1, 2, 1000])
    elif kind == 10:
        hdrs.append(("X-Nul", "a\0b"))
    else:
        i = rng.randrange(len(hdrs)) if hdrs else 0
        if hdrs:
            hdrs[i] = (hdrs[i][0].replace("-", "_"), hdrs[i][1])
    return status, pad


@dataclass
class Scenario:
    """One case: what the server sends and how, and how the client behaves."""

    template: bytes  # head + frames, with TOKEN for the accept value
    protocols: list[str] = field(default_factory=list)
    inbound: int = 65535
    max_queued: int = 4096
    # graceful: all of it, then wait for the client; fin: half-close after ``cut`` bytes;
    # close / rst: close / reset the socket after ``cut`` bytes
    mode: str = "graceful"
    cut: int = -1  # -1: all of it
    plan: list[tuple[int, float]] = field(default_factory=list)  # (bytes, delay after)
    take: int = 0  # packets read per poll (0: all)
    quiet: float = 0.0  # chance per poll of then not polling for a while
    hold: float = 0.0  # seconds without a poll at the start (reading pauses, input is kept)
    client_close: tuple[int, int, str] | None = None  # after N messages: close(code, reason)
    end_close: int = -1  # code for close() once the model's end is checked (-1: drop)
    label: str = ""

    def sent(self, stream: bytes) -> bytes:
        """What the server sends of ``stream`` (all of it, or up to the cut)."""
        return stream if self.cut < 0 else stream[: self.cut]

    def summary(self) -> str:
        return (f"mode={self.mode} cut={self.cut}/{len(self.template)} inbound={self.inbound} "
                f"max_queued={self.max_queued} protocols={self.protocols} take={self.take} "
                f"quiet={self.quiet} hold={self.hold} client_close={self.client_close} "
                f"end_close={self.end_close} chunks={len(self.plan)}")


def _plan(rng: random.Random, total: int) -> list[tuple[int, float]]:
    plan: list[tuple[int, float]] = []
    done = 0
    style = rng.random()
    while done < total:
        if len(plan) >= 80:
            size = total - done
        elif style < 0.2:
            size = 1
        else:
            r = rng.random()
            size = (1 if r < 0.3 else rng.randint(2, 16) if r < 0.6
                    else rng.randint(17, 1500) if r < 0.9 else total - done)
        r = rng.random()
        delay = 0.0 if r < 0.6 else rng.uniform(0.0001, 0.002) if r < 0.97 \
            else rng.uniform(0.005, 0.02)
        plan.append((size, delay))
        done += size
    return plan


def generate(rng: random.Random) -> Scenario:
    """A random scenario (``rng``: random.Random, or anything with its methods)."""
    protocols = [] if rng.random() < 0.75 else rng.choice([["p1"], ["p1", "chat"],
                                                           ["chat", "p1", "x-y"]])
    inbound = rng.choice([16, 200, 4096, 65535, 65535, 1 << 20]) if rng.random() < 0.95 \
        else rng.choice([0, -1])  # only empty messages fit / no limit
    max_queued = rng.choice([1, 2, 3, 16, 4096, 4096])
    head = gen_head(rng, protocols)
    template = head + gen_frames(rng, inbound)
    r = rng.random()
    mode = "graceful" if r < 0.6 else "fin" if r < 0.75 else "close" if r < 0.87 else "rst"
    cut = -1 if mode == "graceful" else rng.randint(0, len(template))
    if mode != "graceful" and rng.random() < 0.8 and len(template) > len(head):
        cut = rng.randint(len(head), len(template))  # mostly inside the frames
    scn = Scenario(template, protocols, inbound, max_queued, mode, cut,
                   _plan(rng, len(template)))
    scn.take = rng.choice([0, 0, 1, 2])
    scn.quiet = rng.choice([0.0, 0.0, 0.02, 0.1])
    scn.hold = rng.choice([0.0, 0.0, 0.0, 0.01, 0.05])
    if mode == "graceful" and rng.random() < 0.12:
        scn.client_close = (rng.randint(0, 4), rng.choice([1000, 1001, 4000]),
                            rng.choice(["", "bye"]))
    scn.end_close = rng.choice([-1, 1000])
    return scn


# --------------------------------------------------------------------------- server


def _parse_client_frames(buf: bytearray) -> tuple[list[tuple[int, bytes, bool]], int]:
    """Whole frames at the start of ``buf``: [(opcode, unmasked payload, masked)], bytes used."""
    frames, pos = [], 0
    while len(buf) - pos >= 2:
        b1 = buf[pos + 1]
        n = b1 & 0x7F
        hlen = 2 + (2 if n == 126 else 8 if n == 127 else 0) + (4 if b1 & 0x80 else 0)
        if len(buf) - pos < hlen:
            break
        if n == 126:
            n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
        elif n == 127:
            n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
        if len(buf) - pos < hlen + n:
            break
        payload = bytes(buf[pos + hlen : pos + hlen + n])
        if b1 & 0x80:
            payload = xor_mask(payload, bytes(buf[pos + hlen - 4 : pos + hlen]))
        b0 = buf[pos]  # FIN and no reserved bit, else the opcode tells (0x100 | b0)
        frames.append((b0 & 0x0F if b0 & 0xF0 == 0x80 else 0x100 | b0, payload, bool(b1 & 0x80)))
        pos += hlen + n
    return frames, pos


class _Case:
    """A running case: the scenario, what the server saw, what the client did."""

    def __init__(self, index: int, scn: Scenario) -> None:
        self.index, self.scn = index, scn
        # set by the server thread
        self.stream: bytes | None = None  # what the server sends (before any cut)
        self.offered = b""
        self.accept = b""
        self.sent_all = False
        self.server_done = False
        self.client_eof = False  # the client closed TCP cleanly
        self.client_frames: list[tuple[int, bytes, bool]] = []
        self.server_error = ""
        # main thread
        self.peer: WebSocketPeer | None = None
        self.expected: Outcome | None = None
        self.core_open = False
        self.core_msgs: list[tuple[bytes, bool]] = []
        self.packets: list[tuple[bytes, bool]] = []
        self.closing: tuple[int, bytes] | None = None
        self.closed: tuple[int, bytes] | None = None
        self.we_closed: tuple[int, str] | None = None
        self.final: tuple[int, str] | None = None  # (code, reason) once CLOSED
        self.started = 0.0
        self.quiet_until = 0.0
        self.settle_until: float | None = None
        self.ending = False
        self.finish_by: float | None = None
        self.failure = ""
        self.done = False


class _Conn:
    """The server end of one connection (driven by the server thread)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.case: _Case | None = None
        self.inbuf = bytearray()
        self.out = b""
        self.state = "request"
        self.pos = 0
        self.limit = 0
        self.plan_i = 0
        self.next_at = 0.0
        self.deadline = time.monotonic() + CASE_TIMEOUT + 2


class FuzzServer:
    """The raw server: one thread, one selector, every connection of the campaign."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}"
        self.cases: dict[str, _Case] = {}
        self.lock = threading.Lock()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self.conns: list[_Conn] = []
        self.error = ""
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="fuzz-wsclient-server",
                                        daemon=True)
        self._thread.start()

    def add(self, case: _Case) -> str:
        name = f"/fuzz/{case.index}"
        with self.lock:
            self.cases[name] = case
        return self.url + name

    def close(self) -> None:
        self._stop = True
        self._thread.join(10)
        for c in list(self.conns):
            self._finish(c)
        self.sel.close()
        self.listener.close()

    def _run(self) -> None:
        try:
            while not self._stop:
                now = time.monotonic()
                wait = 0.005
                for c in self.conns:
                    if c.state == "sending" and not c.out:
                        wait = min(wait, max(0.0, c.next_at - now))
                for key, mask in self.sel.select(wait):
                    if key.data is None:
                        self._accept()
                        continue
                    c = key.data
                    if mask & selectors.EVENT_READ:
                        self._read(c)
                    if mask & selectors.EVENT_WRITE and c.state != "done":
                        self._flush(c)
                now = time.monotonic()
                for c in list(self.conns):
                    self._tick(c, now)
        except BaseException:  # reported by the campaign as a failure of the harness
            self.error = traceback.format_exc()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = _Conn(sock)
            self.conns.append(c)
            self.sel.register(sock, selectors.EVENT_READ, c)

    def _finish(self, c: _Conn, reset: bool = False) -> None:
        if c.state == "done":
            return
        c.state = "done"
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        try:
            if reset:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        c.sock.close()
        if c in self.conns:
            self.conns.remove(c)
        if c.case is not None:
            c.case.server_done = True

    def _read(self, c: _Conn) -> None:
        try:
            data = c.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._finish(c)
            return
        if not data:
            if c.case is not None:
                c.case.client_eof = True
            self._finish(c)
            return
        c.inbuf += data
        if c.state == "request":
            end = c.inbuf.find(b"\r\n\r\n")
            if end < 0:
                if len(c.inbuf) > 65536:
                    self._finish(c)
                return
            self._start(c, bytes(c.inbuf[:end]))
            del c.inbuf[: end + 4]
            if c.state == "done":
                return
        case = c.case
        if case is None:
            return
        frames, used = _parse_client_frames(c.inbuf)
        del c.inbuf[:used]
        case.client_frames += frames
        if any(op == 8 for op, _, _ in frames):
            # the client's close frame (an echo of ours, or its own): hang up
            self._finish(c)

    def _start(self, c: _Conn, request: bytes) -> None:
        lines = request.split(b"\r\n")
        parts = lines[0].split(b" ")
        path = parts[1].decode("latin-1") if len(parts) > 1 else ""
        with self.lock:
            case = self.cases.pop(path, None)
        if case is None:
            self._finish(c)
            return
        key = offered = b""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"sec-websocket-key":
                key = value.strip()
            elif name.lower() == b"sec-websocket-protocol":
                offered = value[1:] if value.startswith(b" ") else value
        c.case = case
        case.offered = offered
        case.accept = accept_of(key)
        stream = case.scn.template.replace(TOKEN, case.accept)
        case.stream = stream
        c.limit = len(case.scn.sent(stream))
        c.state = "sending"
        c.next_at = time.monotonic()

    def _flush(self, c: _Conn) -> None:
        try:
            n = c.sock.send(c.out)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:
            self._finish(c)
            return
        c.out = c.out[n:]
        try:
            self.sel.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0),
                            c)
        except (KeyError, ValueError):
            pass

    def _tick(self, c: _Conn, now: float) -> None:
        if now > c.deadline:
            self._finish(c)
            return
        if c.state != "sending" or c.out:
            return
        case = c.case
        assert case is not None and case.stream is not None
        if now < c.next_at:
            return
        plan = case.scn.plan
        if c.pos < c.limit:
            size, delay = plan[c.plan_i] if c.plan_i < len(plan) else (c.limit - c.pos, 0.0)
            c.plan_i += 1
            size = max(1, min(size, c.limit - c.pos))
            c.out = case.stream[c.pos : c.pos + size]
            c.pos += size
            c.next_at = now + delay
            self._flush(c)
            return
        case.sent_all = True
        mode = case.scn.mode
        if mode == "graceful":
            c.state = "holding"
        elif mode == "fin":
            c.state = "holding"
            try:
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                self._finish(c)
        else:
            self._finish(c, reset=mode == "rst")


# --------------------------------------------------------------------------- client


@dataclass
class Result:
    """What one case did (see :func:`run_scenario`)."""

    failure: str
    expected: Outcome | None
    opened: bool
    code: int | None  # get_close_code() once CLOSED, None if it was ended by us while open
    reason: str
    messages: list[tuple[bytes, bool]]  # delivered by the core (data, text)
    packets: list[tuple[bytes, bool]]  # what get_packet() returned
    client_frames: list[tuple[int, bytes, bool]]  # what the client wrote after its request
    seconds: float


def _observe(peer: WebSocketPeer, case: _Case) -> None:
    """Record the core's events for this peer as poll() applies them (the public API
    drops unread packets at CLOSED, as Godot does; the model is about what the core
    delivered)."""
    apply = peer._apply_event

    def hook(etype: int, code: int, data: bytes) -> None:
        if etype == EV_MESSAGE:
            case.core_msgs.append((bytes(data), code == 1))
        elif etype == EV_OPEN:
            case.core_open = True
        elif etype == EV_CLOSING:
            case.closing = (code, bytes(data))
        elif etype == EV_CLOSED:
            case.closed = (code, bytes(data))
        apply(etype, code, data)

    peer._apply_event = hook  # type: ignore[method-assign]


class _Runner:
    def __init__(self) -> None:
        self.server = FuzzServer()

    def close(self) -> None:
        self.server.close()

    def start(self, case: _Case) -> None:
        scn = case.scn
        peer = WebSocketPeer()
        peer.inbound_buffer_size = scn.inbound
        peer.max_queued_packets = scn.max_queued
        if scn.protocols:
            peer.supported_protocols = scn.protocols
        _observe(peer, case)
        case.peer = peer
        case.started = time.monotonic()
        case.quiet_until = case.started + scn.hold * SLOW
        err = peer.connect_to_url(self.server.add(case))
        if err != Error.OK:
            self._fail(case, f"connect_to_url returned {err!r}")

    @staticmethod
    def _fail(case: _Case, why: str) -> None:
        if not case.failure:
            case.failure = why
        case.done = True

    def step(self, case: _Case, rng: random.Random, now: float) -> None:
        """Poll the case's peer once and check it; sets case.done at its end."""
        scn, peer = case.scn, case.peer
        assert peer is not None
        if now - case.started > CASE_TIMEOUT:
            self._fail(case, "timeout: " + self._state_text(case))
            return
        if self.server.error:
            self._fail(case, "the fuzz server failed:\n" + self.server.error)
            return
        if case.stream is not None and case.expected is None:
            case.expected = expect(scn.sent(case.stream), case.accept, case.offered,
                                   scn.inbound)
        if now < case.quiet_until:
            return
        try:
            peer.poll()
        except Exception:
            self._fail(case, "poll() raised:\n" + traceback.format_exc())
            return
        state = peer.get_ready_state()
        if state == S.STATE_OPEN:
            n = scn.take or 1 << 30
            while n and peer.get_available_packet_count():
                data = peer.get_packet()
                case.packets.append((data, peer.was_string_packet()))
                n -= 1
        if scn.quiet and rng.random() < scn.quiet:
            case.quiet_until = now + rng.uniform(0.005, 0.05) * SLOW
        exp = case.expected
        if exp is None:
            return
        if case.core_open and not exp.opened:
            self._fail(case, "the handshake succeeded, the model refuses the head")
            return
        if case.core_open and peer.get_selected_protocol() != exp.selected.decode("latin-1"):
            self._fail(case, f"selected protocol {peer.get_selected_protocol()!r}, "
                             f"expected {exp.selected!r}")
            return
        if not self._prefix_ok(case, exp):
            return
        cc = scn.client_close
        if (cc and case.we_closed is None and state == S.STATE_OPEN
                and len(case.core_msgs) >= cc[0]):
            case.we_closed = (cc[1], cc[2])
            peer.close(cc[1], cc[2])
            state = peer.get_ready_state()
        if state == S.STATE_CLOSED:
            if case.final is None:
                case.final = (peer.get_close_code(), peer.get_close_reason())
                self._check_closed(case, exp)
                case.finish_by = now + 3.0 * SLOW
            if not case.done and (case.server_done or now > (case.finish_by or now)):
                self._check_wire(case, exp)
                case.done = True
            return
        if case.ending:
            return
        # the model's stream ends without an end: the peer must stay as it is
        if scn.mode == "graceful" and exp.code is None and case.sent_all and not case.we_closed:
            want = S.STATE_OPEN if exp.opened else S.STATE_CONNECTING
            if state == want and len(case.core_msgs) == len(exp.messages):
                if case.settle_until is None:
                    case.settle_until = now + 0.02 * SLOW
                elif now >= case.settle_until:
                    if case.core_msgs != exp.messages:
                        self._fail(case, "messages differ: " + self._diff(case, exp))
                        return
                    case.ending = True
                    code = scn.end_close if state == S.STATE_OPEN else -1
                    case.we_closed = (code, "bye") if code >= 0 else None
                    peer.close(code, "bye" if code >= 0 else "")
                    if code < 0:
                        case.done = True

    def _prefix_ok(self, case: _Case, exp: Outcome) -> bool:
        got, want = case.core_msgs, exp.messages
        if got != want[: len(got)]:
            self._fail(case, "a message that is not the model's next one: "
                       + self._diff(case, exp))
            return False
        if case.packets != got[: len(case.packets)]:
            self._fail(case, "get_packet() returned something the core did not deliver")
            return False
        return True

    def _check_closed(self, case: _Case, exp: Outcome) -> None:
        scn = case.scn
        code, reason = case.final or (None, "")
        msgs = case.core_msgs
        exp_code = -1 if exp.code is None else exp.code
        if case.ending:
            if case.we_closed and code != case.we_closed[0]:
                self._fail(case, f"closed by us with {case.we_closed[0]}, code {code}")
            return
        if case.we_closed:
            allowed = {case.we_closed[0]} | ({exp.code} if exp.code is not None else set())
            if code not in allowed:
                self._fail(case, f"close code {code} after our close(), expected one of "
                           f"{sorted(allowed)} (model: {exp.why or 'no end'})")
            return
        exact = scn.mode in ("graceful", "fin")
        if scn.mode == "graceful" and exp.code is None:
            self._fail(case, f"CLOSED with {code}, the model expects it to stay "
                       f"{'OPEN' if exp.opened else 'CONNECTING'}; " + self._state_text(case))
            return
        if exact or code != -1:
            if code != exp_code:
                self._fail(case, f"close code {code}, expected {exp_code} "
                           f"(model: {exp.why or 'no end: EOF'}); " + self._state_text(case))
                return
            if msgs != exp.messages:
                self._fail(case, "messages differ: " + self._diff(case, exp))
                return
            if exp.opened != case.core_open:
                self._fail(case, f"opened={case.core_open}, the model says {exp.opened}")
                return
            if exp.close_body is not None and code == exp.code:
                want = exp.close_body[2:].decode("utf-8", "replace")
                if reason != want:
                    self._fail(case, f"close reason {reason!r}, expected {want!r}")

    def _check_wire(self, case: _Case, exp: Outcome) -> None:
        """What the client wrote, where the connection ended cleanly enough to know."""
        if case.failure:
            return
        frames = case.client_frames
        for op, payload, masked in frames:
            if not masked:
                self._fail(case, f"the client sent an unmasked frame (opcode {op:#x})")
                return
            if op == 0xA and payload not in exp.pings:
                self._fail(case, f"a pong {payload!r} for no ping the server sent")
                return
            if op not in (0x8, 0xA):
                self._fail(case, f"the client sent opcode {op:#x}")
                return
        closes = [p for op, p, _ in frames if op == 0x8]
        if len(closes) > 1 or (closes and frames[-1][0] != 0x8):
            self._fail(case, "the client sent frames after its close frame")
            return
        if len([1 for op, _, _ in frames if op == 0xA]) > len(exp.pings):
            self._fail(case, "more pongs than pings")
            return
        if case.scn.mode != "graceful" or not (closes or case.client_eof):
            return
        code = case.final[0] if case.final else None
        if case.we_closed and code == case.we_closed[0]:
            ours = struct.pack("!H", code) + case.we_closed[1].encode()
            # (our frame may not get out before an error the model saw coming drops TCP)
            if closes != [ours] and (exp.close_body is None or closes != [exp.close_body]) \
                    and (closes or exp.code is None):
                self._fail(case, f"the client's close frame {closes!r}, expected {ours!r}")
            return
        want: bytes | None
        if exp.close_body is not None:
            want = exp.close_body
        elif exp.code in (1009, 1007):
            want = struct.pack("!H", exp.code)
        else:
            want = None  # a failed handshake or a framing error: no close frame
        if want is None and closes:
            self._fail(case, f"the client sent a close frame {closes[0]!r}, expected none")
        elif want is not None and closes != [want]:
            self._fail(case, f"the client's close frame {closes!r}, expected {want!r}")

    @staticmethod
    def _diff(case: _Case, exp: Outcome) -> str:
        got, want = case.core_msgs, exp.messages
        i = 0
        while i < min(len(got), len(want)) and got[i] == want[i]:
            i += 1

        def show(m: list[tuple[bytes, bool]]) -> str:
            if i >= len(m):
                return "(none)"
            data, text = m[i]
            return f"{'text' if text else 'binary'} {len(data)} bytes {data[:24]!r}"

        return (f"got {len(got)} messages, model {len(want)}; first difference at #{i}: "
                f"got {show(got)}, model {show(want)}")

    @staticmethod
    def _state_text(case: _Case) -> str:
        peer, exp = case.peer, case.expected
        state = peer.get_ready_state().name if peer is not None else "?"
        return (f"state {state}, core opened={case.core_open} messages={len(case.core_msgs)} "
                f"closing={case.closing} closed={case.closed}; server sent_all="
                f"{case.sent_all} done={case.server_done}; model: opened="
                f"{exp.opened if exp else '?'} messages={len(exp.messages) if exp else '?'} "
                f"code={exp.code if exp else '?'} ({exp.why if exp else ''})")

    def end(self, case: _Case) -> None:
        if case.peer is not None and case.peer.get_ready_state() != S.STATE_CLOSED:
            case.peer.close(-1)
        case.peer = None


def _result(case: _Case) -> Result:
    return Result(case.failure, case.expected, case.core_open,
                  case.final[0] if case.final else None, case.final[1] if case.final else "",
                  list(case.core_msgs), list(case.packets), list(case.client_frames),
                  time.monotonic() - case.started)


def _run_cases(runner: _Runner, cases: Iterable[_Case], seconds: float, concurrency: int,
               rng: random.Random) -> list[_Case]:
    """Run cases, ``concurrency`` at a time, starting new ones until ``seconds`` passed."""
    finished: list[_Case] = []
    active: list[_Case] = []
    source = iter(cases)
    deadline = time.monotonic() + seconds
    exhausted = False
    while True:
        while not exhausted and len(active) < concurrency and time.monotonic() < deadline:
            case = next(source, None)
            if case is None:
                exhausted = True
                break
            runner.start(case)
            active.append(case)
        if not active:
            break
        now = time.monotonic()
        for case in active:
            if not case.done:
                runner.step(case, rng, now)
            if case.done:
                runner.end(case)
                finished.append(case)
        active = [c for c in active if not c.done]
        time.sleep(0.0005)
    return finished


def case_rng(seed: int, index: int) -> random.Random:
    return random.Random(f"wsclient:{seed}:{index}")


def run_scenario(scn: Scenario, seed: int = 0) -> Result:
    """Run one scenario to its end (a regression test's way in)."""
    runner = _Runner()
    try:
        case = _Case(0, scn)
        _run_cases(runner, [case], CASE_TIMEOUT + 5, 1, random.Random(seed))
        return _result(case)
    finally:
        runner.close()


class _QuietLogs:
    """The core logs every refused handshake and dropped connection: keep output short."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("godot_websocket")
        self.level = self.logger.level
        self.logger.setLevel(logging.CRITICAL)

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)


def run_campaign(seconds: float = 10.0, seed: int = 0, max_cases: int | None = None,
                 concurrency: int = 6, first: int = 0, verbose: bool = False) -> Report:
    """Random cases ``first``, ``first + 1``, ... for at most ``seconds`` (and
    ``max_cases``), ``concurrency`` at a time.  Case i of seed s is always the same."""
    report = Report(seed)
    t0 = time.monotonic()

    def cases() -> Any:
        i = first
        while max_cases is None or i < first + max_cases:
            yield _Case(i, generate(case_rng(seed, i)))
            i += 1

    runner = _Runner()
    try:
        with _QuietLogs():
            done = _run_cases(runner, cases(), seconds, concurrency, random.Random(seed))
    finally:
        runner.close()
    report.seconds = time.monotonic() - t0
    report.cases = len(done)
    for case in sorted(done, key=lambda c: c.index):
        exp = case.expected
        key = "no request" if exp is None else (
            exp.why or ("stays open" if exp.opened else "head not complete"))
        key = f"{key} ({case.scn.mode})" if case.scn.mode != "graceful" else key
        report.outcomes[key] = report.outcomes.get(key, 0) + 1
        if case.failure:
            report.failures.append((case.index, describe(case, seed)))
        elif verbose:
            print(describe(case, seed))
    return report


def describe(case: _Case, seed: int) -> str:
    exp, scn = case.expected, case.scn
    shown = scn.template[:1200]
    return "\n".join([
        f"case {case.index} (seed {seed}): {case.failure or 'ok'}",
        f"  reproduce: python tests/fuzz/fuzz_wsclient.py --seed {seed} --case {case.index}",
        f"  scenario: {scn.summary()}",
        f"  model: opened={exp.opened} code={exp.code} ({exp.why}) "
        f"messages={len(exp.messages)} pings={len(exp.pings)}" if exp else "  model: -",
        f"  client: opened={case.core_open} final={case.final} messages={len(case.core_msgs)} "
        f"wrote={[(op, p[:16]) for op, p, _ in case.client_frames][:6]}",
        f"  bytes ({len(scn.template)}, accept value as {TOKEN!r}): {shown.hex()}"
        + ("..." if len(scn.template) > len(shown) else ""),
    ])


# --------------------------------------------------------------------------- atheris


class ProviderRandom(random.Random):
    """random.Random whose draws come from an atheris FuzzedDataProvider."""

    def __init__(self, fdp: Any) -> None:
        super().__init__(0)
        self.fdp = fdp

    def random(self) -> float:
        return float(self.fdp.ConsumeProbability())

    def getrandbits(self, k: int) -> int:
        return int(self.fdp.ConsumeIntInRange(0, (1 << k) - 1)) if k else 0

    def randbytes(self, n: int) -> bytes:
        data = bytes(self.fdp.ConsumeBytes(n))
        return data + bytes(n - len(data))


def _atheris_main(argv: list[str]) -> int:
    atheris: Any = importlib.import_module("atheris")

    runner = _Runner()
    counter = [0]

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        counter[0] += 1
        case = _Case(counter[0], generate(ProviderRandom(fdp)))
        _run_cases(runner, [case], CASE_TIMEOUT + 5, 1, random.Random(counter[0]))
        if case.failure:
            raise AssertionError(describe(case, -1))

    with _QuietLogs():
        atheris.Setup([sys.argv[0], *argv], one)
        atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = campaign_parser(__doc__)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--atheris", action="store_true",
                        help="let atheris (libFuzzer) drive the generator")
    args, rest = parser.parse_known_args(argv)  # other libFuzzer flags: for atheris
    if args.atheris:
        return _atheris_main(rest)
    if args.case is not None:
        report = run_campaign(CASE_TIMEOUT + 5, args.seed, 1, 1, first=args.case,
                              verbose=True)
    else:
        report = run_campaign(args.seconds, args.seed, args.cases, args.concurrency)
    return finish("fuzz_wsclient", report)


if __name__ == "__main__":
    raise SystemExit(main())
