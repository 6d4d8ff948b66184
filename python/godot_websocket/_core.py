"""The bridge to the C core: contexts, groups and the event stream.

Everything that crosses the FFI boundary goes through here.  A *group* is what
one Python object polls: one ``gws_group_poll()`` call hands over every event
the core queued for it (connections accepted, opened, closing, closed,
messages, log lines) as one buffer, which :func:`Group.poll` slices.
"""

from __future__ import annotations

import atexit
import logging
import math
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

from ._gws import ffi, lib

__all__ = [
    "EV_ACCEPTED",
    "EV_CLOSED",
    "EV_CLOSING",
    "EV_LOG",
    "EV_MESSAGE",
    "EV_MESSAGE_REF",
    "EV_OPEN",
    "Context",
    "Group",
    "default_context",
    "ffi",
    "lib",
    "logger",
]

logger = logging.getLogger("godot_websocket")

EV_ACCEPTED: int = lib.GWS_EV_ACCEPTED
EV_OPEN: int = lib.GWS_EV_OPEN
EV_MESSAGE: int = lib.GWS_EV_MESSAGE
EV_CLOSING: int = lib.GWS_EV_CLOSING
EV_CLOSED: int = lib.GWS_EV_CLOSED
EV_LOG: int = lib.GWS_EV_LOG
EV_MESSAGE_REF: int = lib.GWS_EV_MESSAGE_REF

HEADER = struct.Struct("=IIiI")  # gws_event: type, serial, code, size
HEADER_SIZE = HEADER.size
_POINTER = struct.Struct("=" + ("Q" if ffi.sizeof("uintptr_t") == 8 else "I"))
_MESSAGE_REF = struct.Struct("=QQ")  # gws_message_ref: data pointer, size
_unpack_ref = _MESSAGE_REF.unpack_from
_cast = ffi.cast
_unpack = ffi.unpack


def _shutdown_and_release(ptr: Any) -> None:
    lib.gws_context_shutdown(ptr)
    lib.gws_context_release(ptr)


class Context:
    """A libwebsockets context and (unless ``threaded=False``) its service thread.

    Most programs never make one: every object uses :func:`default_context`.
    A context with ``threaded=False`` does all its I/O inside ``poll()`` calls,
    for hosts that forbid threads and for fully deterministic runs.
    """

    def __init__(self, threaded: bool = True) -> None:
        out = ffi.new("gws_context **")
        err = lib.gws_context_new(1 if threaded else 0, out)
        if err != 0:
            raise OSError(f"could not create the libwebsockets context (Error {err})")
        # A context dropped without shutdown() must stop its thread before
        # its memory can go (connections and groups hold their own references).
        self._ptr: Any = ffi.gc(out[0], _shutdown_and_release)
        self.threaded = threaded
        self._closed = False

    @property
    def ptr(self) -> Any:
        """The raw ``gws_context *``."""
        return self._ptr

    @property
    def closed(self) -> bool:
        """True after :meth:`shutdown`."""
        return self._closed

    @property
    def event_loop(self) -> str:
        """The event loop under libwebsockets: ``"libev"`` (epoll, through lws' libev
        plugin; threaded contexts when it loads) or ``"poll"`` (lws' default loop).
        ``GODOT_WEBSOCKET_EVENT_LOOP=poll|libev|auto`` forces the choice."""
        return "libev" if lib.gws_context_event_loop(self._ptr) == lib.GWS_EVENT_LOOP_LIBEV \
            else "poll"

    def shutdown(self) -> None:
        """Close every connection and listener of this context and stop its thread."""
        if not self._closed:
            self._closed = True
            lib.gws_context_shutdown(self._ptr)


_default: Context | None = None
_default_lock = threading.Lock()


def default_context() -> Context:
    """The process-wide threaded context, created on first use and shut down at exit."""
    global _default
    if _default is None or _default.closed:
        with _default_lock:
            if _default is None or _default.closed:
                _default = Context(threaded=True)
    return _default


@atexit.register
def _shutdown_default() -> None:
    if _default is not None:
        _default.shutdown()


# The longest single gws_group_wait() call: a longer wait is made of several, with
# Python's signal handlers (Ctrl-C) run between them.
_WAIT_SLICE_US = 1_000_000
_group_wait = lib.gws_group_wait
_monotonic = time.monotonic


def wait_timeout_us(timeout: float | None) -> int:
    """A ``wait()`` timeout in seconds as whole microseconds (-1: no limit).

    Raises TypeError for a non-number and ValueError for a negative one or NaN.
    """
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if timeout < 0 or math.isnan(timeout):
        raise ValueError(f"timeout must be >= 0 seconds, not {timeout!r}")
    if math.isinf(timeout):
        return -1
    us = int(timeout * 1_000_000)
    return us if us or not timeout else 1


def sleep_us(timeout_us: int) -> None:
    """Sleep for a wait() timeout that nothing can end early (-1: log, do not hang)."""
    if timeout_us < 0:
        logger.error("wait: nothing to wait for (no connection) and no timeout")
    elif timeout_us:
        time.sleep(timeout_us / 1e6)


def message_ref(buf: bytes, start: int) -> bytes:
    """The payload of the GWS_EV_MESSAGE_REF event whose data starts at ``buf[start]``.

    The core keeps such payloads out of the event buffer (large messages); they stay
    valid until the group's next ``gws_group_poll()``, so this copies them into a
    ``bytes`` right away: the one copy a large message costs on this side.
    """
    ptr, size = _unpack_ref(buf, start)
    return _unpack(_cast("char *", ptr), size)  # type: ignore[no-any-return]


def iter_events(buf: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """Parse a buffer from :meth:`Group.drain` into ``(type, serial, code, data)`` tuples.

    Must be consumed before the group's next drain (GWS_EV_MESSAGE_REF payloads are
    copied as the generator reaches them); those come out as EV_MESSAGE events.
    """
    n = len(buf)
    unpack = HEADER.unpack_from
    off = 0
    while off < n:
        etype, conn, code, size = unpack(buf, off)
        start = off + HEADER_SIZE
        if etype == EV_MESSAGE_REF:
            yield (EV_MESSAGE, conn, code, message_ref(buf, start))
        else:
            yield (etype, conn, code, buf[start : start + size])
        off = start + ((size + 7) & ~7)


class Group:
    """An event sink in the core: the connections one Python object polls together."""

    def __init__(self, context: Context, auto_release: bool) -> None:
        out = ffi.new("gws_group **")
        err = lib.gws_group_new(context.ptr, 1 if auto_release else 0, out)
        if err != 0:
            raise MemoryError("could not create a connection group")
        self.context = context
        self.ptr: Any = ffi.gc(out[0], lib.gws_group_release)
        self._buf = ffi.new("const uint8_t **")
        self._len = ffi.new("size_t *")
        self._index = ffi.new("const uint32_t **")
        self._nmsgs = ffi.new("size_t *")
        self._nother = ffi.new("size_t *")
        self._fmt = ffi.new("const char **")
        self._fmt_len = ffi.new("size_t *")
        self._nempty = ffi.new("size_t *")
        self._tags = ffi.new("const int32_t **")
        self._nuntagged = ffi.new("size_t *")
        #: Nonzero while the core holds undrained events (read as ``flag[0]``, no
        #: call, no lock); only meaningful when :attr:`threaded`.
        self.flag: Any = lib.gws_group_events_flag(self.ptr)
        #: Whether the core works on its own: then a zero :attr:`flag` means an
        #: idle poll has nothing to do.  Without a thread, draining is also the
        #: service step and must always run.
        self.threaded: bool = context.threaded

    def drain(self) -> bytes:
        """Every queued event, as one ``bytes`` copy of the core's buffer (one FFI call).

        Records are laid out as :data:`HEADER` (type, serial, code, size) followed by
        ``size`` bytes of data, padded to a multiple of 8; :meth:`poll` parses them.
        Copying once and slicing ``bytes`` is cheaper than slicing the C buffer per event.
        """
        lib.gws_group_poll(self.ptr, self._buf, self._len)
        n = self._len[0]
        return ffi.buffer(self._buf[0], n)[:] if n else b""

    def drain_indexed(self) -> tuple[bytes, memoryview | None, int]:
        """Like :meth:`drain`, plus the core's index of the messages in it.

        Returns ``(buffer, index, others)``: ``index`` is ``None`` when the buffer holds
        no message, else a ``uint32`` view of (serial, start, end) triples, one per
        message in order, ``start:end`` being its data in ``buffer``; ``others`` is the
        number of events that are not messages.  With ``others == 0`` a caller can hand
        every message on in bulk without parsing a single header.
        """
        lib.gws_group_poll_indexed(self.ptr, self._buf, self._len, self._index,
                                   self._nmsgs, self._nother)
        n = self._len[0]
        if not n:
            return b"", None, 0
        buf = ffi.buffer(self._buf[0], n)[:]
        nm = self._nmsgs[0]
        index = memoryview(ffi.buffer(self._index[0], nm * 12)[:]).cast("I") if nm else None
        return buf, index, self._nother[0]

    def drain_split(self) -> tuple[Any, memoryview | None, int, bytes, int, memoryview | None,
                                   int]:
        """Like :meth:`drain_indexed`, without copying: ``(raw, index, others, fmt,
        nempty, tags, nuntagged)``.

        ``raw`` is the core's buffer itself (a cffi buffer, ``None`` when empty) and
        ``index`` a ``uint32`` view of the core's message index (``None`` without
        messages): both valid only until this group's next drain, so a caller uses
        them at once (``raw[:]`` copies).  ``fmt`` is a :mod:`struct` format that
        unpacks every indexed message's payload from ``raw``, in order, in one call;
        ``nempty`` how many of them are empty.  ``tags`` an ``int32`` view of each
        indexed message's connection tag (:meth:`set_tag`; 0: none), ``nuntagged``
        how many have none.
        """
        lib.gws_group_poll_split(self.ptr, self._buf, self._len, self._index,
                                 self._nmsgs, self._nother, self._fmt, self._fmt_len,
                                 self._nempty, self._tags, self._nuntagged)
        n = self._len[0]
        if not n:
            return None, None, 0, b"", 0, None, 0
        raw = ffi.buffer(self._buf[0], n)
        nm = self._nmsgs[0]
        if not nm:
            return raw, None, self._nother[0], b"", 0, None, 0
        index = memoryview(ffi.buffer(self._index[0], nm * 12)).cast("I")
        tags = memoryview(ffi.buffer(self._tags[0], nm * 4)).cast("i")
        return (raw, index, self._nother[0], _unpack(self._fmt[0], self._fmt_len[0]),
                self._nempty[0], tags, self._nuntagged[0])

    def set_tag(self, serial: int, tag: int) -> None:
        """Name connection ``serial`` by ``tag`` (an int32 other than 0) in
        :meth:`drain_split`'s tags; ``tag`` 0 forgets it."""
        lib.gws_group_set_tag(self.ptr, serial, tag)

    def poll(self) -> Iterator[tuple[int, int, int, bytes]]:
        """Drain every queued event (one FFI call), yielding them in order.

        Each event is a plain tuple ``(type, serial, code, data)``: the ``gws_event``
        fields of ``csrc/gws.h`` and the bytes that follow it (a NamedTuple would
        cost more than the rest of the parse).
        """
        return iter_events(self.drain())

    def wait(self, timeout_us: int) -> bool:
        """Block until the core holds undrained events for this group (True) or
        ``timeout_us`` microseconds passed (False); -1: no limit.

        The C call releases the GIL.  Threaded context: sleeps until the service
        thread queues an event; without a thread: runs the service step, blocking.
        """
        ptr = self.ptr
        r: int
        if 0 <= timeout_us <= _WAIT_SLICE_US:
            r = _group_wait(ptr, timeout_us)
            if r >= 0:
                return r > 0
        # long, unlimited or interrupted by a signal: slices, with Python's signal
        # handlers run in between (a KeyboardInterrupt ends the wait)
        deadline = None if timeout_us < 0 else _monotonic() + timeout_us / 1e6
        while True:
            if deadline is None:
                us = _WAIT_SLICE_US
            else:
                us = min(_WAIT_SLICE_US, max(0, int((deadline - _monotonic()) * 1e6)))
            r = _group_wait(ptr, us)
            if r > 0:
                return True
            if not us:
                return False

    def fileno(self) -> int:
        """The group's eventfd: readable while the core holds undrained events.

        Raises ``io.UnsupportedOperation`` on a context without a thread.
        """
        fd = int(lib.gws_group_fd(self.ptr))
        if fd < 0:
            import io

            raise io.UnsupportedOperation(
                "fileno() needs a threaded context (no-thread contexts do their I/O "
                "inside poll()/wait())" if not self.threaded else "could not create an eventfd")
        return fd

    @staticmethod
    def conn_pointer(data: bytes) -> Any:
        """The ``gws_conn *`` carried by an ACCEPTED event."""
        (value,) = _POINTER.unpack(data)
        return ffi.cast("gws_conn *", value)


def log_core_line(level: int, data: bytes) -> None:
    """Forward a log line emitted by the core to the ``godot_websocket`` logger."""
    logger.log(level, "%s", data.decode("utf-8", "replace"))
