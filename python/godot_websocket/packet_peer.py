"""``PacketPeer``: Godot's packet-based base class (spec §3)."""

from __future__ import annotations

import logging
from array import array
from collections.abc import Iterable
from typing import Any, Union

from .error import Error

__all__ = ["PacketPeer"]

_logger = logging.getLogger("godot_websocket")

_OK = Error.OK  # hot paths compare by identity: enum attribute lookups cost ~50 ns
_ENCODE_MIN = 1024
_ENCODE_MAX = 256 * 1024 * 1024


def _as_bytes(buffer: Any, what: str) -> bytes | memoryview:
    """Accept Godot's PackedByteArray equivalents: bytes, bytearray, memoryview, buffers."""
    if isinstance(buffer, (bytes, bytearray)):
        return buffer  # type: ignore[return-value]
    if isinstance(buffer, str):
        raise TypeError(f"{what} expects bytes (a PackedByteArray), not str; use send_text()")
    try:
        return memoryview(buffer).cast("B")
    except TypeError:
        raise TypeError(
            f"{what} expects bytes (a PackedByteArray), not {type(buffer).__name__}"
        ) from None


#: What :meth:`PacketPeer.put_packets` accepts as one packet.
Packet = Union[bytes, bytearray, memoryview]

_SIZE_T = "Q" if array("Q").itemsize == 8 else "L"


def _max_count(max_count: Any, available: int) -> int:
    """How many packets a get_packets(max_count) call takes out of ``available``."""
    if isinstance(max_count, bool) or not isinstance(max_count, int):
        raise TypeError(
            f"get_packets() max_count must be an int, not {type(max_count).__name__}")
    return available if max_count < 0 or max_count > available else max_count


def _packet_list(packets: Any, what: str) -> list[Any]:
    """The packets of a put_packets() call as a list, their container type-checked."""
    if type(packets) is list:
        return packets
    if isinstance(packets, (str, bytes, bytearray, memoryview)) or not isinstance(
            packets, Iterable):
        raise TypeError(
            f"{what} expects a list of packets (bytes-like objects), "
            f"not {type(packets).__name__}")
    return list(packets)


def _checked_packets(packets: list[Any], what: str) -> list[bytes | memoryview]:
    """Every packet as bytes/bytearray or a byte-format memoryview; TypeError naming
    the first one that is not a bytes-like object."""
    return [_as_bytes(p, f"{what} item {i}") for i, p in enumerate(packets)]


def _join_packets(packets: Any, what: str) -> tuple[bytes, array[int]]:
    """A put_packets() batch as the core takes it: every payload concatenated, and
    the lengths (``size_t``).  One ``bytes.join`` and one array: no per-packet call."""
    items = _packet_list(packets, what)
    try:
        data = b"".join(items)
    except TypeError:
        _checked_packets(items, what)  # raises, naming the offending item
        raise
    lens = array(_SIZE_T, map(len, items))
    if sum(lens) != len(data):
        # a memoryview whose items are wider than a byte: len() counts items
        items = _checked_packets(items, what)
        data = b"".join(items)
        lens = array(_SIZE_T, map(len, items))
    return data, lens


class PacketPeer:
    """Abstract packet peer: ``put_packet``/``get_packet``, ``put_var``/``get_var``.

    Subclasses implement :meth:`_put_packet` and :meth:`_get_packet` (the core
    operations Godot's subclasses override) and ``get_available_packet_count``.
    """

    def __init__(self) -> None:
        self._encode_buffer_max_size = 8 * 1024 * 1024
        self._last_get_error = Error.OK

    # -- the core operations, per subclass -------------------------------------

    def _put_packet(self, data: bytes | bytearray | memoryview) -> Error:
        raise NotImplementedError

    def _get_packet(self) -> tuple[Error, bytes]:
        raise NotImplementedError

    def get_available_packet_count(self) -> int:
        """Number of packets waiting to be read."""
        raise NotImplementedError

    # -- PacketPeer API ---------------------------------------------------------

    def put_packet(self, buffer: bytes | bytearray | memoryview) -> Error:
        """Send one packet.  An empty buffer returns ``OK`` and sends nothing."""
        data = buffer if type(buffer) is bytes else _as_bytes(buffer, "put_packet()")
        if len(data) == 0:
            return Error.OK
        return self._put_packet(data)

    def get_packet(self) -> bytes:
        """Pop the next packet (``b""`` on error; see :meth:`get_packet_error`)."""
        err, data = self._get_packet()
        self._last_get_error = err
        return data if err is _OK else b""

    def get_packets(self, max_count: int = -1) -> list[bytes]:
        """Pop up to ``max_count`` packets at once (every available one if negative).

        Not in Godot (an addition of this package, see docs/differences.md): the
        same packets, in the same order, as that many :meth:`get_packet` calls,
        without a Python call per packet.  Nothing available gives ``[]`` (no
        log line).  :meth:`get_packet_error` is then ``OK``, or the error that
        stopped the batch (the packets before it are returned).
        """
        n = _max_count(max_count, self.get_available_packet_count())
        out: list[bytes] = []
        err = _OK
        get = self._get_packet
        for _ in range(n):
            err, data = get()
            if err is not _OK:
                break
            out.append(data)
        self._last_get_error = err
        return out

    def put_packets(self, packets: Iterable[Packet]) -> Error:
        """Send several packets, in order, as that many :meth:`put_packet` calls would.

        Not in Godot (an addition of this package, see docs/differences.md).
        ``packets`` is a list (or any iterable but ``str``/bytes-like) of bytes-like
        objects; anything else raises ``TypeError`` before a packet is sent.  Empty
        packets send nothing, as in :meth:`put_packet`.  Subclasses in this package
        queue the whole batch in one call to the core, all or nothing; this generic
        version sends packet by packet and stops at the first error (the packets
        before it stay sent).
        """
        items = _checked_packets(_packet_list(packets, "put_packets()"), "put_packets()")
        put = self._put_packet
        for data in items:
            if len(data):
                err = put(data)
                if err != _OK:
                    return err
        return _OK

    def get_packet_error(self) -> Error:
        """The ``Error`` of the last :meth:`get_packet` call."""
        return self._last_get_error

    def put_var(self, var: Any, full_objects: bool = False) -> Error:
        """Send ``var`` encoded in Godot's binary Variant format (as ``var_to_bytes``)."""
        from .variant import VariantError, encode_variant

        try:
            data = encode_variant(var, full_objects=full_objects)
        except VariantError as e:
            _logger.error("put_var: cannot encode %s: %s", type(var).__name__, e)
            return Error(e.error)
        if len(data) == 0:
            return Error.OK
        if len(data) > self._encode_buffer_max_size:
            _logger.error(
                "put_var: encoded size %d exceeds encode_buffer_max_size %d",
                len(data),
                self._encode_buffer_max_size,
            )
            return Error.ERR_OUT_OF_MEMORY
        return self.put_packet(data)

    def get_var(self, allow_objects: bool = False) -> Any:
        """Pop one packet and decode it as a Variant (``None`` and a log line on error)."""
        from .variant import VariantError, decode_variant

        err, data = self._get_packet()
        if err != Error.OK:
            _logger.error("get_var: no packet (%s)", err.name)
            return None
        try:
            value, _used = decode_variant(data, allow_objects=allow_objects)
        except VariantError as e:
            _logger.error("get_var: cannot decode the packet: %s", e)
            return None
        return value

    def set_encode_buffer_max_size(self, max_size: int) -> None:
        """Largest encoded ``put_var`` payload; rounded up to a power of two (1 KiB..256 MiB)."""
        if isinstance(max_size, bool) or not isinstance(max_size, int):
            raise TypeError("encode_buffer_max_size must be an int")
        if max_size < _ENCODE_MIN:
            _logger.error("Max encode buffer must be at least 1024 bytes")
            return
        if max_size > _ENCODE_MAX:
            _logger.error("Max encode buffer cannot exceed 256 MiB")
            return
        self._encode_buffer_max_size = 1 << (max_size - 1).bit_length()

    def get_encode_buffer_max_size(self) -> int:
        """See :meth:`set_encode_buffer_max_size`."""
        return self._encode_buffer_max_size

    encode_buffer_max_size = property(get_encode_buffer_max_size, set_encode_buffer_max_size)
