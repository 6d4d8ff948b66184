"""``MultiplayerPeer``: Godot's abstract multiplayer transport (spec §2)."""

from __future__ import annotations

import enum
import secrets
from typing import Any, Callable

from .error import Error
from .packet_peer import PacketPeer, _max_count
from .signal import Signal

__all__ = ["MultiplayerPeer"]


class _ConnectionStatus(enum.IntEnum):
    CONNECTION_DISCONNECTED = 0
    CONNECTION_CONNECTING = 1
    CONNECTION_CONNECTED = 2


class _TransferMode(enum.IntEnum):
    TRANSFER_MODE_UNRELIABLE = 0
    TRANSFER_MODE_UNRELIABLE_ORDERED = 1
    TRANSFER_MODE_RELIABLE = 2


def _check_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return value


class MultiplayerPeer(PacketPeer):
    """Abstract base of multiplayer transports, with Godot's enums, properties and signals.

    Signals: ``peer_connected(id: int)`` and ``peer_disconnected(id: int)``,
    emitted only from inside :meth:`poll`.
    """

    ConnectionStatus = _ConnectionStatus
    TransferMode = _TransferMode
    CONNECTION_DISCONNECTED = _ConnectionStatus.CONNECTION_DISCONNECTED
    CONNECTION_CONNECTING = _ConnectionStatus.CONNECTION_CONNECTING
    CONNECTION_CONNECTED = _ConnectionStatus.CONNECTION_CONNECTED
    TRANSFER_MODE_UNRELIABLE = _TransferMode.TRANSFER_MODE_UNRELIABLE
    TRANSFER_MODE_UNRELIABLE_ORDERED = _TransferMode.TRANSFER_MODE_UNRELIABLE_ORDERED
    TRANSFER_MODE_RELIABLE = _TransferMode.TRANSFER_MODE_RELIABLE
    TARGET_PEER_BROADCAST = 0
    TARGET_PEER_SERVER = 1

    peer_connected: Signal[Callable[[int], Any]]
    peer_disconnected: Signal[Callable[[int], Any]]

    def __init__(self) -> None:
        super().__init__()
        self._refuse_new_connections = False
        self._transfer_mode = _TransferMode.TRANSFER_MODE_RELIABLE
        self._transfer_channel = 0
        self.peer_connected = Signal("peer_connected")
        self.peer_disconnected = Signal("peer_disconnected")

    # -- properties -------------------------------------------------------------

    def set_refuse_new_connections(self, enable: bool) -> None:
        """Refuse new connections (servers)."""
        self._refuse_new_connections = bool(enable)

    def is_refusing_new_connections(self) -> bool:
        """See :meth:`set_refuse_new_connections`."""
        return self._refuse_new_connections

    refuse_new_connections = property(is_refusing_new_connections, set_refuse_new_connections)

    def set_transfer_mode(self, mode: int) -> None:
        """Transfer mode for the next packets (stored; WebSocket is always reliable)."""
        self._transfer_mode = _TransferMode(_check_int(mode, "transfer_mode"))

    def get_transfer_mode(self) -> _TransferMode:
        """See :meth:`set_transfer_mode`."""
        return self._transfer_mode

    transfer_mode = property(get_transfer_mode, set_transfer_mode)

    def set_transfer_channel(self, channel: int) -> None:
        """Channel for the next packets (stored, not clamped; WebSocket has one channel)."""
        self._transfer_channel = _check_int(channel, "transfer_channel")

    def get_transfer_channel(self) -> int:
        """See :meth:`set_transfer_channel`."""
        return self._transfer_channel

    transfer_channel = property(get_transfer_channel, set_transfer_channel)

    # -- API ------------------------------------------------------------------------

    def generate_unique_id(self) -> int:
        """A random id in [2, 2147483647] (never 0 or 1)."""
        return secrets.randbelow(2**31 - 2) + 2

    def is_server_relay_supported(self) -> bool:
        """Whether the higher level may relay client-to-client traffic through the server."""
        return False

    def set_target_peer(self, id: int) -> None:
        """Target of the next ``put_packet``: 0 all, 1 server, n a peer, -n all but n."""
        raise NotImplementedError

    def get_packet_peer(self) -> int:
        """Sender id of the next packet."""
        raise NotImplementedError

    def get_packets_with_peers(self, max_count: int = -1) -> tuple[list[bytes], list[int]]:
        """Pop up to ``max_count`` packets (every available one if negative) and their
        senders: ``(packets, peers)``, two lists in step.

        Not in Godot (see docs/differences.md): ``peers[i]`` is what
        :meth:`get_packet_peer` returned just before the :meth:`get_packet` call that
        would have returned ``packets[i]``; same packets, same order.  Iterate with
        ``for data, peer_id in zip(packets, peers)``.  :meth:`get_packet_error` as
        after :meth:`get_packets`.
        """
        n = _max_count(max_count, self.get_available_packet_count())
        out: list[bytes] = []
        ids: list[int] = []
        err = Error.OK
        get = self._get_packet
        peer = self.get_packet_peer
        for _ in range(n):
            pid = peer()
            err, data = get()
            if err is not Error.OK:
                break
            out.append(data)
            ids.append(pid)
        self._last_get_error = err
        return out, ids

    def get_packet_channel(self) -> int:
        """Channel of the next packet."""
        raise NotImplementedError

    def get_packet_mode(self) -> _TransferMode:
        """Transfer mode of the next packet."""
        raise NotImplementedError

    def poll(self) -> None:
        """Process pending network events; signals are emitted from here."""
        raise NotImplementedError

    def close(self) -> None:
        """Close every connection at once, without signals."""
        raise NotImplementedError

    def disconnect_peer(self, peer: int, force: bool = False) -> None:
        """Disconnect one peer."""
        raise NotImplementedError

    def get_connection_status(self) -> _ConnectionStatus:
        """The ConnectionStatus."""
        raise NotImplementedError

    def get_unique_id(self) -> int:
        """This peer's id (1 for a server, 0 when not connected)."""
        raise NotImplementedError

    def is_server(self) -> bool:
        """True when this peer is a server (not script-bound in Godot)."""
        raise NotImplementedError

    def get_max_packet_size(self) -> int:
        """Largest packet the transport takes (not script-bound in Godot)."""
        raise NotImplementedError
