"""An in-process ``MultiplayerPeer``: a server and clients linked without sockets.

For tests and tools: :class:`SceneMultiplayer` works on any ``MultiplayerPeer``, and this
one delivers packets in order through Python lists, so game logic and protocol handling
can be exercised deterministically (packets sent now become visible at the receiver's next
``poll()``, like on a network)::

    net = MemoryNetwork()
    server = MemoryMultiplayerPeer(); server.create_server(net)
    client = MemoryMultiplayerPeer(); client.create_client(net)
    server.poll(); client.poll()        # the client is accepted and gets its id

Unlike a WebSocket, it keeps each packet's transfer mode and channel, so a receiver sees
what the sender set.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Union

from ..error import Error
from ..multiplayer_peer import MultiplayerPeer, _ConnectionStatus, _TransferMode

__all__ = ["MemoryMultiplayerPeer", "MemoryNetwork"]

_logger = logging.getLogger("godot_websocket.scene")

_Packet = tuple[int, bytes, _TransferMode, int]  # sender, data, mode, channel
_Close = tuple[int]  # the peer that went away
_Item = Union[_Packet, _Close]


class MemoryNetwork:
    """The medium that links one server :class:`MemoryMultiplayerPeer` and its clients."""

    def __init__(self) -> None:
        self._server: MemoryMultiplayerPeer | None = None
        self._connecting: list[tuple[MemoryMultiplayerPeer, int]] = []

    @property
    def server(self) -> MemoryMultiplayerPeer | None:
        """The listening server peer, if any."""
        return self._server


class MemoryMultiplayerPeer(MultiplayerPeer):
    """A :class:`MultiplayerPeer` on a :class:`MemoryNetwork` (server or client).

    ``relay_supported`` is what :meth:`is_server_relay_supported` answers (True, like a
    WebSocket peer).
    """

    def __init__(self, *, relay_supported: bool = True) -> None:
        super().__init__()
        self._relay_supported = relay_supported
        self._network: MemoryNetwork | None = None
        self._status = _ConnectionStatus.CONNECTION_DISCONNECTED
        self._server = False
        self._unique_id = 0
        self._target = 0
        self._links: dict[int, MemoryMultiplayerPeer] = {}  # server: clients by id
        self._inbox: deque[_Item] = deque()
        self._fifo: deque[_Packet] = deque()
        self._accepted_id = 0  # client: id given by the server, not yet seen by poll()
        self._events: deque[int] = deque()  # server: ids whose connection ended

    # -- creating --------------------------------------------------------------------------

    def create_server(self, network: MemoryNetwork) -> Error:
        """Become the network's server (id 1)."""
        if self._status != _ConnectionStatus.CONNECTION_DISCONNECTED:
            return Error.ERR_ALREADY_IN_USE
        if network._server is not None:
            return Error.ERR_ALREADY_IN_USE
        self._reset()
        network._server = self
        self._network = network
        self._server = True
        self._unique_id = 1
        self._status = _ConnectionStatus.CONNECTION_CONNECTED
        return Error.OK

    def create_client(self, network: MemoryNetwork, peer_id: int = 0) -> Error:
        """Connect to the network's server; ``peer_id`` (>= 2) asks for a given id."""
        if self._status != _ConnectionStatus.CONNECTION_DISCONNECTED:
            return Error.ERR_ALREADY_IN_USE
        if peer_id and peer_id < 2:
            return Error.ERR_INVALID_PARAMETER
        self._reset()
        self._network = network
        network._connecting.append((self, peer_id))
        self._status = _ConnectionStatus.CONNECTION_CONNECTING
        return Error.OK

    def _reset(self) -> None:
        self._links.clear()
        self._inbox.clear()
        self._fifo.clear()
        self._events.clear()
        self._accepted_id = 0
        self._server = False
        self._unique_id = 0
        self._status = _ConnectionStatus.CONNECTION_DISCONNECTED

    # -- polling ---------------------------------------------------------------------------

    def poll(self) -> None:
        """Accept connections (server), take delivered packets, emit the signals."""
        if self._status == _ConnectionStatus.CONNECTION_DISCONNECTED:
            return
        if self._server:
            self._poll_server()
        else:
            self._poll_client()

    def _poll_server(self) -> None:
        network = self._network
        assert network is not None
        connecting, network._connecting = network._connecting, []
        for client, wanted in connecting:
            if client._status != _ConnectionStatus.CONNECTION_CONNECTING:
                continue
            if self._refuse_new_connections:
                client._inbox.append((1,))
                continue
            pid = wanted if wanted and wanted not in self._links else 0
            while not pid or pid in self._links:
                pid = self.generate_unique_id()
            self._links[pid] = client
            client._accepted_id = pid
            self.peer_connected.emit(pid)
        for _ in range(len(self._inbox)):
            item = self._inbox.popleft()
            if len(item) == 1:
                self._events.append(item[0])
            else:
                self._fifo.append(item)
        while self._events:
            pid = self._events.popleft()
            if self._links.pop(pid, None) is not None:
                self.peer_disconnected.emit(pid)

    def _poll_client(self) -> None:
        if self._status == _ConnectionStatus.CONNECTION_CONNECTING and self._accepted_id:
            self._unique_id = self._accepted_id
            self._status = _ConnectionStatus.CONNECTION_CONNECTED
            self.peer_connected.emit(1)
        for _ in range(len(self._inbox)):
            item = self._inbox.popleft()
            if len(item) == 1:
                was_connected = self._status == _ConnectionStatus.CONNECTION_CONNECTED
                self._drop()
                if was_connected:
                    self.peer_disconnected.emit(1)
                return
            if self._status == _ConnectionStatus.CONNECTION_CONNECTED:
                self._fifo.append(item)

    def _drop(self) -> None:
        network = self._network
        if network is not None:
            network._connecting = [c for c in network._connecting if c[0] is not self]
            if network._server is self:
                network._server = None
        self._reset()
        self._network = None

    # -- packets ---------------------------------------------------------------------------

    def set_target_peer(self, id: int) -> None:
        """0 broadcast, 1 the server, n one peer, -n every peer but n."""
        self._target = int(id)

    def _deliver(self, to: MemoryMultiplayerPeer, data: bytes) -> None:
        to._inbox.append((self._unique_id, bytes(data), self._transfer_mode,
                          self._transfer_channel))

    def _put_packet(self, data: bytes | bytearray | memoryview) -> Error:
        if self._status != _ConnectionStatus.CONNECTION_CONNECTED:
            _logger.error("put_packet: not connected")
            return Error.ERR_UNCONFIGURED
        if not self._server:
            network = self._network
            server = network._server if network is not None else None
            if server is None or server._links.get(self._unique_id) is not self:
                return Error.ERR_UNCONFIGURED
            self._deliver(server, bytes(data))
            return Error.OK
        target = self._target
        if target > 0:
            client = self._links.get(target)
            if client is None:
                _logger.error("Peer not found: %d", target)
                return Error.ERR_INVALID_PARAMETER
            self._deliver(client, bytes(data))
            return Error.OK
        for pid, client in self._links.items():
            if target < 0 and pid == -target:
                continue
            self._deliver(client, bytes(data))
        return Error.OK

    def _get_packet(self) -> tuple[Error, bytes]:
        if not self._fifo:
            return Error.ERR_UNAVAILABLE, b""
        return Error.OK, self._fifo.popleft()[1]

    def get_available_packet_count(self) -> int:
        """Packets waiting to be read."""
        return len(self._fifo)

    def get_packet_peer(self) -> int:
        """Sender of the next packet (1 if there is none)."""
        return self._fifo[0][0] if self._fifo else 1

    def get_packet_channel(self) -> int:
        """The channel the sender set for the next packet."""
        return self._fifo[0][3] if self._fifo else 0

    def get_packet_mode(self) -> _TransferMode:
        """The transfer mode the sender set for the next packet."""
        return self._fifo[0][2] if self._fifo else _TransferMode.TRANSFER_MODE_RELIABLE

    # -- peers -----------------------------------------------------------------------------

    def disconnect_peer(self, peer: int, force: bool = False) -> None:
        """Server: end a client's connection (both sides see it at their next poll, or the
        server at once with ``force``, silently). Client: ``peer`` 1 closes."""
        if not self._server:
            if peer == 1:
                self.close()
            return
        client = self._links.get(peer)
        if client is None:
            _logger.error("disconnect_peer: peer %d not found", peer)
            return
        client._inbox.append((1,))
        if force:
            del self._links[peer]
        else:
            self._events.append(peer)

    def close(self) -> None:
        """End every connection at once, without signals here; the others notice it."""
        if self._server:
            for client in self._links.values():
                client._inbox.append((1,))
        elif self._network is not None and self._network._server is not None:
            server = self._network._server
            if server._links.get(self._unique_id) is self:
                server._inbox.append((self._unique_id,))
        self._drop()

    def get_connection_status(self) -> _ConnectionStatus:
        """DISCONNECTED, CONNECTING (client not yet accepted) or CONNECTED."""
        return self._status

    def get_unique_id(self) -> int:
        """1 for the server, the given id for a client, 0 when not connected."""
        return self._unique_id

    def is_server(self) -> bool:
        """True after :meth:`create_server`."""
        return self._server

    def is_server_relay_supported(self) -> bool:
        """As given to the constructor (default True)."""
        return self._relay_supported

    def get_max_packet_size(self) -> int:
        """No limit beyond memory; reports 2**24."""
        return 1 << 24

    def get_peer_ids(self) -> list[int]:
        """Server: the connected clients."""
        return list(self._links)
