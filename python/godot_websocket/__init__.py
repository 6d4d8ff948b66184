"""Godot 4's WebSocket multiplayer protocol and API for Python.

Classes carry Godot's names, defaults, return codes and signals:
:class:`WebSocketPeer`, :class:`WebSocketMultiplayerPeer`, :class:`MultiplayerPeer`,
:class:`PacketPeer`, :class:`TLSOptions`, the :class:`Error` enum, and Godot's binary
Variant format (:func:`var_to_bytes`, :func:`bytes_to_var`).
"""

from ._core import Context
from .error import Error, error_string
from .multiplayer_peer import MultiplayerPeer
from .packet_peer import PacketPeer
from .signal import Signal
from .tls import CryptoKey, TLSOptions, X509Certificate
from .websocket_multiplayer_peer import WebSocketMultiplayerPeer
from .websocket_peer import WebSocketPeer

__all__ = [
    "Context",
    "CryptoKey",
    "Error",
    "MultiplayerPeer",
    "PacketPeer",
    "Signal",
    "TLSOptions",
    "WebSocketMultiplayerPeer",
    "WebSocketPeer",
    "X509Certificate",
    "error_string",
]

__version__ = "0.1.0"
