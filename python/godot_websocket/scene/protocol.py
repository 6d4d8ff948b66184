"""SceneMultiplayer packets: pure encoders and decoders, no I/O.

Everything Godot 4's ``SceneMultiplayer`` puts inside one ``MultiplayerPeer`` packet
(spec ``scene-multiplayer.md`` §2-§8, §11): the first byte's command (``byte0 & 7``) and
flags, RPCs in their cached and full-path forms, the node path cache
(``SIMPLIFY_PATH`` / ``CONFIRM_PATH`` in both layouts), raw ``send_bytes`` packets, the
``SYS`` commands (auth, add/del peer, relay) and the compact argument encoding
(``encode_and_compress_variant``).

Decoders raise :class:`ProtocolError` for malformed input and never anything else for
``bytes`` input (the fuzz target in ``tests/fuzz/fuzz_scene.py`` checks that). All
multi-byte integers are little-endian.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

from ..error import Error
from ..variant import VariantError, decode_variant, encode_variant

__all__ = [
    "CMD_CONFIRM_PATH",
    "CMD_DESPAWN",
    "CMD_MASK",
    "CMD_RAW",
    "CMD_REMOTE_CALL",
    "CMD_SIMPLIFY_PATH",
    "CMD_SPAWN",
    "CMD_SYNC",
    "CMD_SYS",
    "FULL_PATH_FLAG",
    "MAX_RPC_ARGS",
    "SYS_ADD_PEER",
    "SYS_AUTH",
    "SYS_CMD_SIZE",
    "SYS_DEL_PEER",
    "SYS_RELAY",
    "AddPeer",
    "Auth",
    "ConfirmPath",
    "ConfirmPathLayout",
    "DelPeer",
    "Packet",
    "ProtocolError",
    "Raw",
    "Relay",
    "RemoteCall",
    "RemoteCallHeader",
    "Replication",
    "SimplifyPath",
    "decode_compressed_variant",
    "decode_packet",
    "decode_rpc_args",
    "encode_add_peer",
    "encode_auth",
    "encode_compressed_variant",
    "encode_confirm_path",
    "encode_del_peer",
    "encode_raw",
    "encode_relay",
    "encode_remote_call",
    "encode_rpc_args",
    "encode_simplify_path",
    "parse_remote_call_header",
]

# -- constants (scene_multiplayer.h) -------------------------------------------------------

CMD_REMOTE_CALL = 0
CMD_SIMPLIFY_PATH = 1
CMD_CONFIRM_PATH = 2
CMD_RAW = 3
CMD_SPAWN = 4
CMD_DESPAWN = 5
CMD_SYNC = 6
CMD_SYS = 7
#: Only the low three bits name the command; bit 3 and the flag bits 4-7 are ignored by it.
CMD_MASK = 0x07

SYS_AUTH = 0
SYS_ADD_PEER = 1
SYS_DEL_PEER = 2
SYS_RELAY = 3
#: ``[07][sys_cmd][i32 peer]``: the fixed part of every SYS packet but AUTH.
SYS_CMD_SIZE = 6

#: Node target of an RPC in the full-path form: ``0x80000000 | offset of the path``.
FULL_PATH_FLAG = 0x80000000
#: Godot refuses to send an RPC with more arguments (the count is one byte).
MAX_RPC_ARGS = 255

_NODE_ID_SHIFT = 4  # meta bits 4-5: node id width 0 = u8, 1 = u16, 2 = u32, 3 = invalid
_NAME_ID_SHIFT = 6  # meta bit 6: method id width 0 = u8, 1 = u16
_BYTE_ONLY_FLAG = 0x80  # meta bit 7: no argc; no args, or one raw PackedByteArray
_NODE_WIDTHS = (1, 2, 4)

_MD5_HEX_LEN = 32
_SIMPLIFY_MIN = 1 + _MD5_HEX_LEN + 1 + 4  # 38: Godot rejects anything shorter
_CONFIRM_ID_LEN = 6

# Compact argument encoding (multiplayer_api.cpp): low 6 bits type, bits 6-7 int width,
# bit 7 the bool value.
_TYPE_MASK = 0x3F
_TYPE_BOOL = 1
_TYPE_INT = 2
_TYPE_MAX = 39  # Variant::VARIANT_MAX in 4.3-4.6; higher type ids are invalid
_BOOL_TRUE = 0x80
_INT_WIDTHS = (1, 2, 4, 8)
_INT_FORMATS = ("<b", "<h", "<i", "<q")
_INT_LIMITS = ((-(2**7), 2**7 - 1), (-(2**15), 2**15 - 1), (-(2**31), 2**31 - 1),
               (-(2**63), 2**63 - 1))
_HDR_FLAG_64 = 1 << 16

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_SYS_HEAD = struct.Struct("<BBi")


class ProtocolError(ValueError):
    """A SceneMultiplayer packet is malformed (too short, bad flags, bad arguments...).

    ``error`` is the Godot ``Error`` code that fits (``ERR_INVALID_DATA`` unless an
    argument failed to decode with another code).
    """

    def __init__(self, message: str, error: Error = Error.ERR_INVALID_DATA) -> None:
        super().__init__(message)
        self.error = error


class ConfirmPathLayout(enum.Enum):
    """Which ``CONFIRM_PATH`` layout to write (spec §5.3); both are read.

    ``GODOT_4_3`` (the default): ``[02][ok][u32 cache id]``, 6 bytes, Godot 4.3-4.6.
    ``GODOT_4_0``: ``[02][ok][path cstr]``, Godot 4.0-4.2.
    """

    GODOT_4_3 = "4.3"
    GODOT_4_0 = "4.0"


# -- packet values --------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteCallHeader:
    """The parts of an RPC packet needed before its arguments are decoded (spec §6.3).

    ``node_target`` is the raw node field; ``path`` is set (and ``cache_id`` is None) in
    the full-path form. The arguments occupy ``data[args_offset:args_end]``.
    """

    meta: int
    node_target: int
    node_id_width: int
    method_id: int
    method_id_width: int
    byte_only: bool
    args_offset: int
    args_end: int
    path: str | None

    @property
    def cache_id(self) -> int | None:
        """The sender's cache id of the node, or None in the full-path form."""
        return None if self.path is not None else self.node_target

    @property
    def is_full_path(self) -> bool:
        """True when the node is named by its path rather than by a cache id."""
        return self.path is not None


@dataclass(frozen=True)
class RemoteCall:
    """A decoded RPC: the header plus its arguments."""

    header: RemoteCallHeader
    args: tuple[Any, ...]

    @property
    def method_id(self) -> int:
        """The method id (an index into the receiver's sorted RPC table)."""
        return self.header.method_id

    @property
    def cache_id(self) -> int | None:
        """The sender's cache id of the node (None in the full-path form)."""
        return self.header.cache_id

    @property
    def path(self) -> str | None:
        """The node path relative to the root path, in the full-path form."""
        return self.header.path


@dataclass(frozen=True)
class SimplifyPath:
    """``SIMPLIFY_PATH``: the sender's ``cache_id`` for ``path`` and its RPC checksum."""

    checksum: str
    cache_id: int
    path: str


@dataclass(frozen=True)
class ConfirmPath:
    """``CONFIRM_PATH``: ``cache_id`` is set for the 4.3+ layout, ``path`` for 4.0-4.2.

    A 6-byte packet reads both ways (its last 4 bytes may be a 3-character path and its
    NUL); :attr:`path` is then the text form if it is one, and the caller decides.
    """

    valid: bool
    cache_id: int | None
    path: str | None


@dataclass(frozen=True)
class Raw:
    """``RAW``: a ``send_bytes`` payload (at least one byte)."""

    payload: bytes


@dataclass(frozen=True)
class Auth:
    """``SYS AUTH``: authentication data, or (empty ``data``) "I completed your auth"."""

    data: bytes

    @property
    def is_completion(self) -> bool:
        """True for the 2-byte ``07 00`` completion notice."""
        return not self.data


@dataclass(frozen=True)
class AddPeer:
    """``SYS ADD_PEER``: the server announces another client."""

    peer_id: int


@dataclass(frozen=True)
class DelPeer:
    """``SYS DEL_PEER``: the server announces that a client left."""

    peer_id: int


@dataclass(frozen=True)
class Relay:
    """``SYS RELAY``: ``peer_id`` is the target (client to server) or the source
    (server to client); ``inner`` is the carried packet, unchanged."""

    peer_id: int
    inner: bytes


@dataclass(frozen=True)
class Replication:
    """``SPAWN`` / ``DESPAWN`` / ``SYNC`` (not interpreted here): command and bytes."""

    command: int
    data: bytes


Packet = Union[RemoteCall, SimplifyPath, ConfirmPath, Raw, Auth, AddPeer, DelPeer, Relay,
               Replication]


# -- compact variants ----------------------------------------------------------------------


def _compact_int(value: int) -> bytes:
    for mode, (low, high) in enumerate(_INT_LIMITS):
        if low <= value <= high:
            return bytes((_TYPE_INT | (mode << 6),)) + struct.pack(_INT_FORMATS[mode], value)
    raise VariantError(Error.ERR_PARAMETER_RANGE_ERROR,
                       f"int {value} is outside Godot's int64 range")


def encode_compressed_variant(value: Any, allow_objects: bool = False) -> bytes:
    """One RPC argument in Godot's compact form (``encode_and_compress_variant``).

    ``bool`` is one byte (``0x01`` false, ``0x81`` true); ``int`` is a meta byte
    ``(mode << 6) | 0x02`` and the smallest of 1/2/4/8 little-endian bytes; any other value
    is the ordinary binary Variant (``var_to_bytes``), whose first byte is its type.
    Values that the Variant encoder maps to BOOL or INT (``IntEnum``, NumPy scalars...) get
    the compact form too. Raises ``VariantError`` / ``TypeError`` like ``encode_variant``.
    """
    if type(value) is bool:
        return b"\x81" if value else b"\x01"
    if type(value) is int:
        return _compact_int(value)
    data = encode_variant(value, allow_objects)
    kind = data[0]
    if kind == _TYPE_BOOL:
        return b"\x81" if _U32.unpack_from(data, 4)[0] else b"\x01"
    if kind == _TYPE_INT:
        header = _U32.unpack_from(data, 0)[0]
        number: int = struct.unpack_from("<q" if header & _HDR_FLAG_64 else "<i", data, 4)[0]
        return _compact_int(number)
    return data


def decode_compressed_variant(
    data: bytes, pos: int = 0, end: int | None = None, allow_objects: bool = False
) -> tuple[Any, int]:
    """Decode one compact argument from ``data[pos:end]``; return ``(value, next_pos)``.

    Accepts every width of the compact INT (also non-minimal ones) and any BOOL byte whose
    low six bits are 1 (bit 7 is the value), as Godot does. Raises :class:`ProtocolError`.
    """
    if end is None:
        end = len(data)
    if pos >= end:
        raise ProtocolError("argument missing: no bytes left")
    meta = data[pos]
    kind = meta & _TYPE_MASK
    if kind >= _TYPE_MAX:
        raise ProtocolError(f"invalid argument type id {kind} at byte {pos}")
    if kind == _TYPE_BOOL:
        return bool(meta & _BOOL_TRUE), pos + 1
    if kind == _TYPE_INT:
        mode = meta >> 6
        width = _INT_WIDTHS[mode]
        if pos + 1 + width > end:
            raise ProtocolError(f"compact int at byte {pos} needs {width} bytes")
        value: int = struct.unpack_from(_INT_FORMATS[mode], data, pos + 1)[0]
        return value, pos + 1 + width
    try:
        decoded, used = decode_variant(data[pos:end], allow_objects)
    except VariantError as exc:
        raise ProtocolError(f"argument at byte {pos}: {exc}", exc.error) from None
    except (ValueError, OverflowError, MemoryError, RecursionError) as exc:
        # Defensive: a bug in the codec must not escape as something else.
        raise ProtocolError(f"argument at byte {pos}: {exc}") from None
    if used <= 0:
        raise ProtocolError(f"argument at byte {pos} used no bytes")
    return decoded, pos + used


def encode_rpc_args(args: Sequence[Any], allow_objects: bool = False) -> tuple[bytes, bool]:
    """The argument bytes of an RPC and whether meta bit 7 ("byte-only or no args") is set.

    Like Godot: no arguments use bit 7 with nothing after the method id; a single
    non-empty ``bytes``/``bytearray`` (PackedByteArray) uses bit 7 with its raw bytes;
    anything else is ``argc`` and the compact values. Unlike Godot, a single *empty*
    PackedByteArray is sent in the ``argc`` form, because the byte-only form of it arrives
    as a call without arguments (spec §6.3). Raises ``VariantError`` / ``TypeError`` for
    unencodable values and ``ValueError`` for more than 255 arguments.
    """
    if len(args) > MAX_RPC_ARGS:
        raise ValueError(f"too many RPC arguments ({len(args)} > {MAX_RPC_ARGS})")
    if not args:
        return b"", True
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)) and len(args[0]) > 0:
        return bytes(args[0]), True
    parts = [bytes((len(args),))]
    parts.extend(encode_compressed_variant(arg, allow_objects) for arg in args)
    return b"".join(parts), False


def decode_rpc_args(
    data: bytes, header: RemoteCallHeader, allow_objects: bool = False
) -> tuple[Any, ...]:
    """Decode the arguments of the RPC that ``header`` describes.

    ``header`` comes from :func:`parse_remote_call_header` on the same ``data``.

    Bytes left after the last argument are ignored, as Godot does.
    """
    pos, end = header.args_offset, header.args_end
    if header.byte_only:
        return (bytes(data[pos:end]),) if pos < end else ()
    if pos >= end:
        raise ProtocolError("RPC packet too small: argument count missing")
    argc = data[pos]
    pos += 1
    args = []
    for index in range(argc):
        if pos >= end:
            raise ProtocolError(f"RPC packet too small: argument {index + 1} of {argc} missing")
        try:
            value, pos = decode_compressed_variant(data, pos, end, allow_objects)
        except ProtocolError as exc:
            raise ProtocolError(f"argument {index + 1} of {argc}: {exc}", exc.error) from None
        args.append(value)
    return tuple(args)


# -- RPC -----------------------------------------------------------------------------------


def _cstring(data: bytes, start: int, end: int | None = None) -> str:
    """UTF-8 text from ``start`` up to the first NUL (or ``end``), errors replaced."""
    if end is None:
        end = len(data)
    stop = data.find(b"\0", start, end)
    raw = data[start : end if stop < 0 else stop]
    return raw.decode("utf-8", "replace")


def parse_remote_call_header(data: bytes) -> RemoteCallHeader:
    """Read an RPC's meta byte, node target and method id (spec §6.3), not its arguments."""
    if not data:
        raise ProtocolError("RPC packet too small: empty")
    meta = data[0]
    if meta & CMD_MASK != CMD_REMOTE_CALL:
        raise ProtocolError(f"not an RPC packet (command {meta & CMD_MASK})")
    node_mode = (meta >> _NODE_ID_SHIFT) & 3
    if node_mode == 3:
        raise ProtocolError("invalid node id compression mode 3")
    node_width = _NODE_WIDTHS[node_mode]
    name_width = 2 if meta & (1 << _NAME_ID_SHIFT) else 1
    args_offset = 1 + node_width + name_width
    if len(data) < args_offset:
        raise ProtocolError(f"RPC packet too small: {len(data)} < {args_offset} bytes")
    if node_width == 1:
        node_target = data[1]
    elif node_width == 2:
        node_target = _U16.unpack_from(data, 1)[0]
    else:
        node_target = _U32.unpack_from(data, 1)[0]
    if name_width == 1:
        method_id = data[1 + node_width]
    else:
        method_id = _U16.unpack_from(data, 1 + node_width)[0]
    path: str | None = None
    args_end = len(data)
    if node_target & FULL_PATH_FLAG:
        ofs = node_target & ~FULL_PATH_FLAG
        if ofs >= len(data):
            raise ProtocolError(f"RPC path offset {ofs} is past the packet end ({len(data)})")
        if ofs < args_offset:
            raise ProtocolError(f"RPC path offset {ofs} is inside the header")
        path = _cstring(data, ofs)
        args_end = ofs
    return RemoteCallHeader(
        meta=meta,
        node_target=node_target,
        node_id_width=node_width,
        method_id=method_id,
        method_id_width=name_width,
        byte_only=bool(meta & _BYTE_ONLY_FLAG),
        args_offset=args_offset,
        args_end=args_end,
        path=path,
    )


def encode_remote_call(
    method_id: int,
    args_data: bytes,
    byte_only: bool,
    *,
    cache_id: int | None = None,
    path: str | None = None,
    force_u32_node: bool = False,
) -> bytes:
    """Build an RPC packet as Godot's ``_send_rpc`` does.

    Give ``cache_id`` for the cached form (u8/u16/u32, the smallest that fits, or always u32
    with ``force_u32_node``, as Godot does in a multi-target call that is not confirmed by
    every target) or ``path`` (relative to the root path) for the full-path form (u32 node
    field ``0x80000000 | offset``, path appended). ``args_data``/``byte_only`` come from
    :func:`encode_rpc_args`. The method id is u8 up to 255, else u16.
    """
    if (cache_id is None) == (path is None):
        raise ValueError("give exactly one of cache_id and path")
    if not 0 <= method_id <= 0xFFFF:
        raise ValueError(f"method id {method_id} out of range")
    meta = CMD_REMOTE_CALL | (_BYTE_ONLY_FLAG if byte_only else 0)
    if method_id <= 0xFF:
        method = bytes((method_id,))
    else:
        meta |= 1 << _NAME_ID_SHIFT
        method = _U16.pack(method_id)
    if path is not None:
        meta |= 2 << _NODE_ID_SHIFT
        offset = 1 + 4 + len(method) + len(args_data)
        head = bytes((meta,)) + _U32.pack(FULL_PATH_FLAG | offset)
        return head + method + args_data + path.encode("utf-8") + b"\0"
    assert cache_id is not None
    if not 0 <= cache_id < FULL_PATH_FLAG:
        raise ValueError(f"cache id {cache_id} out of range")
    if cache_id <= 0xFF and not force_u32_node:
        node = bytes((cache_id,))
    elif cache_id <= 0xFFFF and not force_u32_node:
        meta |= 1 << _NODE_ID_SHIFT
        node = _U16.pack(cache_id)
    else:
        meta |= 2 << _NODE_ID_SHIFT
        node = _U32.pack(cache_id)
    return bytes((meta,)) + node + method + args_data


# -- path cache ----------------------------------------------------------------------------


def encode_simplify_path(checksum: str, cache_id: int, path: str) -> bytes:
    """``01 <32 hex chars> 00 <u32 cache_id> <path> 00`` (spec §5.2)."""
    raw = checksum.encode("ascii")
    if len(raw) != _MD5_HEX_LEN:
        raise ValueError(f"checksum must be 32 hex characters, got {checksum!r}")
    return b"\x01" + raw + b"\0" + _U32.pack(cache_id) + path.encode("utf-8") + b"\0"


def encode_confirm_path(
    valid: bool,
    cache_id: int,
    path: str,
    layout: ConfirmPathLayout = ConfirmPathLayout.GODOT_4_3,
) -> bytes:
    """``02 <ok> <u32 cache_id>`` (4.3+) or ``02 <ok> <path> 00`` (4.0-4.2)."""
    head = b"\x02" + (b"\x01" if valid else b"\x00")
    if layout is ConfirmPathLayout.GODOT_4_0:
        return head + path.encode("utf-8") + b"\0"
    return head + _U32.pack(cache_id)


# -- raw and SYS ---------------------------------------------------------------------------


def encode_raw(payload: bytes) -> bytes:
    """``03 <payload>``; the payload must not be empty."""
    if not payload:
        raise ValueError("a raw packet needs at least one byte of payload")
    return b"\x03" + bytes(payload)


def encode_auth(data: bytes = b"") -> bytes:
    """``07 00 <data>``; empty ``data`` gives the 2-byte completion notice."""
    return b"\x07\x00" + bytes(data)


def encode_add_peer(peer_id: int) -> bytes:
    """``07 01 <i32 id>``."""
    return _SYS_HEAD.pack(CMD_SYS, SYS_ADD_PEER, peer_id)


def encode_del_peer(peer_id: int) -> bytes:
    """``07 02 <i32 id>``."""
    return _SYS_HEAD.pack(CMD_SYS, SYS_DEL_PEER, peer_id)


def encode_relay(peer_id: int, inner: bytes) -> bytes:
    """``07 03 <i32 target-or-source> <inner>``; ``inner`` must not be empty."""
    if not inner:
        raise ValueError("a relay envelope needs an inner packet")
    return _SYS_HEAD.pack(CMD_SYS, SYS_RELAY, peer_id) + bytes(inner)


# -- decoding any packet -------------------------------------------------------------------


def _decode_sys(data: bytes) -> Packet:
    if len(data) < 2:
        raise ProtocolError("SYS packet too small: no sys command")
    sys_cmd = data[1]
    if sys_cmd == SYS_AUTH:
        return Auth(bytes(data[2:]))
    if len(data) < SYS_CMD_SIZE:
        raise ProtocolError(f"SYS packet too small: {len(data)} < {SYS_CMD_SIZE} bytes")
    peer = _I32.unpack_from(data, 2)[0]
    if sys_cmd == SYS_ADD_PEER:
        return AddPeer(peer)
    if sys_cmd == SYS_DEL_PEER:
        return DelPeer(peer)
    if sys_cmd == SYS_RELAY:
        if len(data) < SYS_CMD_SIZE + 1:
            raise ProtocolError("relay packet carries no inner packet")
        return Relay(peer, bytes(data[SYS_CMD_SIZE:]))
    raise ProtocolError(f"unknown SYS command {sys_cmd}")


def _decode_simplify(data: bytes) -> SimplifyPath:
    if len(data) < _SIMPLIFY_MIN:
        raise ProtocolError(f"SIMPLIFY_PATH too small: {len(data)} < {_SIMPLIFY_MIN} bytes")
    checksum = data[1 : 1 + _MD5_HEX_LEN].decode("utf-8", "replace")
    cache_id = _U32.unpack_from(data, 1 + _MD5_HEX_LEN + 1)[0]
    return SimplifyPath(checksum, cache_id, _cstring(data, _SIMPLIFY_MIN))


def _decode_confirm(data: bytes) -> ConfirmPath:
    if len(data) < 3:
        raise ProtocolError(f"CONFIRM_PATH too small: {len(data)} bytes")
    valid = bool(data[1])
    cache_id: int | None = None
    path: str | None = None
    if len(data) == _CONFIRM_ID_LEN:
        cache_id = _U32.unpack_from(data, 2)[0]
        if data[-1] == 0 and 0 not in data[2:-1]:
            path = _cstring(data, 2)
    else:
        path = _cstring(data, 2)
    return ConfirmPath(valid, cache_id, path)


def decode_packet(data: bytes, allow_objects: bool = False) -> Packet:
    """Decode one SceneMultiplayer packet (any command) into a packet value.

    RPC arguments are decoded too (objects only with ``allow_objects``). Raises
    :class:`ProtocolError` for anything malformed; nothing else for ``bytes`` input.
    """
    data = bytes(data)
    if not data:
        raise ProtocolError("empty packet")
    command = data[0] & CMD_MASK
    if command == CMD_REMOTE_CALL:
        header = parse_remote_call_header(data)
        return RemoteCall(header, decode_rpc_args(data, header, allow_objects))
    if command == CMD_SIMPLIFY_PATH:
        return _decode_simplify(data)
    if command == CMD_CONFIRM_PATH:
        return _decode_confirm(data)
    if command == CMD_RAW:
        if len(data) < 2:
            raise ProtocolError("raw packet too small: no payload")
        return Raw(data[1:])
    if command == CMD_SYS:
        return _decode_sys(data)
    return Replication(command, data)
