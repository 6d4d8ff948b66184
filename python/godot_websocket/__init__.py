"""Godot 4's WebSocket multiplayer protocol and API for Python.

Classes carry Godot's names, defaults, return codes and signals:
:class:`WebSocketPeer`, :class:`WebSocketMultiplayerPeer`, :class:`MultiplayerPeer`,
:class:`PacketPeer`, :class:`TLSOptions`, the :class:`Error` enum, and Godot's binary
Variant format (:func:`var_to_bytes`, :func:`bytes_to_var`).
"""

from .error import Error, error_string
from .packet_peer import PacketPeer
from .signal import Signal
from .tls import CryptoKey, TLSOptions, X509Certificate
from .websocket_peer import WebSocketPeer

__all__ = [
    "CryptoKey",
    "Error",
    "PacketPeer",
    "Signal",
    "TLSOptions",
    "WebSocketPeer",
    "X509Certificate",
    "error_string",
]

__version__ = "0.1.0"
