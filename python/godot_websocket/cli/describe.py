"""Human-readable descriptions of multiplayer packets, for ``serve --decode`` and ``connect``.

A packet is shown as a Godot Variant when the whole packet decodes as one (what
``put_var()`` / ``put_packet(var_to_bytes(x))`` send). Otherwise, if its first byte names
a SceneMultiplayer command (``byte0 & 7``, see ``spec/scene-multiplayer.md``) and the
layout of that command fits, it is shown as that command with its fields. Anything else
is shown as hex.

Values are written in the syntax ``connect --send-var`` accepts (``Vector2(1.0, 2.0)``,
``{"hp": 100}``, ``null``, ``true``), so a printed value can be pasted back.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from ..variant import StringName, VariantError, decode_variant

__all__ = [
    "GODOT_TYPE_NAMES",
    "SCENE_COMMANDS",
    "SYS_COMMANDS",
    "describe_packet",
    "describe_scene_multiplayer",
    "format_value",
    "hex_bytes",
    "try_variant",
]

#: Godot's names of the Variant types, indexed by type id (0-38).
GODOT_TYPE_NAMES = (
    "Nil", "bool", "int", "float", "String", "Vector2", "Vector2i", "Rect2", "Rect2i",
    "Vector3", "Vector3i", "Transform2D", "Vector4", "Vector4i", "Plane", "Quaternion", "AABB",
    "Basis", "Transform3D", "Projection", "Color", "StringName", "NodePath", "RID", "Object",
    "Callable", "Signal", "Dictionary", "Array", "PackedByteArray", "PackedInt32Array",
    "PackedInt64Array", "PackedFloat32Array", "PackedFloat64Array", "PackedStringArray",
    "PackedVector2Array", "PackedVector3Array", "PackedColorArray", "PackedVector4Array",
)  # fmt: skip

#: SceneMultiplayer commands, by the value of ``byte0 & 7``.
SCENE_COMMANDS = {
    0: "REMOTE_CALL",
    1: "SIMPLIFY_PATH",
    2: "CONFIRM_PATH",
    3: "RAW",
    4: "SPAWN",
    5: "DESPAWN",
    6: "SYNC",
    7: "SYS",
}

#: Sub-commands of a SceneMultiplayer SYS packet (its second byte).
SYS_COMMANDS = {0: "AUTH", 1: "ADD_PEER", 2: "DEL_PEER", 3: "RELAY"}

# Types whose values are printed with their type name in front ("int 42", "Dictionary {...}");
# the value classes print as constructors and name themselves.
_PREFIXED = frozenset({0, 1, 2, 3, 4, 27, 28, 29})

_MAX_TEXT = 2000
_HEX_BYTES = 48


class _MalformedError(ValueError):
    """The bytes do not fit the layout of the command their first byte names."""


def hex_bytes(data: bytes, limit: int = _HEX_BYTES) -> str:
    """``"de ad be ef"``; longer data is cut after ``limit`` bytes with a ``(+N B)`` note."""
    shown = data[:limit].hex(" ")
    if len(data) > limit:
        shown += f" … (+{len(data) - limit} B)"
    return shown


def format_value(value: Any, limit: int = _MAX_TEXT) -> str:
    """Write a decoded Variant in ``--send-var`` syntax (cut after ``limit`` characters)."""
    text = _format(value, 0)
    if len(text) > limit:
        text = text[:limit] + f"… (+{len(text) - limit} chars)"
    return text


def _format(value: Any, depth: int) -> str:
    if depth > 64:
        return "…"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, StringName):
        return repr(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NAN"
        if math.isinf(value):
            return "INF" if value > 0 else "-INF"
        return repr(value)
    if isinstance(value, int) and type(value) is int:
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return repr(bytes(value))
    if isinstance(value, dict):
        items = ", ".join(
            f"{_format(k, depth + 1)}: {_format(v, depth + 1)}" for k, v in value.items()
        )
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_format(v, depth + 1) for v in value) + "]"
    return repr(value)


def _quote(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def try_variant(data: bytes) -> tuple[bool, Any]:
    """``(True, value)`` if all of ``data`` is exactly one Variant, else ``(False, None)``."""
    if len(data) < 4:
        return False, None
    try:
        value, used = decode_variant(data)
    except (VariantError, TypeError, RecursionError, MemoryError):
        return False, None
    # ``used`` counts padding Godot would expect even when it is missing at the end.
    if used < len(data):
        return False, None
    return True, value


def _describe_variant(data: bytes, value: Any) -> str:
    type_id = data[0]
    name = GODOT_TYPE_NAMES[type_id] if type_id < len(GODOT_TYPE_NAMES) else "?"
    text = format_value(value)
    if type_id in _PREFIXED or not text.startswith(name):
        return f"{name} {text}"
    return text


def describe_packet(data: bytes) -> str:
    """One line saying what ``data`` is: a Variant, a SceneMultiplayer command, or bytes."""
    data = bytes(data)
    ok, value = try_variant(data)
    if ok:
        return _describe_variant(data, value)
    scene = describe_scene_multiplayer(data)
    if scene is not None:
        return scene
    return f"bytes {hex_bytes(data)}" if data else "empty packet"


# -- SceneMultiplayer ------------------------------------------------------------------------


class _Reader:
    """Little-endian reads that raise :class:`_MalformedError` past the end."""

    def __init__(self, data: bytes, offset: int = 0, end: int | None = None) -> None:
        self.data = data
        self.offset = offset
        self.end = len(data) if end is None else end

    def take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.offset + size > self.end:
            raise _MalformedError("too short")
        (value,) = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += size
        return int(value)

    def rest(self) -> bytes:
        return self.data[self.offset : self.end]


def _cstr(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if end < 0:
        raise _MalformedError("unterminated string")
    return data[offset:end].decode("utf-8", "replace")


def _mp_value(data: bytes, offset: int, end: int) -> tuple[Any, int]:
    """One value in SceneMultiplayer's compact encoding (``encode_and_compress_variant``)."""
    if offset >= end:
        raise _MalformedError("missing argument")
    head = data[offset]
    kind = head & 0x3F
    if kind == 1:  # BOOL: one byte, bit 7 is the value
        return bool(head & 0x80), offset + 1
    if kind == 2:  # INT: 1, 2, 4 or 8 bytes after the meta byte
        size = (1, 2, 4, 8)[head >> 6]
        if offset + 1 + size > end:
            raise _MalformedError("short int")
        return int.from_bytes(data[offset + 1 : offset + 1 + size], "little", signed=True), (
            offset + 1 + size
        )
    try:
        value, used = decode_variant(data[offset:end])
    except (VariantError, TypeError, RecursionError, MemoryError) as e:
        raise _MalformedError(str(e)) from None
    return value, offset + used


def _payload(data: bytes) -> str:
    ok, value = try_variant(data)
    if ok:
        return f"{len(data)} B = {_describe_variant(data, value)}"
    return f"{len(data)} B: {hex_bytes(data)}"


def _remote_call(data: bytes) -> str:
    meta = data[0]
    node_size = (meta >> 4) & 3
    if node_size == 3:
        raise _MalformedError("bad node id size")
    r = _Reader(data, 1)
    node_id = r.take(("B", "H", "I")[node_size])
    method_id = r.take("H" if meta & 0x40 else "B")
    end = len(data)
    if node_size == 2 and node_id & 0x80000000:
        path_at = node_id & 0x7FFFFFFF
        if not r.offset <= path_at < len(data):
            raise _MalformedError("bad path offset")
        node = f'path "{_cstr(data, path_at)}"'
        end = path_at
    else:
        node = f"#{node_id}"
    args: list[Any] = []
    if meta & 0x80:  # no argc: nothing, or one PackedByteArray made of the rest
        if r.offset < end:
            args.append(data[r.offset : end])
    else:
        r.end = end
        argc = r.take("B")
        offset = r.offset
        for _ in range(argc):
            value, offset = _mp_value(data, offset, end)
            args.append(value)
    shown = ", ".join(format_value(a, 400) for a in args)
    return f"node {node} method #{method_id} args ({shown})"


def _simplify_path(data: bytes) -> str:
    if len(data) < 38 or data[33] != 0:
        raise _MalformedError("too short")
    checksum = data[1:33].decode("ascii", "replace")
    cache_id = struct.unpack_from("<I", data, 34)[0]
    return f'id {cache_id} path "{_cstr(data, 38)}" checksum {checksum}'


def _confirm_path(data: bytes) -> str:
    if len(data) < 3:
        raise _MalformedError("too short")
    ok = "ok" if data[1] else "checksum mismatch"
    if len(data) == 6:  # 4.3+: the cache id
        return f"id {struct.unpack_from('<I', data, 2)[0]} {ok}"
    return f'path "{_cstr(data, 2)}" {ok}'  # 4.0-4.2: the path echoed


def _spawn(data: bytes) -> str:
    r = _Reader(data, 1)
    scene = r.take("B")
    spawner, net_id, sync_count, name_len = r.take("I"), r.take("I"), r.take("I"), r.take("I")
    if sync_count > len(data):
        raise _MalformedError("bad sync count")
    syncs = [r.take("I") for _ in range(sync_count)]
    name = _cstr(data, r.offset)
    if len(name.encode("utf-8")) + 1 != name_len:
        raise _MalformedError("bad name length")
    scene_text = "custom" if scene == 0xFF else str(scene)
    extra = f" syncs {syncs}" if syncs else ""
    return f'scene {scene_text} spawner #{spawner} net {net_id} name "{name}"{extra}'


def _sync(data: bytes) -> str:
    blocks = []
    if data[0] & 0x10:  # delta
        r = _Reader(data, 1)
        while r.offset < len(data):
            net_id, mask, size = r.take("I"), r.take("Q"), r.take("I")
            r.offset += size
            if r.offset > len(data):
                raise _MalformedError("block too long")
            blocks.append(f"net {net_id} mask {mask:#x} ({size} B)")
        return "delta " + ", ".join(blocks)
    r = _Reader(data, 1)
    sync_time = r.take("H")
    while r.offset < len(data):
        net_id, size = r.take("I"), r.take("I")
        r.offset += size
        if r.offset > len(data):
            raise _MalformedError("block too long")
        blocks.append(f"net {net_id} ({size} B)")
    return f"time {sync_time}: " + ", ".join(blocks)


def _sys(data: bytes, depth: int) -> str:
    if len(data) < 2:
        raise _MalformedError("too short")
    sub = data[1]
    name = SYS_COMMANDS.get(sub)
    if name is None:
        raise _MalformedError("unknown SYS command")
    if sub == 0:
        return f"AUTH {_payload(data[2:])}" if len(data) > 2 else "AUTH done"
    peer = _Reader(data, 2).take("i")
    if sub in (1, 2):
        if len(data) != 6:
            raise _MalformedError("bad length")
        return f"{name} {peer}"
    inner = data[6:]
    if not inner:
        raise _MalformedError("empty relay")
    inner_text = _scene(inner, depth + 1) if depth < 4 else None
    if inner_text is None:
        inner_text = _payload(inner)
    return f"RELAY peer {peer}: {inner_text}"


def _scene(data: bytes, depth: int) -> str | None:
    command = data[0] & 0x07
    try:
        if command == 0:
            detail = _remote_call(data)
        elif command == 1:
            detail = _simplify_path(data)
        elif command == 2:
            detail = _confirm_path(data)
        elif command == 3:
            if len(data) < 2:
                raise _MalformedError("empty RAW")
            detail = _payload(data[1:])
        elif command == 4:
            detail = _spawn(data)
        elif command == 5:
            if len(data) != 5:
                raise _MalformedError("bad length")
            detail = f"net {struct.unpack_from('<I', data, 1)[0]}"
        elif command == 6:
            detail = _sync(data)
        else:
            detail = _sys(data, depth)
    except (_MalformedError, struct.error, IndexError):
        return None
    return f"{SCENE_COMMANDS[command]} {detail}"


def describe_scene_multiplayer(data: bytes) -> str | None:
    """``"SceneMultiplayer <COMMAND> <fields>"``, or ``None`` if ``data`` does not fit one."""
    if not data:
        return None
    text = _scene(bytes(data), 0)
    return None if text is None else "SceneMultiplayer " + text
