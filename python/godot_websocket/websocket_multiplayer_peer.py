"""``WebSocketMultiplayerPeer``: Godot 4's WebSocket multiplayer transport (spec §1, §7.1).

Wire protocol: right after the WebSocket handshake the server sends the new
client its id as one 4-byte binary message (int32 little-endian, >= 2); after
that every packet is one binary message with no header.

All connections of one peer share one event group in the C core, so a
``poll()`` drains every accept, open, message and close of every connection
in a single FFI call; broadcasts share one copy of the payload in C.
"""

from __future__ import annotations

import ipaddress
import logging
import struct
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from . import _core
from ._core import (
    EV_ACCEPTED,
    EV_CLOSED,
    EV_CLOSING,
    EV_LOG,
    EV_MESSAGE,
    EV_MESSAGE_REF,
    EV_OPEN,
    HEADER,
    HEADER_SIZE,
    Context,
    Group,
    ffi,
    lib,
    message_ref,
)
from .error import Error
from .multiplayer_peer import MultiplayerPeer, _ConnectionStatus, _TransferMode
from .packet_peer import Packet, _join_packets, _max_count
from .tls import TLSOptions
from .websocket_peer import WebSocketPeer, _conn_send, _State, _string_list, _TLSArgs

__all__ = ["WebSocketMultiplayerPeer"]

_logger = logging.getLogger("godot_websocket")
_ID = struct.Struct("<i")
_Struct = struct.Struct
_PROTO_SIZE = 9  # the 3.x header size Godot still subtracts in get_max_packet_size()
# Hot paths compare enum members by identity (attribute lookups on enums are slow).
_OK = Error.OK
_CONNECTED = _ConnectionStatus.CONNECTION_CONNECTED
_WS_OPEN = _State.STATE_OPEN
_DISCONNECTED = _ConnectionStatus.CONNECTION_DISCONNECTED
_OPEN = _State.STATE_OPEN


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class _Pending:
    __slots__ = ("start_ms", "ws")

    def __init__(self, start_ms: int, ws: WebSocketPeer) -> None:
        self.start_ms = start_ms
        self.ws = ws


def _valid_bind_address(address: str) -> bool:
    if address == "*":
        return True
    try:
        if ":" in address:
            ipaddress.IPv6Address(address)
            return True
        if len(address.split(".")) == 4:
            ipaddress.IPv4Address(address)
            return True
    except ValueError:
        return False
    return False


class WebSocketMultiplayerPeer(MultiplayerPeer):
    """A multiplayer server (:meth:`create_server`) or client (:meth:`create_client`).

    ``context`` (not in Godot) selects a :class:`~godot_websocket.Context`; by
    default the process-wide threaded one.
    """

    def __init__(self, *, context: Context | None = None) -> None:
        super().__init__()
        self._context = context
        # The "template" settings copied into every new connection.
        self._template = WebSocketPeer(context=context)
        self._handshake_timeout_ms = 3000
        self._target_peer = 0
        self._group: Group | None = None
        self._listener: Any = None
        self._status = _ConnectionStatus.CONNECTION_DISCONNECTED
        self._unique_id = 0
        self._server = False
        self._server_tls = False
        self._client_start_ms = 0
        self._peers: dict[int, WebSocketPeer] = {}
        self._pending: dict[int, _Pending] = {}
        self._by_serial: dict[int, int] = {}
        # Received packets and, in step, their senders: two deques rather than one
        # of (id, bytes) tuples, so receiving allocates no object the GC tracks.
        self._fifo: deque[bytes] = deque()
        self._fifo_ids: deque[int] = deque()
        # Server: peers whose WebSocketPeer may have left OPEN since the last
        # poll (a close event, disconnect_peer(), or handed out by get_peer()
        # and so closable by the user); poll() checks these, not every peer.
        self._watch: set[int] = set()
        # put_packet()/get_packet() inline the common case, unless a subclass
        # overrides the core operations (then every packet goes through them).
        cls = type(self)
        self._inline_put = cls._put_packet is WebSocketMultiplayerPeer._put_packet
        self._inline_get = cls._get_packet is WebSocketMultiplayerPeer._get_packet

    # -- template properties ------------------------------------------------------

    def set_supported_protocols(self, protocols: list[str]) -> None:
        """Sub-protocols for new connections (entries stripped)."""
        self._template.set_supported_protocols(protocols)

    def get_supported_protocols(self) -> list[str]:
        """See :meth:`set_supported_protocols`."""
        return self._template.get_supported_protocols()

    supported_protocols = property(get_supported_protocols, set_supported_protocols)

    def set_handshake_headers(self, protocols: list[str]) -> None:
        """Extra handshake header lines for new connections."""
        self._template.set_handshake_headers(_string_list(protocols, "handshake_headers"))

    def get_handshake_headers(self) -> list[str]:
        """See :meth:`set_handshake_headers`."""
        return self._template.get_handshake_headers()

    handshake_headers = property(get_handshake_headers, set_handshake_headers)

    def set_inbound_buffer_size(self, buffer_size: int) -> None:
        """Largest inbound message per connection (bigger ones close it with 1009)."""
        self._template.set_inbound_buffer_size(buffer_size)
        self._sync_listener_limits()

    def get_inbound_buffer_size(self) -> int:
        """See :meth:`set_inbound_buffer_size`."""
        return self._template.get_inbound_buffer_size()

    inbound_buffer_size = property(get_inbound_buffer_size, set_inbound_buffer_size)

    def set_outbound_buffer_size(self, buffer_size: int) -> None:
        """Outbound byte budget per connection."""
        self._template.set_outbound_buffer_size(buffer_size)
        self._sync_listener_limits()

    def get_outbound_buffer_size(self) -> int:
        """See :meth:`set_outbound_buffer_size`."""
        return self._template.get_outbound_buffer_size()

    outbound_buffer_size = property(get_outbound_buffer_size, set_outbound_buffer_size)

    def set_max_queued_packets(self, max_queued_packets: int) -> None:
        """Message slots per connection and direction."""
        self._template.set_max_queued_packets(max_queued_packets)
        self._sync_listener_limits()

    def get_max_queued_packets(self) -> int:
        """See :meth:`set_max_queued_packets`."""
        return self._template.get_max_queued_packets()

    max_queued_packets = property(get_max_queued_packets, set_max_queued_packets)

    def set_handshake_timeout(self, timeout: float) -> None:
        """Seconds a connection may take to finish its handshake (stored as whole ms)."""
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError("handshake_timeout must be a number of seconds")
        if timeout <= 0.0:
            _logger.error("handshake_timeout must be > 0")
            return
        self._handshake_timeout_ms = int(timeout * 1000)

    def get_handshake_timeout(self) -> float:
        """See :meth:`set_handshake_timeout` (a 32-bit float, as in Godot)."""
        value: float = struct.unpack("f", struct.pack("f", self._handshake_timeout_ms / 1000.0))[0]
        return value

    handshake_timeout = property(get_handshake_timeout, set_handshake_timeout)

    # -- internals ----------------------------------------------------------------

    def _sync_listener_limits(self) -> None:
        # The template is copied into each peer when it is accepted (Godot);
        # the core accepts on its own thread, so it gets the current limits
        # too, for what a connection receives before the next poll().
        if self._listener is not None:
            lib.gws_listener_set_limits(self._listener, self._template._limits())

    def _ctx(self) -> Context:
        if self._context is None or self._context.closed:
            self._context = _core.default_context()
        return self._context

    def _new_ws(self) -> WebSocketPeer:
        ws = WebSocketPeer(context=self._ctx())
        t = self._template
        ws.set_supported_protocols(t.get_supported_protocols())
        ws.set_handshake_headers(t.get_handshake_headers())
        ws.set_inbound_buffer_size(t.get_inbound_buffer_size())
        ws.set_outbound_buffer_size(t.get_outbound_buffer_size())
        ws.set_max_queued_packets(t.get_max_queued_packets())
        return ws

    def _clear(self) -> None:
        for ws in self._peers.values():
            ws.close(-1)
        for p in self._pending.values():
            p.ws.close(-1)
        self._peers.clear()
        self._pending.clear()
        self._by_serial.clear()
        self._watch.clear()
        self._fifo.clear()
        self._fifo_ids.clear()
        if self._listener is not None:
            ffi.release(self._listener)
            self._listener = None
        self._group = None
        self._status = _ConnectionStatus.CONNECTION_DISCONNECTED
        self._unique_id = 0
        self._server = False
        self._server_tls = False

    # -- creating -------------------------------------------------------------------

    def create_server(
        self,
        port: int,
        bind_address: str = "*",
        tls_server_options: TLSOptions | None = None,
    ) -> Error:
        """Listen on ``port`` (``bind_address``: ``"*"`` for IPv4 and IPv6, or one IP)."""
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError("port must be an int")
        if not isinstance(bind_address, str):
            raise TypeError("bind_address must be a str")
        if tls_server_options is not None and not isinstance(tls_server_options, TLSOptions):
            raise TypeError("tls_server_options must be a TLSOptions or None")
        if self._status != _ConnectionStatus.CONNECTION_DISCONNECTED:
            _logger.error("create_server: the peer is already in use")
            return Error.ERR_ALREADY_IN_USE
        if tls_server_options is not None and not tls_server_options.is_server():
            _logger.error("create_server: client TLS options given to a server")
            return Error.ERR_INVALID_PARAMETER
        self._clear()
        if not _valid_bind_address(bind_address):
            _logger.error("create_server: invalid bind address %r", bind_address)
            return Error.ERR_INVALID_PARAMETER
        if not 0 <= port <= 65535:
            _logger.error("create_server: port %d out of range", port)
            return Error.ERR_INVALID_PARAMETER

        group = Group(self._ctx(), auto_release=True)
        t = self._template
        keep: list[Any] = []
        args = ffi.new("gws_listen_args *")
        args.port = port
        if bind_address != "*":
            keep.append(ffi.new("char[]", bind_address.encode("ascii")))
            args.bind_address = keep[-1]
        protocols, headers = t._handshake_cstrings()
        args.protocols, args.headers = protocols, headers
        tls = None
        if tls_server_options is not None:
            tls = _TLSArgs(tls_server_options, "")
            args.tls = tls.ptr
        limits = t._limits()
        args.limits = limits[0]
        out = ffi.new("gws_listener **")
        err = lib.gws_listener_new(group.ptr, args, out)
        if err != 0:
            _logger.error("create_server: cannot listen on %s:%d (%s)", bind_address, port,
                          Error(err).name)
            return Error(err)
        self._listener = ffi.gc(out[0], lib.gws_listener_release)
        self._group = group
        self._status = _ConnectionStatus.CONNECTION_CONNECTED
        self._unique_id = 1
        self._server = True
        self._server_tls = tls_server_options is not None
        return Error.OK

    def create_client(self, url: str, tls_client_options: TLSOptions | None = None) -> Error:
        """Connect to a server at ``url`` (``ws://`` or ``wss://``)."""
        if not isinstance(url, str):
            raise TypeError("url must be a str")
        if tls_client_options is not None and not isinstance(tls_client_options, TLSOptions):
            raise TypeError("tls_client_options must be a TLSOptions or None")
        if self._status != _ConnectionStatus.CONNECTION_DISCONNECTED:
            _logger.error("create_client: the peer is already in use")
            return Error.ERR_ALREADY_IN_USE
        if tls_client_options is not None and tls_client_options.is_server():
            _logger.error("create_client: server TLS options given to a client")
            return Error.ERR_INVALID_PARAMETER
        self._clear()
        group = Group(self._ctx(), auto_release=True)
        ws = self._new_ws()
        ws._group = group
        ws._owns_group = False
        err = ws.connect_to_url(url, tls_client_options)
        if err != Error.OK:
            return err
        self._group = group
        self._peers[1] = ws
        self._by_serial[ws._serial] = 1
        self._status = _ConnectionStatus.CONNECTION_CONNECTING
        self._client_start_ms = _now_ms()
        return Error.OK

    def get_local_port(self) -> int:
        """The port a server listens on (useful with port 0; not in Godot)."""
        if self._listener is None:
            return 0
        return int(lib.gws_listener_port(self._listener))

    # -- polling ----------------------------------------------------------------------

    def poll(self) -> None:
        """Process every pending network event; emits ``peer_connected``/``peer_disconnected``."""
        group = self._group
        if self._status is _DISCONNECTED or group is None:
            return
        if self._server:
            # Idle: nothing arrived (one memory read), nothing can time out or be gone.
            if group.threaded and not group.flag[0] and not self._pending and not self._watch:
                return
            self._poll_server()
        else:
            if group.threaded and not group.flag[0] and self._status is _CONNECTED:
                ws = self._peers.get(1)
                if ws is not None and ws._state is _OPEN:
                    return
            self._poll_client()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until there is something to do, or ``timeout`` seconds pass (not in Godot).

        Returns True at once when packets are waiting (:meth:`get_available_packet_count`)
        or a peer left since the last :meth:`poll`, else True as soon as the network has
        news for :meth:`poll` (a packet, a connection, a close), False after ``timeout``
        seconds with none; ``None`` waits without a limit, ``0`` only looks.  The thread
        sleeps (the GIL released) instead of spinning, so a server loop needs no core of
        its own::

            while True:
                peer.wait(0.1)       # or the time until the next game tick
                peer.poll()
                while peer.get_available_packet_count():
                    sender = peer.get_packet_peer()
                    handle(sender, peer.get_packet())

        On a context without a thread the wait *is* the I/O step (queued sends leave
        meanwhile).  A client still connecting waits at most until its handshake
        timeout.  Raises TypeError for a non-number, ValueError for a negative
        ``timeout``; without a server or client it sleeps ``timeout`` and returns False.
        """
        us = _core.wait_timeout_us(timeout)
        if self._fifo:
            return True
        group = self._group
        if group is None or self._status is _DISCONNECTED:
            _core.sleep_us(us)
            return False
        if self._server:
            if self._watch and not self._watched_all_open():
                return True
        elif self._status is not _CONNECTED:
            left_ms = self._client_start_ms + self._handshake_timeout_ms - _now_ms()
            if left_ms <= 0:
                return True
            if us < 0 or left_ms * 1000 < us:
                us = left_ms * 1000
        return group.wait(us)

    def fileno(self) -> int:
        """A file descriptor that is readable while :meth:`poll` has news (not in Godot).

        For ``selectors``/``select``/asyncio's ``loop.add_reader()``: wait on it, then
        call :meth:`poll` (which resets it).  Never read or close it.  It belongs to the
        current server or client: after :meth:`close` and a new :meth:`create_server` /
        :meth:`create_client` ask again.  Threaded contexts only: raises
        ``io.UnsupportedOperation`` on a ``Context(threaded=False)`` or with no server or
        client.
        """
        if self._group is None:
            import io

            raise io.UnsupportedOperation("fileno(): no server or client")
        return self._group.fileno()

    def _poll_server(self) -> None:
        group = self._group
        assert group is not None
        raw, index, others, fmt, nempty, tags, nuntagged = group.drain_split()
        if raw is None and not self._pending and not self._watch:
            return  # idle: nothing arrived, nothing can time out or be gone
        by_serial = self._by_serial
        peers = self._peers
        if index is not None and not others and not nempty and not nuntagged \
                and not self._pending and (not self._watch or self._watched_all_open()):
            # Only non-empty messages, from peers that are all OPEN (nothing else
            # happened since the last poll): hand them on in bulk, no header parsed
            # in Python.  The core names each sender by its peer id (the tag set in
            # _on_open(), removed when the peer goes) and gives a struct format that
            # cuts every payload out of its buffer in one call.
            assert tags is not None
            self._fifo_ids.extend(tags.tolist())
            self._fifo.extend(_Struct(fmt).unpack_from(raw))
            return
        buf = raw[:] if raw is not None else b""
        # The general loop: parsed inline (no generator), messages first.
        now = _now_ms()
        timeout = self._handshake_timeout_ms
        fifo_append = self._fifo.append
        ids_append = self._fifo_ids.append
        end = len(buf)
        unpack = HEADER.unpack_from
        off = 0
        while off < end:
            etype, serial, code, size = unpack(buf, off)
            start = off + HEADER_SIZE
            off = start + ((size + 7) & ~7)
            if etype == EV_MESSAGE:
                pid = by_serial.get(serial)
                ws = peers.get(pid) if pid is not None else None
                if ws is None or ws._state is not _OPEN:
                    continue
                if not size:
                    _logger.error("Received an empty packet from peer %d, ignored", pid)
                    continue
                ids_append(pid)  # type: ignore[arg-type]
                fifo_append(buf[start : start + size])
                continue
            if etype == EV_MESSAGE_REF:
                # a large message: its payload is held by the core, not in buf
                pid = by_serial.get(serial)
                ws = peers.get(pid) if pid is not None else None
                if ws is not None and ws._state is _OPEN:
                    ids_append(pid)  # type: ignore[arg-type]
                    fifo_append(message_ref(buf, start))
                continue
            data = buf[start : start + size]
            if etype == EV_ACCEPTED:
                self._on_accepted(serial, data, now)
            elif etype == EV_OPEN:
                self._on_open(serial, code, data, now, timeout)
            elif etype in (EV_CLOSING, EV_CLOSED):
                pid = by_serial.get(serial)
                if pid is None:
                    continue
                if pid in self._pending:
                    p = self._pending.pop(pid)
                    p.ws._apply_event(etype, code, data)
                    p.ws.close(-1)
                    del by_serial[serial]
                elif pid in peers:
                    peers[pid]._apply_event(etype, code, data)
                    self._watch.add(pid)
            elif etype == EV_LOG:
                # The core names connections by serial; say which peer it is.
                pid = by_serial.get(serial)
                _core.log_core_line(code, data if pid is None else b"Peer %d: %s" % (pid, data))

        # Pending connections that took too long are dropped without a word.
        if self._pending:
            for pid in [
                pid for pid, p in self._pending.items() if now - p.start_ms > timeout
            ]:
                p = self._pending.pop(pid)
                self._by_serial.pop(p.ws._serial, None)
                p.ws.close(-1)

        # Godot's steps C/D: a peer that is not OPEN any more is gone, whatever
        # made it so (the remote's close frame or TCP drop, disconnect_peer(),
        # get_peer(id).close()); reported in peer-map order.  Checking the
        # state rather than waiting for the core's CLOSED event reports a
        # local close on the very next poll even if the remote never answers.
        if not self._watch:
            return
        open_ = _State.STATE_OPEN
        gone = [pid for pid in self._watch if pid in peers and peers[pid]._state != open_]
        self._watch.intersection_update(peers)
        if len(gone) > 1:
            order = {pid: i for i, pid in enumerate(peers)}
            gone.sort(key=order.__getitem__)
        for pid in gone:
            ws = peers.get(pid)
            if ws is None:
                continue
            # As in Godot, the peer is still registered while the signal runs
            # (get_peer(id) works in the handler), and removed right after.
            self.peer_disconnected.emit(pid)
            peers.pop(pid, None)
            self._watch.discard(pid)
            self._by_serial.pop(ws._serial, None)
            group.set_tag(ws._serial, 0)
            ws._drop_conn()

    def _watched_all_open(self) -> bool:
        peers = self._peers
        for pid in self._watch:
            ws = peers.get(pid)
            if ws is not None and ws._state is not _OPEN:
                return False
        return True

    def _on_accepted(self, serial: int, data: bytes, now: int) -> None:
        conn = Group.conn_pointer(data)
        ws = self._new_ws()
        assert self._group is not None
        ws._adopt(conn, self._group, _State.STATE_CONNECTING)
        ws._push_limits()  # the template as it is now, as Godot copies it at accept
        ws._server_tls = self._server_tls
        if self._refuse_new_connections:
            ws.close(-1)
            return
        pid = self.generate_unique_id()
        while pid in self._peers or pid in self._pending:
            pid = self.generate_unique_id()
        self._pending[pid] = _Pending(now, ws)
        self._by_serial[serial] = pid

    def _on_open(self, serial: int, code: int, data: bytes, now: int, timeout: int) -> None:
        pid = self._by_serial.get(serial)
        if pid is None or pid not in self._pending:
            return
        p = self._pending.pop(pid)
        ws = p.ws
        if now - p.start_ms > timeout or self._refuse_new_connections:
            del self._by_serial[serial]
            ws.close(-1)
            return
        ws._apply_event(EV_OPEN, code, data)
        err = ws.put_packet(_ID.pack(pid))
        if err != Error.OK:
            _logger.error("Failed to send ID to peer %d", pid)
            del self._by_serial[serial]
            ws.close(-1)
            return
        self._peers[pid] = ws
        lib.gws_conn_set_member(ws._conn, 1)
        assert self._group is not None
        self._group.set_tag(serial, pid)  # the sender id of its messages in poll()
        self.peer_connected.emit(pid)

    def _poll_client(self) -> None:
        assert self._group is not None
        ws = self._peers.get(1)
        if ws is None:
            self._clear()
            return
        serial = ws._serial
        buf = self._group.drain()
        if not buf and self._status is _CONNECTED and ws._state is _OPEN:
            return  # idle and connected: nothing can have changed
        for etype, ev_serial, code, data in _core.iter_events(buf):
            if etype == EV_LOG:
                _core.log_core_line(code, data)
                continue
            if ev_serial != serial:
                continue
            if etype != EV_MESSAGE:
                ws._apply_event(etype, code, data)
                continue
            if ws._state != _State.STATE_OPEN:
                continue
            if self._status == _ConnectionStatus.CONNECTION_CONNECTING:
                if len(data) != 4:
                    _logger.error("Invalid ID received from server (%d bytes)", len(data))
                    ws.close()
                    continue
                (self._unique_id,) = _ID.unpack(data)
                if self._unique_id < 2:
                    _logger.error("Invalid ID received from server (%d)", self._unique_id)
                    ws.close()
                    continue
                self._status = _ConnectionStatus.CONNECTION_CONNECTED
                self.peer_connected.emit(1)
            elif not data:
                _logger.error("Received an empty packet from the server, ignored")
            else:
                self._fifo_ids.append(1)
                self._fifo.append(data)

        if ws._state == _State.STATE_CLOSED:
            if self._status == _ConnectionStatus.CONNECTION_CONNECTED:
                self.peer_disconnected.emit(1)
            self._clear()
            return
        if (
            self._status == _ConnectionStatus.CONNECTION_CONNECTING
            and ws._state != _State.STATE_OPEN
            and _now_ms() - self._client_start_ms > self._handshake_timeout_ms
        ):
            _logger.warning("Connection to the server timed out (handshake_timeout)")
            self._clear()

    # -- packets ------------------------------------------------------------------------

    def set_target_peer(self, id: int) -> None:
        """0 broadcast, 1 the server, n > 1 one peer, n < 0 every peer but -n."""
        if isinstance(id, bool) or not isinstance(id, int):
            raise TypeError("target peer must be an int")
        self._target_peer = id

    def get_target_peer(self) -> int:
        """The current target (not in Godot's script API)."""
        return self._target_peer

    def _route(self, what: str) -> tuple[Error | None, WebSocketPeer | None, Any]:
        """Where a send goes now: ``(error, None, None)`` when it cannot go (logged);
        ``(None, peer, None)`` for one connection (a client's: the server); ``(None,
        None, exclude)`` for a broadcast to every peer but connection ``exclude``
        (``ffi.NULL``: none)."""
        if self._status is not _CONNECTED:
            _logger.error("%s: not connected", what)
            return Error.ERR_UNCONFIGURED, None, None
        if not self._server:
            ws = self._peers.get(1)
            return (Error.ERR_UNCONFIGURED, None, None) if ws is None else (None, ws, None)
        target = self._target_peer
        if target > 0:
            ws = self._peers.get(target)
            if ws is None:
                _logger.error("Peer not found: %d", target)
                return Error.ERR_INVALID_PARAMETER, None, None
            return None, ws, None
        exclude: Any = ffi.NULL
        if target < 0:
            excluded = self._peers.get(-target)
            if excluded is not None and excluded._conn is not None:
                exclude = excluded._conn
        return None, None, exclude

    def _put_packet(self, data: bytes | bytearray | memoryview) -> Error:
        err, ws, exclude = self._route("put_packet")
        if err is not None:
            return err
        if ws is not None:
            # a client returns its connection's result, a server OK (as Godot)
            r = ws._send(data, False)  # the binary send behind its put_packet
            return _OK if self._server else r
        assert self._group is not None
        payload = data if isinstance(data, bytes) else ffi.from_buffer(data)
        if lib.gws_group_broadcast(self._group.ptr, payload, len(data), 0, exclude) < 0:
            _logger.error("put_packet: out of memory")
        return _OK

    def put_packet(self, buffer: bytes | bytearray | memoryview) -> Error:
        """Send one packet to the current target (see :meth:`set_target_peer`)."""
        # The common case inline (a hot path, one Python call): bytes to one open
        # peer, or from a client; what _put_packet() and the peer's _send() do.
        if self._inline_put and type(buffer) is bytes and buffer and self._status is _CONNECTED:
            server = self._server
            target = self._target_peer if server else 1
            if target > 0:
                ws = self._peers.get(target)  # (a server's own id 1 is never a key)
                if ws is not None and ws._state is _WS_OPEN and ws._conn is not None:
                    err = _conn_send(ws._conn, buffer, len(buffer), 0)
                    if not err:
                        return _OK
                    err = ws._send_refused(err)
                    return _OK if server else err
        return super().put_packet(buffer)

    def put_packets(self, packets: Iterable[Packet]) -> Error:
        """Send several packets, in order, to the current target, with one call into
        the core (a broadcast: one call for every peer; the payloads are shared).

        Not in Godot (see docs/differences.md).  Same target and return values as
        :meth:`put_packet`: ``ERR_UNCONFIGURED`` when not connected,
        ``ERR_INVALID_PARAMETER`` for an unknown target peer; a client returns its
        connection's result.  Each connection takes the batch all or nothing: when
        its queue has no room for every packet (``max_queued_packets``,
        ``outbound_buffer_size``) it gets none (logged).  A server returns ``OK`` then,
        as its :meth:`put_packet` does; ``get_peer(id).put_packets(...)`` returns that
        connection's error.  Empty packets send nothing; ``TypeError`` if ``packets``
        is not a list (or iterable) of bytes-like objects.  A subclass that overrides
        ``_put_packet`` gets one call per packet, stopping at the first error.
        """
        if not self._inline_put:
            return super().put_packets(packets)
        data, lens = _join_packets(packets, "put_packets()")
        err, ws, exclude = self._route("put_packets")
        if err is not None:
            return err
        if ws is not None:
            r = ws._send_many(data, lens, False)
            return _OK if self._server else r
        if not lens:
            return _OK
        assert self._group is not None
        if lib.gws_group_broadcast_many(self._group.ptr, data,
                                        ffi.from_buffer("size_t[]", lens), len(lens),
                                        0, exclude) < 0:
            _logger.error("put_packets: out of memory")
        return _OK

    def _get_packet(self) -> tuple[Error, bytes]:
        if self._status is not _CONNECTED:
            _logger.error("get_packet: not connected")
            return Error.ERR_UNCONFIGURED, b""
        fifo = self._fifo
        if not fifo:
            _logger.error("get_packet: no packet available")
            return Error.ERR_UNAVAILABLE, b""
        self._fifo_ids.popleft()
        return _OK, fifo.popleft()

    def get_packet(self) -> bytes:
        """Pop the next packet (``b""`` on error; see :meth:`get_packet_error`)."""
        # The common case inline (a hot path: one call per packet received).
        fifo = self._fifo
        if fifo and self._inline_get and self._status is _CONNECTED:
            self._last_get_error = _OK
            self._fifo_ids.popleft()
            return fifo.popleft()
        return super().get_packet()

    def get_packets(self, max_count: int = -1) -> list[bytes]:
        """Pop up to ``max_count`` packets at once (every available one if negative).

        Not in Godot (see docs/differences.md): exactly the packets that many
        :meth:`get_packet` calls would return, in the same order (all peers
        interleaved as they arrived), without a Python call per packet.  ``[]``
        without a log line when none is waiting.  :meth:`get_packet_error` is ``OK``,
        or ``ERR_UNCONFIGURED`` when not connected.  To know the senders, use
        :meth:`get_packets_with_peers`.
        """
        if not self._inline_get:
            return super().get_packets(max_count)
        fifo = self._fifo
        n = _max_count(max_count, len(fifo))
        if self._status is not _CONNECTED:
            self._last_get_error = Error.ERR_UNCONFIGURED
            return []
        self._last_get_error = _OK
        if n == len(fifo):
            out = list(fifo)
            fifo.clear()
            self._fifo_ids.clear()
            return out
        pop = fifo.popleft
        pop_id = self._fifo_ids.popleft
        out = [pop() for _ in range(n)]
        for _ in range(n):
            pop_id()
        return out

    def get_packets_with_peers(self, max_count: int = -1) -> tuple[list[bytes], list[int]]:
        """Pop up to ``max_count`` packets (every available one if negative) and their
        senders: ``(packets, peers)``, two lists in step (no tuple per packet).

        Not in Godot (see docs/differences.md): ``peers[i]`` is what
        :meth:`get_packet_peer` returned just before the :meth:`get_packet` call that
        would have returned ``packets[i]``.  Iterate with
        ``for data, peer_id in zip(packets, peers)``.
        """
        if not self._inline_get:
            return super().get_packets_with_peers(max_count)
        fifo = self._fifo
        ids = self._fifo_ids
        n = _max_count(max_count, len(fifo))
        if self._status is not _CONNECTED:
            self._last_get_error = Error.ERR_UNCONFIGURED
            return [], []
        self._last_get_error = _OK
        if n == len(fifo):
            out, out_ids = list(fifo), list(ids)
            fifo.clear()
            ids.clear()
            return out, out_ids
        pop = fifo.popleft
        pop_id = ids.popleft
        return [pop() for _ in range(n)], [pop_id() for _ in range(n)]

    def get_available_packet_count(self) -> int:
        """Packets waiting to be read, from every peer."""
        return len(self._fifo)

    def get_packet_peer(self) -> int:
        """Sender id of the next packet (1 and a log line if there is none)."""
        ids = self._fifo_ids
        if not ids:
            _logger.error("get_packet_peer: no packet available")
            return 1
        return ids[0]

    def get_packet_channel(self) -> int:
        """Always 0: WebSocket has one channel."""
        return 0

    def get_packet_mode(self) -> _TransferMode:
        """Always TRANSFER_MODE_RELIABLE."""
        return _TransferMode.TRANSFER_MODE_RELIABLE

    # -- peers ----------------------------------------------------------------------------

    def _lookup(self, peer_id: int, what: str) -> WebSocketPeer | None:
        ws = self._peers.get(peer_id)
        if ws is None:
            _logger.error("%s: peer %r not found", what, peer_id)
        return ws

    def get_peer(self, peer_id: int) -> WebSocketPeer | None:
        """The live ``WebSocketPeer`` of a connected peer (``None`` and a log line if unknown)."""
        ws = self._lookup(peer_id, "get_peer")
        if ws is not None and self._server:
            self._watch.add(peer_id)  # the caller may close() it: poll() will see
        return ws

    def get_peer_address(self, id: int) -> str:
        """Remote IP of a peer (``""`` if unknown)."""
        ws = self._lookup(id, "get_peer_address")
        return ws.get_connected_host() if ws is not None else ""

    def get_peer_port(self, id: int) -> int:
        """Remote TCP port of a peer (0 if unknown)."""
        ws = self._lookup(id, "get_peer_port")
        return ws.get_connected_port() if ws is not None else 0

    def get_peer_ids(self) -> list[int]:
        """Ids of the connected peers, in connection order (not in Godot)."""
        return list(self._peers)

    def disconnect_peer(self, peer: int, force: bool = False) -> None:
        """Close one peer's connection (close frame 1000); ``force`` drops it at once, silently."""
        ws = self._peers.get(peer)
        if ws is None:
            _logger.error("disconnect_peer: peer %r not found", peer)
            return
        ws.close()
        if not force:
            self._watch.add(peer)  # reported by the next poll()
            return
        # Remove the peer, silently.  Releasing a CLOSING connection lets the
        # core finish sending the close frame queued above (Godot flushes it
        # before dropping the socket), where _clear() would cut TCP at once.
        del self._peers[peer]
        self._watch.discard(peer)
        self._by_serial.pop(ws._serial, None)
        if self._group is not None:
            self._group.set_tag(ws._serial, 0)
        ws._drop_conn()
        if not self._server:
            self._clear()

    def close(self) -> None:
        """Drop every connection at once (no close frames, no signals) and stop listening."""
        self._clear()

    def get_connection_status(self) -> _ConnectionStatus:
        """DISCONNECTED, CONNECTING (client waiting for its id) or CONNECTED."""
        return self._status

    def get_unique_id(self) -> int:
        """1 for a server, the id the server gave for a client, 0 otherwise."""
        return self._unique_id

    def is_server(self) -> bool:
        """True after a successful :meth:`create_server`."""
        return self._server

    def is_server_relay_supported(self) -> bool:
        """Always True: SceneMultiplayer may relay through a WebSocket server."""
        return True

    def get_max_packet_size(self) -> int:
        """``outbound_buffer_size - 9`` (Godot's value)."""
        return self._template.get_outbound_buffer_size() - _PROTO_SIZE

    def __repr__(self) -> str:
        kind = "server" if self._server else "client"
        return f"<WebSocketMultiplayerPeer {kind} {self._status.name} peers={list(self._peers)}>"
