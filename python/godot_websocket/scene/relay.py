"""Server relay (spec §3): who gets a client's ``07 03`` envelope, and what may be relayed.

Pure functions, no I/O; :class:`~godot_websocket.scene.multiplayer.SceneMultiplayer` uses
them when it is the server (``server_relay`` on).
"""

from __future__ import annotations

from collections.abc import Iterable

from .protocol import CMD_MASK, CMD_SYS

__all__ = ["relay_destinations", "relay_refusal"]


def relay_destinations(
    sender: int, target: int, connected: Iterable[int]
) -> tuple[list[int], bool]:
    """Where the server forwards ``[07][03][target][inner]`` received from ``sender``.

    Returns ``(destinations, process_locally)`` (``scene_multiplayer.cpp``
    ``_process_sys``, spec §3.2):

    * ``target > 0``: only ``target``, if it is connected (else nowhere: it may have left
      while the packet travelled); the server does not process ``inner``;
    * ``0``: every connected peer but the sender; the server processes ``inner`` too;
    * ``-1``: every connected peer but the sender; the server is the excluded one;
    * ``-N``: every connected peer but the sender and N; the server processes ``inner``.
    """
    peers = list(connected)
    if target > 0:
        return ([target] if target in peers else []), False
    return [p for p in peers if p != sender and p != -target], target != -1


def relay_refusal(inner: bytes) -> str | None:
    """Why ``inner`` must not be relayed (``None`` if it may).

    Godot clients refuse SYS packets inside a relay envelope (spec §3, 4.6.stable), and a
    relayed SYS could only be a forged ADD/DEL_PEER or a nested relay, so they are dropped
    here instead of forwarded. Empty inner packets are malformed.
    """
    if not inner:
        return "the relay envelope carries no packet"
    if inner[0] & CMD_MASK == CMD_SYS:
        return "a SYS packet inside a relay envelope is never forwarded"
    return None
