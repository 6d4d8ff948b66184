"""Authentication state (spec §4.2) and a ready-made shared-secret check.

While ``SceneMultiplayer.auth_callback`` is set, every new transport peer is *pending*:
only ``07 00 …`` auth packets are accepted from it. It is admitted once this side has
called ``complete_auth(id)`` (:attr:`PendingPeer.local`) **and** the other side's
2-byte completion ``07 00`` has arrived (:attr:`PendingPeer.remote`).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..signal import Signal

if TYPE_CHECKING:
    from .multiplayer import SceneMultiplayer

__all__ = ["PendingPeer", "SharedSecretAuth"]

_logger = logging.getLogger("godot_websocket.scene")


@dataclass
class PendingPeer:
    """A transport peer that is authenticating.

    ``since`` is the ``time.monotonic()`` of the transport connection (``auth_timeout``
    counts from it); ``local``: this side called ``complete_auth``; ``remote``: the peer's
    completion notice arrived.
    """

    since: float
    local: bool = False
    remote: bool = False


class SharedSecretAuth:
    """Server-side auth callback: admit peers that send the right secret.

    The Godot client (it must set ``multiplayer.auth_callback`` too, or it never
    completes) answers ``peer_authenticating(1)`` with
    ``multiplayer.send_auth(1, secret)`` and ``multiplayer.complete_auth(1)``. This
    callback compares the bytes in constant time; on a match it calls
    ``complete_auth(peer)`` and emits :attr:`accepted`, otherwise it emits :attr:`refused`
    and disconnects the peer (which the client sees as ``peer_authentication_failed(1)``
    then ``server_disconnected``)::

        auth = SharedSecretAuth(b"s3cret")
        auth.install(multiplayer)        # sets multiplayer.auth_callback

    Signals: ``accepted(peer_id: int)``, ``refused(peer_id: int, data: bytes)``.
    """

    accepted: Signal[Callable[[int], Any]]
    refused: Signal[Callable[[int, bytes], Any]]

    def __init__(self, secret: bytes, *, reply: bytes | None = None) -> None:
        if not secret:
            raise ValueError("the secret must not be empty")
        self._secret = bytes(secret)
        self._reply = reply
        self._multiplayer: SceneMultiplayer | None = None
        self.accepted = Signal("accepted")
        self.refused = Signal("refused")

    def install(self, multiplayer: SceneMultiplayer) -> None:
        """Become ``multiplayer``'s ``auth_callback``."""
        self._multiplayer = multiplayer
        multiplayer.auth_callback = self

    def __call__(self, peer_id: int, data: bytes) -> None:
        """The auth callback: ``peer_id`` sent ``data`` while pending."""
        mp = self._multiplayer
        if mp is None:
            _logger.error("SharedSecretAuth was called before install()")
            return
        if hmac.compare_digest(bytes(data), self._secret):
            if self._reply:
                mp.send_auth(peer_id, self._reply)
            mp.complete_auth(peer_id)
            self.accepted.emit(peer_id)
            return
        _logger.warning("Peer %d sent a wrong secret; disconnecting it", peer_id)
        self.refused.emit(peer_id, bytes(data))
        mp.disconnect_peer(peer_id)
