"""``WebSocketPeer``: one WebSocket connection with Godot's API (spec §4)."""

from __future__ import annotations

import enum
import logging
import socket
import ssl
from array import array
from collections import deque
from collections.abc import Iterable
from typing import Any

from . import _core
from ._core import EV_CLOSED, EV_CLOSING, EV_LOG, EV_MESSAGE, EV_OPEN, Context, Group, ffi, lib
from .error import Error
from .packet_peer import Packet, PacketPeer, _as_bytes, _join_packets, _max_count
from .tls import TLSOptions
from .url import URLError, parse_url

__all__ = ["WebSocketPeer"]

_logger = logging.getLogger("godot_websocket")

_MAX_CLOSE_REASON = 123


class _State(enum.IntEnum):
    STATE_CONNECTING = 0
    STATE_OPEN = 1
    STATE_CLOSING = 2
    STATE_CLOSED = 3


# Hot paths compare enum members by identity (enum attribute lookups are slow).
_OPEN = _State.STATE_OPEN
_OK = Error.OK
_conn_send = lib.gws_conn_send


class _WriteMode(enum.IntEnum):
    WRITE_MODE_TEXT = 0
    WRITE_MODE_BINARY = 1


def _string_list(value: Any, what: str) -> list[str]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{what} must be a list of str (a PackedStringArray)")
    out = []
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{what} must contain only str, not {type(item).__name__}")
        out.append(item)
    return out


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return value


class _TLSArgs:
    """Keeps the C strings of a ``gws_tls`` alive as long as the struct is used."""

    def __init__(self, options: TLSOptions | None, host: str) -> None:
        self._keep: list[Any] = []
        self.ptr: Any = ffi.new("gws_tls *")
        o = options if options is not None else TLSOptions.client()
        chain = o.get_trusted_ca_chain()
        if chain is not None and chain.save_to_string():
            self.ptr.ca_pem = self._str(chain.save_to_string())
        if o.is_server():
            key, cert = o.get_private_key(), o.get_own_certificate()
            if cert is not None and cert.save_to_string():
                self.ptr.cert_pem = self._str(cert.save_to_string())
            if key is not None and key.save_to_string():
                self.ptr.key_pem = self._str(key.save_to_string())
        name = o.get_common_name_override() or host
        self.ptr.server_name = self._str(name)
        unsafe_no_chain = o.is_unsafe_client() and chain is None
        self.ptr.verify = 0 if unsafe_no_chain else 1
        self.ptr.check_hostname = 0 if o.is_unsafe_client() else 1

    def _str(self, s: str) -> Any:
        c = ffi.new("char[]", s.encode("utf-8"))
        self._keep.append(c)
        return c


class WebSocketPeer(PacketPeer):
    """A WebSocket connection: a client (:meth:`connect_to_url`) or the server side of one.

    Like Godot's, it is non-blocking and only changes state inside :meth:`poll`;
    call ``poll()`` regularly (every frame) while the connection is in use.  The
    I/O itself runs on the core's service thread, so data moves even between polls.

    ``context`` (not in Godot) selects a :class:`~godot_websocket.Context`;
    by default the process-wide threaded one.
    """

    State = _State
    WriteMode = _WriteMode
    STATE_CONNECTING = _State.STATE_CONNECTING
    STATE_OPEN = _State.STATE_OPEN
    STATE_CLOSING = _State.STATE_CLOSING
    STATE_CLOSED = _State.STATE_CLOSED
    WRITE_MODE_TEXT = _WriteMode.WRITE_MODE_TEXT
    WRITE_MODE_BINARY = _WriteMode.WRITE_MODE_BINARY

    def __init__(self, *, context: Context | None = None) -> None:
        super().__init__()
        self._context = context
        self._supported_protocols: list[str] = []
        self._handshake_headers: list[str] = []
        self._inbound_buffer_size = 65535
        self._outbound_buffer_size = 65535
        self._max_queued_packets = 4096
        self._heartbeat_ms = 0
        self._conn_inbound = 65535  # inbound_buffer_size of the current connection
        self._group: Group | None = None
        self._conn: Any = None
        self._serial = 0
        self._owns_group = True
        self._server_tls = False  # server side: requested URL scheme is wss://
        # put_packet()/get_packet() inline the common case, unless a subclass
        # overrides the core operations (then every packet goes through them).
        cls = type(self)
        self._inline_put = cls._put_packet is WebSocketPeer._put_packet
        self._inline_get = cls._get_packet is WebSocketPeer._get_packet
        self._reset_connection_state()
        self._close_code = -1
        self._close_reason = ""

    def _reset_connection_state(self) -> None:
        self._state = _State.STATE_CLOSED
        self._rx: deque[tuple[bytes, bool]] = deque()
        self._consumed_msgs = 0
        self._consumed_bytes = 0
        self._was_string = False
        self._selected_protocol = ""
        self._requested_url = ""
        self._host = ""
        self._port = 0

    # -- properties -------------------------------------------------------------

    def set_supported_protocols(self, protocols: list[str]) -> None:
        """Sub-protocols to offer (client) or accept (server); entries are stripped."""
        protocols = _string_list(protocols, "supported_protocols")
        self._supported_protocols = [p.strip() for p in protocols]

    def get_supported_protocols(self) -> list[str]:
        """A copy of the sub-protocol list."""
        return list(self._supported_protocols)

    supported_protocols = property(get_supported_protocols, set_supported_protocols)

    def set_handshake_headers(self, protocols: list[str]) -> None:
        """Extra ``"Name: value"`` header lines sent in the handshake."""
        self._handshake_headers = _string_list(protocols, "handshake_headers")

    def get_handshake_headers(self) -> list[str]:
        """A copy of the extra handshake header lines."""
        return list(self._handshake_headers)

    handshake_headers = property(get_handshake_headers, set_handshake_headers)

    def set_inbound_buffer_size(self, buffer_size: int) -> None:
        """Largest message accepted, and the inbound byte budget (read at connect time)."""
        self._inbound_buffer_size = _int(buffer_size, "inbound_buffer_size")

    def get_inbound_buffer_size(self) -> int:
        """See :meth:`set_inbound_buffer_size`."""
        return self._inbound_buffer_size

    inbound_buffer_size = property(get_inbound_buffer_size, set_inbound_buffer_size)

    def set_outbound_buffer_size(self, buffer_size: int) -> None:
        """Outbound byte budget (checked at every send; ``<= 0``: unlimited)."""
        self._outbound_buffer_size = _int(buffer_size, "outbound_buffer_size")
        self._push_limits()

    def get_outbound_buffer_size(self) -> int:
        """See :meth:`set_outbound_buffer_size`."""
        return self._outbound_buffer_size

    outbound_buffer_size = property(get_outbound_buffer_size, set_outbound_buffer_size)

    def set_max_queued_packets(self, buffer_size: int) -> None:
        """Message slots in each direction."""
        self._max_queued_packets = _int(buffer_size, "max_queued_packets")
        self._push_limits()

    def get_max_queued_packets(self) -> int:
        """See :meth:`set_max_queued_packets`."""
        return self._max_queued_packets

    max_queued_packets = property(get_max_queued_packets, set_max_queued_packets)

    def set_heartbeat_interval(self, interval: float) -> None:
        """Seconds between pings; a ping left unanswered until the next one drops the peer."""
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise TypeError("heartbeat_interval must be a number of seconds")
        if interval < 0:
            _logger.error("heartbeat_interval must be >= 0")
            return
        self._heartbeat_ms = int(interval * 1000)
        if self._conn is not None:
            lib.gws_conn_set_heartbeat(self._conn, self._heartbeat_ms)

    def get_heartbeat_interval(self) -> float:
        """See :meth:`set_heartbeat_interval`."""
        return self._heartbeat_ms / 1000.0

    heartbeat_interval = property(get_heartbeat_interval, set_heartbeat_interval)

    # -- internals --------------------------------------------------------------

    def _limits(self) -> Any:
        limits = ffi.new("gws_limits *")
        limits.inbound_buffer_size = self._inbound_buffer_size
        limits.outbound_buffer_size = self._outbound_buffer_size
        limits.max_queued_packets = self._max_queued_packets
        return limits

    def _push_limits(self) -> None:
        if self._conn is not None:
            limits = self._limits()
            # inbound_buffer_size is read once per connection, as in Godot
            # (there, when it opens): a later change must not reach the core.
            limits.inbound_buffer_size = self._conn_inbound
            lib.gws_conn_set_limits(self._conn, limits)

    def _ctx(self) -> Context:
        if self._context is None or self._context.closed:
            self._context = _core.default_context()
        return self._context

    def _drop_conn(self) -> None:
        """Release the core's connection (TCP dropped if still up)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            ffi.release(conn)

    def _adopt(self, conn: Any, group: Group, state: _State) -> None:
        """Bind to a connection owned by another object's group (server side)."""
        self._drop_conn()
        self._reset_connection_state()
        self._group = group
        self._owns_group = False
        self._conn_inbound = self._inbound_buffer_size
        self._conn = ffi.gc(conn, lib.gws_conn_release)
        self._serial = lib.gws_conn_serial(conn)
        self._state = state
        self._close_code = -1
        self._close_reason = ""

    def _apply_event(self, etype: int, code: int, data: bytes) -> None:
        """Apply one core event to this peer's Godot-visible state."""
        if etype == EV_MESSAGE:
            if self._state == _State.STATE_OPEN:
                self._rx.append((data, code == 1))
            else:
                # Godot discards what arrives while CLOSING; give the
                # budget back so the core keeps reading.
                self._consumed_msgs += 1
                self._consumed_bytes += len(data)
        elif etype == EV_OPEN:
            if self._state == _State.STATE_CONNECTING:
                proto, host_header, path, ip = [*data.split(b"\0"), b"", b"", b"", b""][:4]
                self._state = _State.STATE_OPEN
                self._selected_protocol = proto.decode("utf-8", "replace")
                self._host = ip.decode("ascii", "replace")
                self._port = code
                if not self._requested_url:
                    scheme = "wss://" if self._server_tls else "ws://"
                    self._requested_url = (
                        scheme
                        + host_header.decode("utf-8", "replace")
                        + path.decode("utf-8", "replace")
                    )
                if self._heartbeat_ms and self._conn is not None:
                    lib.gws_conn_set_heartbeat(self._conn, self._heartbeat_ms)
        elif etype == EV_CLOSING:
            if self._state == _State.STATE_OPEN:
                self._state = _State.STATE_CLOSING
            self._close_code = code
            self._close_reason = data.decode("utf-8", "replace")
        elif etype == EV_CLOSED:
            if self._state != _State.STATE_CLOSED:
                self._state = _State.STATE_CLOSED
                self._close_code = code
                self._close_reason = data.decode("utf-8", "replace")
            self._rx.clear()
            self._consumed_msgs = self._consumed_bytes = 0
            self._drop_conn()
        elif etype == EV_LOG:
            _core.log_core_line(code, data)

    # -- connection -------------------------------------------------------------

    def connect_to_url(self, url: str, tls_client_options: TLSOptions | None = None) -> Error:
        """Start connecting to ``ws://`` or ``wss://`` ``url``; progress happens in :meth:`poll`."""
        if not isinstance(url, str):
            raise TypeError("url must be a str")
        if tls_client_options is not None and not isinstance(tls_client_options, TLSOptions):
            raise TypeError("tls_client_options must be a TLSOptions or None")
        if not url:
            _logger.error("connect_to_url: empty URL")
            return Error.ERR_INVALID_PARAMETER
        if tls_client_options is not None and tls_client_options.is_server():
            _logger.error("connect_to_url: server TLS options given to a client")
            return Error.ERR_INVALID_PARAMETER
        if self._state in (_State.STATE_CONNECTING, _State.STATE_OPEN):
            _logger.error("connect_to_url: the peer is already in use")
            return Error.ERR_ALREADY_IN_USE
        # Godot clears the peer here, before parsing: a bad URL still resets it.
        self._drop_conn()
        self._reset_connection_state()
        self._close_code = -1
        self._close_reason = ""
        try:
            parsed = parse_url(url)
        except URLError as e:
            _logger.error("connect_to_url: invalid URL %r: %s", url, e)
            return Error.ERR_INVALID_PARAMETER
        if parsed.scheme not in ("ws://", "wss://"):
            _logger.error("connect_to_url: unsupported scheme %r", parsed.scheme)
            return Error.ERR_INVALID_PARAMETER

        err = self._new_conn()
        if err != Error.OK:
            return err

        tls = _TLSArgs(tls_client_options, parsed.host) if parsed.tls else None
        keep = [
            ffi.new("char[]", parsed.host.encode("utf-8")),
            ffi.new("char[]", parsed.path.encode("utf-8")),
            ffi.new("char[]", parsed.host_header().encode("utf-8")),
        ]
        args = ffi.new("gws_connect_args *")
        args.address, args.path, args.host_header = keep
        args.port = parsed.port
        protocols, headers = self._handshake_cstrings()
        args.protocols, args.headers = protocols, headers
        if tls is not None:
            args.tls = tls.ptr
        err = lib.gws_conn_connect(self._conn, args)
        if err != 0:
            self._drop_conn()
            return Error(err)
        self._state = _State.STATE_CONNECTING
        self._requested_url = url
        return Error.OK

    def _handshake_cstrings(self) -> tuple[Any, Any]:
        """``supported_protocols`` (comma-separated) and ``handshake_headers`` (CRLF
        between lines) as C strings for the core, ``ffi.NULL`` when empty; the caller
        keeps them alive while the core reads them."""
        protocols = headers = ffi.NULL
        if self._supported_protocols:
            protocols = ffi.new("char[]", ",".join(self._supported_protocols).encode("utf-8"))
        if self._handshake_headers:
            headers = ffi.new("char[]", "\r\n".join(self._handshake_headers).encode("utf-8"))
        return protocols, headers

    def _new_conn(self) -> Error:
        """A fresh core connection in this peer's group (made on first use)."""
        ctx = self._ctx()
        if self._group is None or (self._owns_group and self._group.context is not ctx):
            self._group = Group(ctx, auto_release=False)
            self._owns_group = True
        out = ffi.new("gws_conn **")
        self._conn_inbound = self._inbound_buffer_size
        err = lib.gws_conn_new(self._group.ptr, self._limits(), out)
        if err != 0:
            return Error(err)
        self._conn = ffi.gc(out[0], lib.gws_conn_release)
        self._serial = lib.gws_conn_serial(out[0])
        return Error.OK

    def accept_stream(self, stream: Any, request: str | bytes = "") -> Error:
        """Run the server side of a WebSocket on a TCP connection the program accepted.

        ``stream`` is a connected TCP :class:`socket.socket` (Python has no StreamPeer)
        whose HTTP upgrade request is still unread, or was read only as far as
        ``request`` (what was read of it, handed over: Godot's optional second
        argument after 4.7).  On ``OK`` the peer owns the socket: it is detached from
        ``stream`` (whose ``fileno()`` becomes -1) and closed with the peer.  The state
        is ``STATE_CONNECTING`` until the handshake, which the I/O thread runs (10 s at
        most), succeeds (``STATE_OPEN``) or fails (``STATE_CLOSED``).

        Returns ``ERR_INVALID_PARAMETER`` for ``None`` or anything but a connected TCP
        socket, ``ERR_ALREADY_IN_USE`` while connecting or open, and
        ``ERR_UNAVAILABLE`` for an :class:`ssl.SSLSocket` (its TLS session cannot be
        handed to the core; see ``docs/differences.md``).  Raises ``TypeError`` when
        ``request`` is neither ``str`` nor ``bytes``.
        """
        if not isinstance(request, (str, bytes)):
            raise TypeError("request must be a str or bytes")
        if stream is None:
            _logger.error("accept_stream: no stream")
            return Error.ERR_INVALID_PARAMETER
        if self._state in (_State.STATE_CONNECTING, _State.STATE_OPEN):
            _logger.error("accept_stream: the peer is already in use")
            return Error.ERR_ALREADY_IN_USE
        if not isinstance(stream, socket.socket) or stream.type != socket.SOCK_STREAM or \
                stream.family not in (socket.AF_INET, socket.AF_INET6):
            _logger.error("accept_stream: %r is not a TCP socket", stream)
            return Error.ERR_INVALID_PARAMETER
        if isinstance(stream, ssl.SSLSocket):
            _logger.error("accept_stream: a TLS socket's session cannot be handed over; "
                          "use create_server() with TLSOptions.server()")
            return Error.ERR_UNAVAILABLE
        try:
            stream.getpeername()
        except OSError:
            _logger.error("accept_stream: the socket is not connected")
            return Error.ERR_INVALID_PARAMETER
        head = request.encode("utf-8") if isinstance(request, str) else request
        # Godot clears the peer here, as connect_to_url() does.
        self._drop_conn()
        self._reset_connection_state()
        self._close_code = -1
        self._close_reason = ""
        err = self._new_conn()
        if err != Error.OK:
            return err
        protocols, headers = self._handshake_cstrings()
        fd = stream.fileno()
        err = Error(lib.gws_conn_accept_fd(self._conn, fd, protocols, headers, head, len(head)))
        if err != Error.OK:
            self._drop_conn()
            if err == Error.ERR_UNAVAILABLE:
                _logger.error("accept_stream: unavailable with GODOT_WEBSOCKET_SERVER=lws")
            return err
        stream.detach()  # the core owns the descriptor now
        self._server_tls = False
        self._state = _State.STATE_CONNECTING
        return Error.OK

    def poll(self) -> None:
        """Apply everything the connection did since the last poll (state, messages, close)."""
        group = self._group
        if group is None or not self._owns_group:
            return
        conn = self._conn
        if conn is not None and self._consumed_msgs:
            lib.gws_conn_rx_release(conn, self._consumed_msgs, self._consumed_bytes)
            self._consumed_msgs = self._consumed_bytes = 0
        elif group.threaded and not group.flag[0]:
            return  # idle: the core queued nothing (one memory read)
        serial = self._serial
        for etype, ev_serial, code, data in group.poll():
            if ev_serial == serial or etype == EV_LOG:
                self._apply_event(etype, code, data)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until there is something to do, or ``timeout`` seconds pass (not in Godot).

        Returns True at once when messages are waiting (:meth:`get_available_packet_count`),
        else True as soon as the connection has news for :meth:`poll` (a message, the
        handshake's end, a close), False after ``timeout`` seconds with none; ``None``
        waits without a limit, ``0`` only looks.  The thread sleeps (the GIL released)
        instead of spinning; on a context without a thread the wait *is* the I/O step
        (sends queued by :meth:`put_packet` leave meanwhile).  Typical loop::

            while ws.get_ready_state() != WebSocketPeer.STATE_CLOSED:
                ws.wait(0.1)
                ws.poll()
                while ws.get_available_packet_count():
                    handle(ws.get_packet())

        Raises TypeError for a non-number, ValueError for a negative ``timeout``.
        A peer that never connected sleeps ``timeout`` and returns False.
        """
        us = _core.wait_timeout_us(timeout)
        if self._rx and self._state is _OPEN:
            return True
        group = self._group
        if group is None:
            _core.sleep_us(us)
            return False
        conn = self._conn
        if conn is not None and self._consumed_msgs:
            # what poll() would do first: the core may have paused reading until
            # the budget of consumed messages comes back
            lib.gws_conn_rx_release(conn, self._consumed_msgs, self._consumed_bytes)
            self._consumed_msgs = self._consumed_bytes = 0
        return group.wait(us)

    def fileno(self) -> int:
        """A file descriptor that is readable while :meth:`poll` has news (not in Godot).

        For ``selectors``/``select``/asyncio's ``loop.add_reader()``: wait on it, then
        call :meth:`poll` (which resets it).  Never read or close it; it belongs to the
        connection's event group and stays valid until the peer connects anew on
        another context or is freed.  Threaded contexts only: raises
        ``io.UnsupportedOperation`` on a ``Context(threaded=False)`` or before
        :meth:`connect_to_url`.
        """
        if self._group is None:
            import io

            raise io.UnsupportedOperation("fileno(): not connected yet")
        return self._group.fileno()

    def get_ready_state(self) -> _State:
        """The connection's State."""
        return self._state

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (``code < 0``: drop the connection at once)."""
        code = _int(code, "code")
        if not isinstance(reason, str):
            raise TypeError("reason must be a str")
        state = self._state
        if code < 0 or state == _State.STATE_CONNECTING:
            if self._conn is not None:
                lib.gws_conn_close(self._conn, -1, ffi.NULL, 0)
            self._drop_conn()
            self._state = _State.STATE_CLOSED
            self._rx.clear()
            return
        if state != _State.STATE_OPEN:
            return
        raw = reason.encode("utf-8")
        self._state = _State.STATE_CLOSING
        if len(raw) > _MAX_CLOSE_REASON:
            # Godot's frame engine refuses the frame; the state is CLOSING
            # all the same and nothing is sent.
            _logger.error("close: reason longer than 123 bytes, no close frame sent")
            return
        if self._conn is not None:
            lib.gws_conn_close(self._conn, code & 0xFFFF, raw, len(raw))

    # -- sending ------------------------------------------------------------------

    def _send(self, data: bytes | bytearray | memoryview, text: bool) -> Error:
        if self._state is not _OPEN or self._conn is None:
            _logger.error("send: the connection is not open")
            return Error.FAILED
        payload = data if type(data) is bytes else ffi.from_buffer(data)
        err = _conn_send(self._conn, payload, len(data), 1 if text else 0)
        if not err:
            return _OK
        return self._send_refused(err)

    @staticmethod
    def _send_refused(err: int) -> Error:
        if err == 6:
            _logger.error("send: outbound buffer full (ERR_OUT_OF_MEMORY)")
        elif err != 0:
            _logger.error("send: the connection is not open")
        return Error(err)

    def _send_many(self, data: bytes, lens: array[int], text: bool) -> Error:
        """Queue a joined batch (see ``_join_packets``) in one core call, all or nothing."""
        if not lens:
            return _OK
        if self._state is not _OPEN or self._conn is None:
            _logger.error("send: the connection is not open")
            return Error.FAILED
        err = lib.gws_conn_send_many(self._conn, data, ffi.from_buffer("size_t[]", lens),
                                     len(lens), 1 if text else 0)
        if not err:
            return _OK
        if err == 6:
            _logger.error("send: outbound buffer full (ERR_OUT_OF_MEMORY), batch of %d "
                          "packets not queued", len(lens))
        else:
            _logger.error("send: the connection is not open")
        return Error(err)

    def send(
        self,
        message: bytes | bytearray | memoryview,
        write_mode: int = _WriteMode.WRITE_MODE_BINARY,
    ) -> Error:
        """Send one message (text frames carry the bytes as they are)."""
        data = _as_bytes(message, "send()")
        mode = _int(write_mode, "write_mode")
        if mode not in (0, 1):
            raise ValueError("write_mode must be WRITE_MODE_TEXT or WRITE_MODE_BINARY")
        return self._send(data, mode == 0)

    def send_text(self, message: str) -> Error:
        """Send ``message`` as a UTF-8 text frame."""
        if not isinstance(message, str):
            raise TypeError("send_text() expects a str")
        return self._send(message.encode("utf-8"), True)

    def _put_packet(self, data: bytes | bytearray | memoryview) -> Error:
        return self._send(data, False)

    def put_packet(self, buffer: bytes | bytearray | memoryview) -> Error:
        """Send one binary message (an empty buffer returns ``OK`` and sends nothing)."""
        # The common case inline (a hot path, one Python call): bytes on an open
        # connection.
        if self._inline_put and type(buffer) is bytes and buffer and self._state is _OPEN:
            conn = self._conn
            if conn is not None:
                err = _conn_send(conn, buffer, len(buffer), 0)
                return _OK if not err else self._send_refused(err)
        return super().put_packet(buffer)

    def put_packets(self, packets: Iterable[Packet]) -> Error:
        """Send several binary messages, in order, with one call into the core.

        Not in Godot (see docs/differences.md).  All or nothing: ``OK`` when every
        packet was queued; ``ERR_OUT_OF_MEMORY`` when the queue has no room for all
        of them (``max_queued_packets`` messages, ``outbound_buffer_size`` bytes; a
        batch larger than those limits can never be queued whole) and ``FAILED`` when
        the connection is not open, with nothing queued.  Empty packets send nothing.
        ``TypeError`` if ``packets`` is not a list (or iterable) of bytes-like objects.
        A subclass that overrides ``_put_packet`` gets one call per packet instead,
        stopping at the first error (see :meth:`PacketPeer.put_packets`).
        """
        if not self._inline_put:
            return super().put_packets(packets)
        data, lens = _join_packets(packets, "put_packets()")
        return self._send_many(data, lens, False)

    # -- receiving ----------------------------------------------------------------

    def _get_packet(self) -> tuple[Error, bytes]:
        if self._state != _State.STATE_OPEN:
            _logger.error("get_packet: the connection is not open")
            return Error.FAILED, b""
        if not self._rx:
            return Error.ERR_UNAVAILABLE, b""
        data, text = self._rx.popleft()
        self._was_string = text
        self._consumed_msgs += 1
        self._consumed_bytes += len(data)
        return Error.OK, data

    def get_packet(self) -> bytes:
        """Pop the next message (``b""`` on error; see :meth:`get_packet_error`)."""
        # The common case inline (a hot path), as _get_packet() does it.
        rx = self._rx
        if rx and self._inline_get and self._state is _OPEN:
            data, self._was_string = rx.popleft()
            self._consumed_msgs += 1
            self._consumed_bytes += len(data)
            self._last_get_error = _OK
            return data
        return super().get_packet()

    def get_packets(self, max_count: int = -1) -> list[bytes]:
        """Pop up to ``max_count`` messages at once (all waiting ones if negative).

        Not in Godot (see docs/differences.md): exactly what that many
        :meth:`get_packet` calls would return, in order, for a fraction of the
        cost; :meth:`was_string_packet` then describes the last one.  Returns
        ``[]`` without a log line when none is waiting; :meth:`get_packet_error`
        is ``OK``, or ``FAILED`` when the connection is not open.
        """
        if not self._inline_get:
            return super().get_packets(max_count)
        rx = self._rx
        n = _max_count(max_count, len(rx))
        if self._state is not _OPEN:
            self._last_get_error = Error.FAILED
            return []
        self._last_get_error = _OK
        if not n:
            return []
        if n == len(rx):
            items = list(rx)
            rx.clear()
        else:
            pop = rx.popleft
            items = [pop() for _ in range(n)]
        out = [d for d, _ in items]
        self._was_string = items[-1][1]
        self._consumed_msgs += n
        self._consumed_bytes += sum(map(len, out))
        return out

    def get_available_packet_count(self) -> int:
        """Whole messages waiting (0 unless OPEN)."""
        return len(self._rx) if self._state == _State.STATE_OPEN else 0

    def was_string_packet(self) -> bool:
        """Whether the last message :meth:`get_packet` returned was a text frame."""
        return self._was_string

    # -- information --------------------------------------------------------------

    def get_close_code(self) -> int:
        """The close code (-1: not a clean close; 0: a close frame without a code)."""
        return self._close_code

    def get_close_reason(self) -> str:
        """The reason of the close frame received."""
        return self._close_reason

    def get_connected_host(self) -> str:
        """The remote IP address (``""`` without a connection)."""
        if self._conn is None or self._state == _State.STATE_CLOSED:
            _logger.error("get_connected_host: not connected")
            return ""
        return self._host

    def get_connected_port(self) -> int:
        """The remote TCP port (0 without a connection)."""
        if self._conn is None or self._state == _State.STATE_CLOSED:
            _logger.error("get_connected_port: not connected")
            return 0
        return self._port

    def get_selected_protocol(self) -> str:
        """The negotiated sub-protocol (``""`` if none)."""
        return self._selected_protocol

    def get_requested_url(self) -> str:
        """Client: the URL given to connect_to_url; server: scheme + Host header + path."""
        return self._requested_url

    def get_current_outbound_buffered_amount(self) -> int:
        """Bytes queued for sending and not yet written (0 unless OPEN)."""
        if self._conn is None or self._state != _State.STATE_OPEN:
            return 0
        return int(lib.gws_conn_outbound_buffered(self._conn))

    def set_no_delay(self, enabled: bool) -> None:
        """Toggle TCP_NODELAY (on by default)."""
        if self._conn is None:
            _logger.error("set_no_delay: not connected")
            return
        lib.gws_conn_set_no_delay(self._conn, 1 if enabled else 0)

    def get_max_packet_size(self) -> int:
        """``inbound_buffer_size`` while a connection is set up, else 0 (not bound in Godot)."""
        return self._inbound_buffer_size if self._conn is not None else 0

    def __repr__(self) -> str:
        return f"<WebSocketPeer {self._state.name} {self._requested_url!r}>"
