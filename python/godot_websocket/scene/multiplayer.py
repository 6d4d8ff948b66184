"""``SceneMultiplayer`` for Python: Godot's high-level multiplayer over any ``MultiplayerPeer``.

A Python program becomes a first-class peer of Godot's ``multiplayer`` API: Python objects
stand in for nodes at given paths (``/root/Main``), Godot clients call their ``@rpc``
methods with ``rpc_id(1, ...)``, Python calls the clients' ``@rpc`` methods, ``send_bytes``
works both ways, and the server relays client-to-client traffic, with Godot's
authentication handshake. It follows ``modules/multiplayer/scene_multiplayer.cpp``,
``scene_rpc_interface.cpp`` and ``scene_cache_interface.cpp`` (Godot 4.3-4.6), see
``docs/scene-multiplayer.md``::

    server = WebSocketMultiplayerPeer()
    server.create_server(9080)
    mp = SceneMultiplayer()
    mp.multiplayer_peer = server
    mp.register_node("/root/Main", Lobby(), script_rpc=load_gdscript_rpc("game/main.gd"))
    while True:
        mp.poll()

Everything happens inside :meth:`SceneMultiplayer.poll`; signals and RPC handlers run from
there. Malformed or unauthorised packets are logged on the ``godot_websocket.scene`` logger
and dropped; no exception leaves ``poll()``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Union

from ..error import Error
from ..multiplayer_peer import MultiplayerPeer, _ConnectionStatus, _TransferMode
from ..signal import Signal
from ..variant import NodePath, VariantError
from .auth import PendingPeer
from .protocol import (
    CMD_CONFIRM_PATH,
    CMD_MASK,
    CMD_RAW,
    CMD_REMOTE_CALL,
    CMD_SIMPLIFY_PATH,
    CMD_SYS,
    MAX_RPC_ARGS,
    SYS_AUTH,
    AddPeer,
    ConfirmPath,
    ConfirmPathLayout,
    DelPeer,
    ProtocolError,
    Relay,
    SimplifyPath,
    decode_packet,
    decode_rpc_args,
    encode_add_peer,
    encode_auth,
    encode_confirm_path,
    encode_del_peer,
    encode_raw,
    encode_relay,
    encode_remote_call,
    encode_rpc_args,
    encode_simplify_path,
    parse_remote_call_header,
)
from .relay import relay_destinations, relay_refusal
from .rpc_config import (
    ConfigLike,
    RPCMethod,
    RPCMode,
    RPCTable,
    rpc_declarations,
)

__all__ = ["ChecksumPolicy", "SceneMultiplayer", "SceneNode"]

_logger = logging.getLogger("godot_websocket.scene")

_CONNECTED = _ConnectionStatus.CONNECTION_CONNECTED
_CONNECTING = _ConnectionStatus.CONNECTION_CONNECTING
_DISCONNECTED = _ConnectionStatus.CONNECTION_DISCONNECTED
_RELIABLE = _TransferMode.TRANSFER_MODE_RELIABLE

AuthCallback = Callable[[int, bytes], Any]
NodeRef = Union[str, NodePath, "SceneNode"]


class ChecksumPolicy:
    """What to do with RPCs on a node whose RPC checksum differs between the two sides.

    ``WARN`` (the default, like Godot): log a warning, emit ``checksum_mismatch`` and still
    deliver. ``REJECT``: also drop that peer's RPCs on that node, since their method ids
    probably name different methods.
    """

    WARN = "warn"
    REJECT = "reject"


def _normalize(path: str) -> str:
    """Resolve ``.``/``..`` and drop subnames; keeps a leading ``/``."""
    text = path.split(":", 1)[0].strip()
    absolute = text.startswith("/")
    parts: list[str] = []
    for name in text.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            if parts:
                parts.pop()
            continue
        parts.append(name)
    return ("/" if absolute else "") + "/".join(parts)


class SceneNode:
    """A Python object standing in for a Godot node at a path (made by
    :meth:`SceneMultiplayer.register_node`).

    Holds the node's RPC declarations (script ``@rpc`` methods and node-level
    ``rpc_config`` entries), its multiplayer authority (default 1, the server) and the
    object whose methods receive the RPCs.
    """

    def __init__(
        self,
        multiplayer: SceneMultiplayer,
        path: str,
        obj: Any,
        script_rpc: Mapping[str, ConfigLike],
        node_rpc: Mapping[str, ConfigLike],
        authority: int,
    ) -> None:
        self._multiplayer = multiplayer
        self._path = path
        self.obj = obj
        self._script_rpc: dict[str, ConfigLike] = dict(script_rpc)
        self._node_rpc: dict[str, ConfigLike] = dict(node_rpc)
        self._authority = authority
        self._table = RPCTable(self._script_rpc, self._node_rpc)
        # Sender side of the path cache (scene_cache_interface.cpp NodeCache).
        self._cache_id = 0
        self._confirmed: dict[int, bool] = {}

    @property
    def path(self) -> str:
        """The absolute node path (``/root/Main``)."""
        return self._path

    @property
    def relative_path(self) -> str:
        """The path as it travels: relative to the root path (``Main``)."""
        return self._multiplayer._relative(self._path)

    @property
    def table(self) -> RPCTable:
        """The node's RPC table (method ids, configs, checksum)."""
        return self._table

    def get_rpc_md5(self) -> str:
        """The checksum Godot computes for this node (``get_rpc_md5``)."""
        return self._table.checksum

    def rpc_config(self, method: str, config: ConfigLike) -> None:
        """Godot's ``Node.rpc_config()``: add or replace a node-level entry.

        ``config`` is an :class:`RPCConfig` or Godot's dict; a dict without ``rpc_mode``
        (or ``None``) keeps the name's index in the table without a config, as Godot does.
        To remove an entry use :meth:`remove_rpc_config` (Godot passes ``null``).
        """
        self._node_rpc[method] = config if config is not None else {}
        self._table = RPCTable(self._script_rpc, self._node_rpc)

    def remove_rpc_config(self, method: str) -> None:
        """Remove a node-level entry (Godot: ``rpc_config(method, null)``)."""
        self._node_rpc.pop(method, None)
        self._table = RPCTable(self._script_rpc, self._node_rpc)

    def get_node_rpc_config(self) -> dict[str, ConfigLike]:
        """The node-level entries."""
        return dict(self._node_rpc)

    def get_script_rpc_config(self) -> dict[str, ConfigLike]:
        """The script (``@rpc``) entries."""
        return dict(self._script_rpc)

    def set_multiplayer_authority(self, peer_id: int) -> None:
        """Which peer may call this node's ``authority``-mode methods here."""
        self._authority = int(peer_id)

    def get_multiplayer_authority(self) -> int:
        """See :meth:`set_multiplayer_authority` (default 1)."""
        return self._authority

    def is_multiplayer_authority(self) -> bool:
        """True when this process's peer id is the node's authority."""
        return self._multiplayer.get_unique_id() == self._authority

    def rpc(self, method: str, *args: Any) -> Error:
        """``rpc_id(0, ...)`` on this node."""
        return self._multiplayer.rpc_id(0, self, method, *args)

    def rpc_id(self, peer_id: int, method: str, *args: Any) -> Error:
        """Call ``method`` on this node of peer ``peer_id`` (0 all, -N all but N)."""
        return self._multiplayer.rpc_id(peer_id, self, method, *args)

    def __repr__(self) -> str:
        return f"<SceneNode {self._path} authority={self._authority} {self._table!r}>"


class SceneMultiplayer:
    """Godot's ``SceneMultiplayer`` for Python, on any :class:`MultiplayerPeer`.

    Godot's properties (``multiplayer_peer``, ``root_path``, ``auth_callback``,
    ``auth_timeout``, ``allow_object_decoding``, ``refuse_new_connections``,
    ``server_relay``), methods (``poll``, ``rpc_id``, ``send_bytes``, ``send_auth``,
    ``complete_auth``, ``disconnect_peer``, ``get_peers``, ``get_authenticating_peers``,
    ``get_unique_id``, ``is_server``, ``get_remote_sender_id``, ``clear``) and signals
    (``peer_connected``, ``peer_disconnected``, ``peer_authenticating``,
    ``peer_authentication_failed``, ``peer_packet``, ``connected_to_server``,
    ``connection_failed``, ``server_disconnected``).

    Python additions: :meth:`register_node` (the scene tree), ``confirm_path_layout``
    (the ``CONFIRM_PATH`` layout written: Godot 4.3+ by default), ``path_cache`` (send
    ``SIMPLIFY_PATH`` and use short node ids as Godot does; off: always the full-path
    form), ``checksum_policy`` and the ``checksum_mismatch(peer_id, path, remote_md5,
    local_md5)`` signal.
    """

    peer_connected: Signal[Callable[[int], Any]]
    peer_disconnected: Signal[Callable[[int], Any]]
    peer_authenticating: Signal[Callable[[int], Any]]
    peer_authentication_failed: Signal[Callable[[int], Any]]
    peer_packet: Signal[Callable[[int, bytes], Any]]
    connected_to_server: Signal[Callable[[], Any]]
    connection_failed: Signal[Callable[[], Any]]
    server_disconnected: Signal[Callable[[], Any]]
    checksum_mismatch: Signal[Callable[[int, str, str, str], Any]]

    def __init__(
        self,
        multiplayer_peer: MultiplayerPeer | None = None,
        *,
        root_path: str = "/root",
        confirm_path_layout: ConfirmPathLayout = ConfirmPathLayout.GODOT_4_3,
        path_cache: bool = True,
        checksum_policy: str = ChecksumPolicy.WARN,
    ) -> None:
        self.peer_connected = Signal("peer_connected")
        self.peer_disconnected = Signal("peer_disconnected")
        self.peer_authenticating = Signal("peer_authenticating")
        self.peer_authentication_failed = Signal("peer_authentication_failed")
        self.peer_packet = Signal("peer_packet")
        self.connected_to_server = Signal("connected_to_server")
        self.connection_failed = Signal("connection_failed")
        self.server_disconnected = Signal("server_disconnected")
        self.checksum_mismatch = Signal("checksum_mismatch")

        self._peer: MultiplayerPeer | None = None
        self._nodes: dict[str, SceneNode] = {}  # by relative path
        self._root_path = "/root"
        self.set_root_path(root_path)
        self._last_status = _DISCONNECTED
        self._connected: dict[int, None] = {}  # insertion-ordered set
        self._pending: dict[int, PendingPeer] = {}
        self._auth_callback: AuthCallback | None = None
        self._auth_timeout = 3.0
        self._allow_object_decoding = False
        self._server_relay = True
        self._remote_sender_id = 0
        self._remote_sender_override = 0
        # Path cache (scene_cache_interface.cpp).
        self._next_cache_id = 1
        self._assigned: dict[int, SceneNode] = {}
        self._recv: dict[int, dict[int, SceneNode]] = {}
        self._mismatched: set[tuple[int, str]] = set()
        self._signatures: dict[tuple[type, str], inspect.Signature | None] = {}

        self.confirm_path_layout = ConfirmPathLayout(confirm_path_layout)
        self.path_cache = bool(path_cache)
        if checksum_policy not in (ChecksumPolicy.WARN, ChecksumPolicy.REJECT):
            raise ValueError(f"checksum_policy must be 'warn' or 'reject', not {checksum_policy!r}")
        self.checksum_policy = checksum_policy
        if multiplayer_peer is not None:
            self.set_multiplayer_peer(multiplayer_peer)

    # -- properties ------------------------------------------------------------------------

    def set_multiplayer_peer(self, peer: MultiplayerPeer | None) -> None:
        """Use ``peer`` (connecting or connected) as the transport; ``None`` detaches."""
        if peer is self._peer:
            return
        if peer is not None and peer.get_connection_status() == _DISCONNECTED:
            _logger.error("Supplied MultiplayerPeer must be connecting or connected.")
            return
        if self._peer is not None:
            old = self._peer
            if old.peer_connected.is_connected(self._on_transport_connected):
                old.peer_connected.disconnect(self._on_transport_connected)
            if old.peer_disconnected.is_connected(self._on_transport_disconnected):
                old.peer_disconnected.disconnect(self._on_transport_disconnected)
            self.clear()
        self._peer = peer
        if peer is not None:
            peer.peer_connected.connect(self._on_transport_connected)
            peer.peer_disconnected.connect(self._on_transport_disconnected)
        self._update_status()

    def get_multiplayer_peer(self) -> MultiplayerPeer | None:
        """The transport (``None`` if none is set)."""
        return self._peer

    multiplayer_peer = property(get_multiplayer_peer, set_multiplayer_peer)

    def has_multiplayer_peer(self) -> bool:
        """Whether a transport is set."""
        return self._peer is not None

    def set_root_path(self, path: str | NodePath) -> None:
        """The absolute path node paths travel relative to (default ``/root``)."""
        text = _normalize(str(path))
        if not text.startswith("/"):
            _logger.error("SceneMultiplayer root path must be absolute.")
            return
        nodes = list(self._nodes.values())
        self._root_path = text
        self._nodes = {self._relative(n.path): n for n in nodes}

    def get_root_path(self) -> str:
        """See :meth:`set_root_path`."""
        return self._root_path

    root_path = property(get_root_path, set_root_path)

    def set_auth_callback(self, callback: AuthCallback | None) -> None:
        """``callback(peer_id, data: bytes)`` for auth data from pending peers; setting one
        makes every new peer authenticate first (``None``: admit at once)."""
        if callback is not None and not callable(callback):
            raise TypeError("auth_callback must be callable or None")
        self._auth_callback = callback

    def get_auth_callback(self) -> AuthCallback | None:
        """See :meth:`set_auth_callback`."""
        return self._auth_callback

    auth_callback = property(get_auth_callback, set_auth_callback)

    def set_auth_timeout(self, timeout: float) -> None:
        """Seconds a peer may stay pending (from its transport connection); 0: forever."""
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError("auth_timeout must be a number of seconds")
        if timeout < 0:
            _logger.error("Timeout must be greater or equal to 0 (where 0 means no timeout)")
            return
        self._auth_timeout = int(timeout * 1000) / 1000.0

    def get_auth_timeout(self) -> float:
        """See :meth:`set_auth_timeout` (default 3.0)."""
        return self._auth_timeout

    auth_timeout = property(get_auth_timeout, set_auth_timeout)

    def set_allow_object_decoding(self, enable: bool) -> None:
        """Decode full objects in RPC arguments (off by default, as in Godot)."""
        self._allow_object_decoding = bool(enable)

    def is_object_decoding_allowed(self) -> bool:
        """See :meth:`set_allow_object_decoding`."""
        return self._allow_object_decoding

    allow_object_decoding = property(is_object_decoding_allowed, set_allow_object_decoding)

    def set_server_relay_enabled(self, enabled: bool) -> None:
        """Relay client-to-client packets and announce peers (ADD/DEL_PEER); default on."""
        self._server_relay = bool(enabled)

    def is_server_relay_enabled(self) -> bool:
        """See :meth:`set_server_relay_enabled`."""
        return self._server_relay

    server_relay = property(is_server_relay_enabled, set_server_relay_enabled)

    def set_refuse_new_connections(self, refuse: bool) -> None:
        """Forwarded to the transport."""
        if self._peer is None:
            _logger.error("No multiplayer peer is assigned. Unable to set "
                          "'refuse_new_connections'.")
            return
        self._peer.set_refuse_new_connections(refuse)

    def is_refusing_new_connections(self) -> bool:
        """Read from the transport (False without one)."""
        return self._peer.is_refusing_new_connections() if self._peer is not None else False

    refuse_new_connections = property(is_refusing_new_connections, set_refuse_new_connections)

    # -- nodes -----------------------------------------------------------------------------

    def _relative(self, path: str) -> str:
        root = self._root_path
        if path.startswith("/"):
            if path == root:
                return "."
            if path.startswith(root + "/"):
                return path[len(root) + 1 :]
            return path
        return path

    def _absolute(self, path: str | NodePath) -> str:
        text = str(path)
        if text.startswith("/"):
            return _normalize(text)
        return _normalize(self._root_path + "/" + text)

    def register_node(
        self,
        path: str | NodePath,
        obj: Any = None,
        *,
        script_rpc: Mapping[str, ConfigLike] | None = None,
        node_rpc: Mapping[str, ConfigLike] | None = None,
        authority: int = 1,
    ) -> SceneNode:
        """Make ``obj`` the node at ``path`` (absolute, or relative to the root path).

        ``script_rpc`` lists the node script's ``@rpc`` methods (e.g. from
        :func:`~godot_websocket.scene.gdscript_rpc.load_gdscript_rpc`); without it they are
        the methods of ``obj``'s class decorated with :func:`~godot_websocket.scene.rpc`.
        ``node_rpc`` holds node-level ``rpc_config()`` entries. Both sides must declare the
        same names: the ids are positions in the sorted lists. Methods only the Godot side
        implements must be declared too. RPCs arrive as calls of ``obj``'s methods of the
        same name; ``obj`` may be ``None`` for a node that only sends. ``authority`` is the
        peer allowed to call ``authority``-mode methods (default 1, the server).
        Registering a path again replaces the node (it gets a new cache id).
        """
        absolute = self._absolute(path)
        relative = self._relative(absolute)
        if relative in (".", "") or relative.startswith("/"):
            raise ValueError(
                f"node path {str(path)!r} must be below the root path {self._root_path!r}"
            )
        script: dict[str, ConfigLike]
        if script_rpc is None:
            script = dict(rpc_declarations(obj)) if obj is not None else {}
        else:
            script = dict(script_rpc)
            if obj is not None:
                extra = sorted(set(rpc_declarations(obj)) - set(script))
                if extra:
                    _logger.warning(
                        "Node %s: @rpc methods %s of %s are not in script_rpc and are ignored",
                        absolute, ", ".join(extra), type(obj).__name__,
                    )
        old = self._nodes.get(relative)
        if old is not None:
            self._forget_node(old)
        node = SceneNode(self, absolute, obj, script, node_rpc or {}, authority)
        self._nodes[relative] = node
        return node

    def unregister_node(self, node: NodeRef) -> bool:
        """Remove a node (as if it left the tree); returns whether it was registered."""
        found = self.get_node(node)
        if found is None:
            return False
        self._forget_node(found)
        del self._nodes[self._relative(found.path)]
        return True

    def _forget_node(self, node: SceneNode) -> None:
        # Godot 4.3+: a node leaving the tree drops its cache id and every mapping to it.
        if node._cache_id:
            self._assigned.pop(node._cache_id, None)
            node._cache_id = 0
        node._confirmed.clear()
        for mapping in self._recv.values():
            for cache_id in [k for k, v in mapping.items() if v is node]:
                del mapping[cache_id]
        rel = self._relative(node.path)
        self._mismatched = {m for m in self._mismatched if m[1] != rel}

    def get_node(self, node: NodeRef) -> SceneNode | None:
        """The registered node for a path (absolute or relative) or ``SceneNode``, or None."""
        if isinstance(node, SceneNode):
            return node if self._nodes.get(self._relative(node.path)) is node else None
        return self._nodes.get(self._relative(self._absolute(node)))

    def get_nodes(self) -> list[SceneNode]:
        """Every registered node."""
        return list(self._nodes.values())

    def get_rpc_md5(self, node: NodeRef) -> str:
        """The RPC checksum of a registered node (``""`` if unknown)."""
        found = self.get_node(node)
        return found.get_rpc_md5() if found is not None else ""

    # -- peers -----------------------------------------------------------------------------

    def get_unique_id(self) -> int:
        """This side's peer id (1 for a server; 0 without a transport)."""
        if self._peer is None:
            _logger.error("No multiplayer peer is assigned. Unable to get unique ID.")
            return 0
        return self._peer.get_unique_id()

    def is_server(self) -> bool:
        """Whether the transport is a server."""
        return self._peer is not None and self._peer.is_server()

    def get_peers(self) -> list[int]:
        """Admitted peers (connected and, with auth, authenticated)."""
        return list(self._connected)

    def get_authenticating_peers(self) -> list[int]:
        """Peers still authenticating."""
        return list(self._pending)

    def get_remote_sender_id(self) -> int:
        """The sender of the RPC or packet being handled (0 outside handlers); during a
        ``call_local`` call, this side's own id."""
        return self._remote_sender_override or self._remote_sender_id

    # -- polling ---------------------------------------------------------------------------

    def poll(self) -> Error:
        """Poll the transport and handle every packet that arrived; check auth timeouts.

        Signals and RPC handlers run from here. Errors are logged; nothing is raised.
        """
        try:
            return self._poll()
        except Exception:  # a bug of ours must not take the caller's loop down
            _logger.exception("SceneMultiplayer.poll() failed")
            return Error.FAILED

    def _poll(self) -> Error:
        self._update_status()
        if self._last_status == _DISCONNECTED:
            return Error.OK
        peer = self._peer
        assert peer is not None
        try:
            peer.poll()
        except Exception:
            _logger.exception("The multiplayer peer's poll() failed")
        self._update_status()
        if self._last_status != _CONNECTED:
            return Error.OK
        # Every packet that is there now; packets cannot arrive during this loop (they are
        # only read inside the transport's poll()), the bound is a safety net.
        for _ in range(peer.get_available_packet_count()):
            if self._peer is not peer or peer.get_available_packet_count() <= 0:
                break
            sender = peer.get_packet_peer()
            channel = peer.get_packet_channel()
            mode = peer.get_packet_mode()
            data = peer.get_packet()
            if peer.get_packet_error() != Error.OK:
                _logger.error("Error getting packet! %d", peer.get_packet_error())
                return peer.get_packet_error()
            try:
                self._handle(sender, bytes(data), mode, channel)
            except Exception:
                _logger.exception("Unexpected error while handling a packet from peer %d",
                                  sender)
            finally:
                self._remote_sender_id = 0
            self._update_status()
            if self._last_status != _CONNECTED:
                return Error.OK
        self._check_auth_timeouts()
        self._update_status()
        return Error.OK

    def _update_status(self) -> None:
        status = self._peer.get_connection_status() if self._peer is not None else _DISCONNECTED
        if status == self._last_status:
            return
        if status == _DISCONNECTED:
            if self._last_status == _CONNECTING:
                self.connection_failed.emit()
            else:
                self.server_disconnected.emit()
            self.clear()
        self._last_status = status

    def clear(self) -> None:
        """Forget every peer, pending auth and path cache entry (Godot's ``clear()``)."""
        self._last_status = _DISCONNECTED
        self._pending.clear()
        self._connected.clear()
        self._assigned.clear()
        self._recv.clear()
        self._mismatched.clear()
        self._next_cache_id = 1
        for node in self._nodes.values():
            node._cache_id = 0
            node._confirmed.clear()

    def _check_auth_timeouts(self) -> None:
        if not self._pending or not self._auth_timeout or self._peer is None:
            return
        now = time.monotonic()
        expired = [pid for pid, p in self._pending.items() if p.since + self._auth_timeout <= now]
        for pid in expired:
            self._peer.disconnect_peer(pid)
        for pid in expired:
            if self._pending.pop(pid, None) is not None:
                _logger.info("Peer %d did not authenticate within %.3f s", pid,
                             self._auth_timeout)
                self.peer_authentication_failed.emit(pid)

    # -- admission -------------------------------------------------------------------------

    def _on_transport_connected(self, peer_id: int) -> None:
        if peer_id in self._connected or peer_id in self._pending:
            _logger.error("Peer %d connected twice; ignored", peer_id)
            return
        if self._auth_callback is not None:
            self._pending[peer_id] = PendingPeer(time.monotonic())
            self.peer_authenticating.emit(peer_id)
            return
        self._admit(peer_id)

    def _relaying_server(self) -> bool:
        peer = self._peer
        return (self._server_relay and peer is not None and peer.get_unique_id() == 1
                and peer.is_server_relay_supported())

    def _admit(self, peer_id: int) -> None:
        if peer_id in self._connected:
            _logger.error("Peer %d is already connected; not announced again", peer_id)
            return
        if self._relaying_server():
            assert self._peer is not None
            self._peer.set_transfer_channel(0)
            self._peer.set_transfer_mode(_RELIABLE)
            for other in self._connected:
                self._put(other, encode_add_peer(peer_id))
                self._put(peer_id, encode_add_peer(other))
        self._connected[peer_id] = None
        self._recv[peer_id] = {}
        if peer_id == 1:
            self.connected_to_server.emit()
        self.peer_connected.emit(peer_id)

    def _on_transport_disconnected(self, peer_id: int) -> None:
        self._del_peer(peer_id)

    def _del_peer(self, peer_id: int, emit: bool = True) -> None:
        if peer_id in self._pending:
            del self._pending[peer_id]
            if emit:
                self.peer_authentication_failed.emit(peer_id)
            return
        if peer_id not in self._connected:
            return
        if self._relaying_server():
            assert self._peer is not None
            self._peer.set_transfer_channel(0)
            self._peer.set_transfer_mode(_RELIABLE)
            packet = encode_del_peer(peer_id)
            for other in self._connected:
                if other != peer_id:
                    self._put(other, packet)
        self._recv.pop(peer_id, None)
        for node in self._nodes.values():
            node._confirmed.pop(peer_id, None)
        self._mismatched = {m for m in self._mismatched if m[0] != peer_id}
        del self._connected[peer_id]
        if emit:
            self.peer_disconnected.emit(peer_id)

    def disconnect_peer(self, peer_id: int) -> None:
        """Drop a peer: tell the others (DEL_PEER), forget it without signals, and close its
        transport connection (Godot's ``SceneMultiplayer.disconnect_peer``)."""
        if self._peer is None or self._peer.get_connection_status() != _CONNECTED:
            _logger.error("disconnect_peer: the multiplayer peer is not connected")
            return
        self._del_peer(peer_id, emit=False)
        self._peer.disconnect_peer(peer_id)

    # -- authentication --------------------------------------------------------------------

    def send_auth(self, peer_id: int, data: bytes) -> Error:
        """Send authentication ``data`` (not empty) to a pending peer."""
        if self._peer is None or self._peer.get_connection_status() != _CONNECTED:
            return Error.ERR_UNCONFIGURED
        pending = self._pending.get(peer_id)
        if pending is None:
            _logger.error("send_auth: peer %d is not authenticating", peer_id)
            return Error.ERR_INVALID_PARAMETER
        if not data:
            _logger.error("send_auth: the data must not be empty")
            return Error.ERR_INVALID_PARAMETER
        if pending.local:
            _logger.error("The authentication session was previously marked as completed, "
                          "no more authentication data can be sent.")
            return Error.ERR_FILE_CANT_WRITE
        if pending.remote:
            _logger.error("The remote peer notified that the authentication session was "
                          "completed, no more authentication data can be sent.")
            return Error.ERR_FILE_CANT_WRITE
        self._peer.set_transfer_channel(0)
        self._peer.set_transfer_mode(_RELIABLE)
        return self._put(peer_id, encode_auth(bytes(data)))

    def complete_auth(self, peer_id: int) -> Error:
        """Mark a pending peer as authenticated by this side (sends ``07 00``); it is
        admitted once the peer has completed too."""
        if self._peer is None or self._peer.get_connection_status() != _CONNECTED:
            return Error.ERR_UNCONFIGURED
        pending = self._pending.get(peer_id)
        if pending is None:
            _logger.error("complete_auth: peer %d is not authenticating", peer_id)
            return Error.ERR_INVALID_PARAMETER
        if pending.local:
            _logger.error("The authentication session was already marked as completed.")
            return Error.ERR_FILE_CANT_WRITE
        pending.local = True
        self._peer.set_transfer_channel(0)
        self._peer.set_transfer_mode(_RELIABLE)
        err = self._put(peer_id, encode_auth())
        if pending.remote:
            del self._pending[peer_id]
            self._admit(peer_id)
        return err

    def _handle_pending(self, sender: int, data: bytes) -> None:
        if len(data) < 2 or data[0] & CMD_MASK != CMD_SYS or data[1] != SYS_AUTH:
            _logger.error("Peer %d sent a non-authentication packet (%s) before being "
                          "admitted; dropped", sender, data[:8].hex(" "))
            return
        if len(data) > 2:
            callback = self._auth_callback
            if callback is None:
                _logger.error("Auth data from peer %d but no auth_callback; dropped", sender)
                return
            try:
                callback(sender, data[2:])
            except Exception:
                _logger.exception("Failed to call authentication callback")
            return
        pending = self._pending[sender]
        pending.remote = True
        if pending.local:
            del self._pending[sender]
            self._admit(sender)

    # -- receiving -------------------------------------------------------------------------

    def _handle(self, sender: int, data: bytes, mode: int, channel: int) -> None:
        if sender in self._pending:
            self._handle_pending(sender, data)
            return
        if sender not in self._connected:
            # Packets still queued from a peer that has just left (or was kicked).
            _logger.debug("Packet from unknown peer %d dropped", sender)
            return
        if data and data[0] & CMD_MASK == CMD_SYS:
            if len(data) > 1 and data[1] == SYS_AUTH:
                if len(data) != 2:
                    _logger.error("Auth data from already admitted peer %d dropped", sender)
                return
            self._process_sys(sender, data, mode, channel)
        else:
            self._process_packet(sender, data)

    def _process_sys(self, sender: int, data: bytes, mode: int, channel: int) -> None:
        try:
            packet = decode_packet(data)
        except ProtocolError as exc:
            _logger.error("Invalid SYS packet from peer %d: %s", sender, exc)
            return
        peer = self._peer
        assert peer is not None
        relay_ok = self._server_relay and peer.is_server_relay_supported()
        is_server = peer.get_unique_id() == 1
        if isinstance(packet, (AddPeer, DelPeer)):
            if not relay_ok or is_server or sender != 1:
                _logger.error("%s from peer %d refused (only a relaying server sends it)",
                              type(packet).__name__, sender)
                return
            if isinstance(packet, AddPeer):
                if packet.peer_id in self._connected or packet.peer_id < 1:
                    _logger.error("ADD_PEER for %d ignored (already known or invalid)",
                                  packet.peer_id)
                    return
                self._admit(packet.peer_id)
            else:
                self._del_peer(packet.peer_id)
            return
        if not isinstance(packet, Relay):
            _logger.error("Unexpected SYS packet from peer %d: %s", sender, packet)
            return
        if not relay_ok:
            _logger.error("Relay packet from peer %d dropped: server relay is off", sender)
            return
        if is_server:
            refusal = relay_refusal(packet.inner)
            if refusal is not None:
                _logger.error("Relay from peer %d dropped: %s", sender, refusal)
                return
            destinations, process = relay_destinations(sender, packet.peer_id, self._connected)
            if packet.peer_id > 0 and not destinations:
                _logger.warning("Relay from peer %d to unknown peer %d dropped", sender,
                                packet.peer_id)
                return
            if destinations:
                envelope = encode_relay(sender, packet.inner)  # the real sender's id
                peer.set_transfer_mode(mode)
                peer.set_transfer_channel(channel)
                for dest in destinations:
                    self._put(dest, envelope)
            if process:
                self._process_packet(sender, packet.inner)
            return
        if sender != 1:
            _logger.error("Relay packet from peer %d (not the server) dropped", sender)
            return
        if packet.inner[0] & CMD_MASK == CMD_SYS:
            _logger.error("Invalid network command from %d (SYS inside a relay)", packet.peer_id)
            return
        self._process_packet(packet.peer_id, packet.inner)

    def _process_packet(self, sender: int, data: bytes) -> None:
        if not data:
            _logger.error("Invalid packet received. Size too small.")
            return
        command = data[0] & CMD_MASK
        self._remote_sender_id = sender
        try:
            if command == CMD_REMOTE_CALL:
                self._process_rpc(sender, data)
            elif command == CMD_SIMPLIFY_PATH:
                self._process_simplify(sender, data)
            elif command == CMD_CONFIRM_PATH:
                self._process_confirm(sender, data)
            elif command == CMD_RAW:
                if len(data) < 2:
                    _logger.error("Invalid raw packet from peer %d: no payload", sender)
                    return
                self.peer_packet.emit(sender, data[1:])
            elif command == CMD_SYS:
                _logger.error("Invalid network command from %d", sender)
            else:
                _logger.warning(
                    "Replication packet (command %d) from peer %d ignored: "
                    "MultiplayerSpawner/MultiplayerSynchronizer are not supported", command,
                    sender,
                )
        finally:
            self._remote_sender_id = 0

    def _lookup_path(self, path: str) -> SceneNode | None:
        text = _normalize(path)
        if not text.startswith("/"):
            text = self._relative(self._absolute(text))
        else:
            text = self._relative(text)
        return self._nodes.get(text)

    def _process_rpc(self, sender: int, data: bytes) -> None:
        try:
            header = parse_remote_call_header(data)
        except ProtocolError as exc:
            _logger.error("Invalid RPC packet from peer %d: %s", sender, exc)
            return
        if header.path is not None:
            node = self._lookup_path(header.path)
            if node is None:
                _logger.error("RPC from peer %d for unknown node %r dropped (Node not found)",
                              sender, header.path)
                return
        else:
            node = self._recv.get(sender, {}).get(header.node_target)
            if node is None:
                _logger.error("RPC from peer %d: ID %d not found in its path cache; dropped",
                              sender, header.node_target)
                return
        method = node.table.method_by_id(header.method_id)
        if method is None:
            _logger.error(
                "RPC from peer %d: node %s has no RPC method id %d (its table: %s); dropped",
                sender, node.path, header.method_id, node.table.describe() or "empty",
            )
            return
        if (sender, self._relative(node.path)) in self._mismatched and \
                self.checksum_policy == ChecksumPolicy.REJECT:
            _logger.error("RPC '%s' on %s from peer %d dropped: RPC checksum mismatch",
                          method.name, node.path, sender)
            return
        if not self._may_call(sender, node, method):
            return
        try:
            args = decode_rpc_args(data, header, self._allow_object_decoding)
        except ProtocolError as exc:
            _logger.error("RPC '%s' on %s from peer %d: invalid arguments: %s", method.name,
                          node.path, sender, exc)
            return
        self._call(node, method, args, "RPC")

    def _may_call(self, sender: int, node: SceneNode, method: RPCMethod) -> bool:
        mode = method.config.rpc_mode
        if mode == RPCMode.RPC_MODE_ANY_PEER:
            return True
        if mode == RPCMode.RPC_MODE_AUTHORITY and sender == node.get_multiplayer_authority():
            return True
        words = {RPCMode.RPC_MODE_DISABLED: "disabled", RPCMode.RPC_MODE_ANY_PEER: "any_peer",
                 RPCMode.RPC_MODE_AUTHORITY: "authority"}
        _logger.error(
            "RPC '%s' is not allowed on node %s from: %d. Mode is \"%s\", authority is %d.",
            method.name, node.path, sender, words[mode], node.get_multiplayer_authority(),
        )
        return False

    def _signature(self, obj: Any, name: str) -> inspect.Signature | None:
        key = (type(obj), name)
        if key not in self._signatures:
            try:
                self._signatures[key] = inspect.signature(getattr(obj, name))
            except (TypeError, ValueError):
                self._signatures[key] = None
        return self._signatures[key]

    def _call(self, node: SceneNode, method: RPCMethod, args: Sequence[Any], what: str) -> bool:
        obj = node.obj
        handler = getattr(obj, method.name, None) if obj is not None else None
        if handler is None or not callable(handler):
            _logger.error("%s '%s' on %s: the Python object %r has no such method; dropped",
                          what, method.name, node.path, obj)
            return False
        signature = self._signature(obj, method.name)
        if signature is not None:
            try:
                signature.bind(*args)
            except TypeError as exc:
                _logger.error("%s - '%s::%s': called with %d argument(s): %s", what,
                              node.path, method.name, len(args), exc)
                return False
        try:
            handler(*args)
        except Exception:
            _logger.exception("%s '%s' on %s raised", what, method.name, node.path)
            return False
        return True

    def _process_simplify(self, sender: int, data: bytes) -> None:
        if sender not in self._recv:
            _logger.error("SIMPLIFY_PATH from peer %d, which is not connected", sender)
            return
        try:
            packet = decode_packet(data)
        except ProtocolError as exc:
            _logger.error("Invalid SIMPLIFY_PATH from peer %d: %s", sender, exc)
            return
        if not isinstance(packet, SimplifyPath):
            return
        cache = self._recv[sender]
        cache_id, path, checksum = packet.cache_id, packet.path, packet.checksum
        legacy = self.confirm_path_layout is ConfirmPathLayout.GODOT_4_0
        if cache_id in cache and not legacy:
            _logger.error("Duplicate remote cache ID %d for peer %d", cache_id, sender)
            return
        node = self._lookup_path(path)
        if node is None:
            _logger.error("SIMPLIFY_PATH from peer %d for unknown node %r: no reply (Node not "
                          "found)", sender, path)
            return
        valid = node.get_rpc_md5() == checksum
        cache[cache_id] = node
        assert self._peer is not None
        self._peer.set_transfer_channel(0)
        self._peer.set_transfer_mode(_RELIABLE)
        self._send_command(sender, encode_confirm_path(valid, cache_id, path,
                                                       self.confirm_path_layout))
        if not valid:  # after the reply, so what a signal handler sends comes after it
            self._report_mismatch(sender, node, checksum)

    def _report_mismatch(self, sender: int, node: SceneNode, remote: str) -> None:
        local = node.get_rpc_md5()
        self._mismatched.add((sender, self._relative(node.path)))
        if remote:
            detail = (f"peer {sender} sent checksum {remote}, the Python declarations give "
                      f"{local}")
        else:
            detail = f"peer {sender} reported that our checksum {local} does not match its own"
        _logger.warning(
            "RPC checksum mismatch on node %s: %s. The Godot script and the Python "
            "declarations have different @rpc methods, so method ids do not line up (calls "
            "may reach the wrong method). Python declares: %s. Regenerate the declarations "
            "from the .gd file (load_gdscript_rpc).",
            node.path, detail, ", ".join(node.table.names()) or "(none)",
        )
        self.checksum_mismatch.emit(sender, node.path, remote, local)

    def _process_confirm(self, sender: int, data: bytes) -> None:
        try:
            packet = decode_packet(data)
        except ProtocolError as exc:
            _logger.error("Invalid CONFIRM_PATH from peer %d: %s", sender, exc)
            return
        if not isinstance(packet, ConfirmPath):
            return
        by_id = self._assigned.get(packet.cache_id) if packet.cache_id is not None else None
        by_path = self._lookup_path(packet.path) if packet.path is not None else None
        if self.confirm_path_layout is ConfirmPathLayout.GODOT_4_0:
            node = by_path or by_id
        else:
            node = by_id or by_path
        if node is None:
            return  # may confirm a node that was removed meanwhile (Godot: silently ignored)
        if not packet.valid:
            self._report_mismatch(sender, node, "")
        if sender not in node._confirmed:
            _logger.error("Invalid packet received. Peer %d tries to confirm node %s, which "
                          "was not requested.", sender, node.path)
            return
        node._confirmed[sender] = True

    # -- sending ---------------------------------------------------------------------------

    def _put(self, target: int, packet: bytes) -> Error:
        assert self._peer is not None
        self._peer.set_target_peer(target)
        return self._peer.put_packet(packet)

    def _send_command(self, to: int, packet: bytes) -> Error:
        peer = self._peer
        assert peer is not None
        if (self._server_relay and peer.get_unique_id() != 1 and to != 1
                and peer.is_server_relay_supported()):
            return self._put(1, encode_relay(to, packet))
        if to > 0:
            if to not in self._connected:
                _logger.error("Peer %d is not connected; packet not sent", to)
                return Error.ERR_BUG
            return self._put(to, packet)
        for pid in list(self._connected):
            if to and pid == -to:
                continue
            self._put(pid, packet)
        return Error.OK

    def rpc(self, node: NodeRef, method: str, *args: Any) -> Error:
        """Call ``method`` on ``node`` of every peer (``rpc_id(0, ...)``)."""
        return self.rpc_id(0, node, method, *args)

    def rpc_id(self, peer_id: int, node: NodeRef, method: str, *args: Any) -> Error:
        """Call the ``@rpc`` method ``method`` of ``node`` on peer ``peer_id``.

        ``peer_id``: a peer, 0 for every peer, ``-N`` for every peer but N (Godot's
        targets). The method must be declared on the node here. With ``call_local`` the
        Python method also runs here when the target includes this side. Top-level ints and
        bools travel in the compact form; a single non-empty ``bytes`` in the raw form.

        Returns ``OK``, or like Godot ``ERR_UNCONFIGURED`` (no transport),
        ``ERR_CONNECTION_ERROR`` (not connected), ``ERR_INVALID_PARAMETER`` (unknown node or
        method, RPC to oneself without ``call_local``). Unlike Godot, which logs and still
        returns ``OK``, an unknown target, more than 255 arguments or an unencodable
        argument also return an error (``ERR_INVALID_PARAMETER`` or the codec's code).
        """
        if self._peer is None:
            _logger.error("Trying to call an RPC while no multiplayer peer is active.")
            return Error.ERR_UNCONFIGURED
        found = self.get_node(node)
        if found is None:
            _logger.error("rpc_id: no node registered at %r", getattr(node, "path", node))
            return Error.ERR_INVALID_PARAMETER
        if self._peer.get_connection_status() != _CONNECTED:
            _logger.error("Trying to call an RPC via a multiplayer peer which is not connected.")
            return Error.ERR_CONNECTION_ERROR
        entry = found.table.method_by_name(method)
        if entry is None:
            _logger.error(
                'Unable to get the RPC configuration for the function "%s" at path: "%s". '
                "Declare it (@rpc or script_rpc) on the Python node.", method, found.path,
            )
            return Error.ERR_INVALID_PARAMETER
        caller = self._peer.get_unique_id()
        config = entry.config
        if peer_id == caller and not config.call_local:
            _logger.error("RPC '%s' on yourself is not allowed by selected mode.", method)
            return Error.ERR_INVALID_PARAMETER
        call_local = config.call_local and (
            peer_id == 0 or peer_id == caller or (peer_id < 0 and peer_id != -caller)
        )
        if peer_id != caller:
            err = self._send_rpc(found, peer_id, entry, args)
            if err != Error.OK:
                return err
        if call_local:
            self._remote_sender_override = caller
            try:
                self._call(found, entry, args, "rpc() local call")
            finally:
                self._remote_sender_override = 0
        return Error.OK

    def _send_rpc(self, node: SceneNode, peer_id: int, method: RPCMethod,
                  args: Sequence[Any]) -> Error:
        peer = self._peer
        assert peer is not None
        if len(args) > MAX_RPC_ARGS:
            _logger.error("Too many arguments (>255).")
            return Error.ERR_INVALID_PARAMETER
        if peer_id != 0 and abs(peer_id) not in self._connected:
            if peer_id == peer.get_unique_id():
                _logger.error("Attempt to call RPC on yourself! Peer unique ID: %d.", peer_id)
            else:
                _logger.error("Attempt to call RPC with unknown peer ID: %d.", peer_id)
            return Error.ERR_INVALID_PARAMETER
        try:
            args_data, byte_only = encode_rpc_args(args, self._allow_object_decoding)
        except VariantError as exc:
            _logger.error("Unable to encode the arguments of RPC '%s': %s", method.name, exc)
            return exc.error
        if peer_id > 0:
            targets = [peer_id]
        else:
            targets = [p for p in self._connected if not (peer_id < 0 and p == -peer_id)]
        if not targets:
            return Error.OK
        relative = self._relative(node.path)
        has_all = False
        if self.path_cache:
            if not node._cache_id:
                node._cache_id = self._next_cache_id
                self._next_cache_id += 1
                self._assigned[node._cache_id] = node
            has_all = True
            notify = []
            for target in targets:
                confirmed = node._confirmed.get(target)
                if confirmed is None:
                    notify.append(target)
                    has_all = False
                elif not confirmed:
                    has_all = False
            if notify:
                simplify = encode_simplify_path(node.get_rpc_md5(), node._cache_id, relative)
                for target in notify:
                    peer.set_transfer_channel(0)
                    peer.set_transfer_mode(_RELIABLE)
                    if self._send_command(target, simplify) != Error.OK:
                        continue
                    node._confirmed[target] = False
        peer.set_transfer_channel(method.config.channel)
        peer.set_transfer_mode(method.config.transfer_mode)
        if has_all:
            packet = encode_remote_call(method.id, args_data, byte_only, cache_id=node._cache_id)
            for target in targets:
                self._send_command(target, packet)
            return Error.OK
        full = encode_remote_call(method.id, args_data, byte_only, path=relative)
        cached: bytes | None = None
        for target in targets:
            if self.path_cache and node._confirmed.get(target):
                if cached is None:
                    cached = encode_remote_call(method.id, args_data, byte_only,
                                                cache_id=node._cache_id, force_u32_node=True)
                self._send_command(target, cached)
            else:
                self._send_command(target, full)
        return Error.OK

    def send_bytes(
        self,
        data: bytes,
        id: int = 0,
        mode: int = _RELIABLE,
        channel: int = 0,
    ) -> Error:
        """Send raw bytes (``03 <data>``) to peer ``id`` (0 all, -N all but N); the receiver
        emits ``peer_packet(sender, data)``."""
        if not data:
            _logger.error("Trying to send an empty raw packet.")
            return Error.ERR_INVALID_DATA
        if self._peer is None:
            _logger.error("Trying to send a raw packet while no multiplayer peer is active.")
            return Error.ERR_UNCONFIGURED
        if self._peer.get_connection_status() != _CONNECTED:
            _logger.error("Trying to send a raw packet via a multiplayer peer which is not "
                          "connected.")
            return Error.ERR_UNCONFIGURED
        self._peer.set_transfer_channel(channel)
        self._peer.set_transfer_mode(mode)
        return self._send_command(id, encode_raw(bytes(data)))

    def __repr__(self) -> str:
        return (f"<SceneMultiplayer id={self._peer.get_unique_id() if self._peer else 0} "
                f"peers={list(self._connected)} pending={list(self._pending)} "
                f"nodes={sorted(self._nodes)}>")

