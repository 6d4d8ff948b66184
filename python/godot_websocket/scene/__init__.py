"""Godot 4's high-level multiplayer (``SceneMultiplayer``) for Python.

A Python server (or client) speaks the protocol Godot's ``multiplayer`` API puts inside
``MultiplayerPeer`` packets: ``@rpc`` calls, the node path cache, ``send_bytes``, the
server relay between clients and the authentication handshake. See
``docs/scene-multiplayer.md``.

* :class:`SceneMultiplayer`, :class:`SceneNode` - the endpoint over any ``MultiplayerPeer``
  (``multiplayer.py``);
* :func:`rpc`, :class:`RPCConfig`, :class:`RPCMode`, :class:`RPCTable` - declarations,
  method ids and checksum (``rpc_config.py``);
* :func:`load_gdscript_rpc`, :func:`parse_gdscript` - declarations read from ``.gd`` files
  (``gdscript_rpc.py``);
* :mod:`.protocol` - pure packet encoders/decoders; :mod:`.relay`, :mod:`.auth` - relay
  routing and auth helpers (:class:`SharedSecretAuth`);
* :class:`MemoryMultiplayerPeer` - an in-process transport for tests (``memory_peer.py``).
"""

from __future__ import annotations

from .auth import PendingPeer, SharedSecretAuth
from .gdscript_rpc import GDScriptInfo, GDScriptParseError, load_gdscript_rpc, parse_gdscript
from .memory_peer import MemoryMultiplayerPeer, MemoryNetwork
from .multiplayer import ChecksumPolicy, SceneMultiplayer, SceneNode
from .protocol import ConfirmPathLayout, ProtocolError, decode_packet
from .rpc_config import (
    RPCConfig,
    RPCConfigError,
    RPCMethod,
    RPCMode,
    RPCTable,
    TransferMode,
    rpc,
    rpc_checksum,
    rpc_declarations,
)

__all__ = [
    "ChecksumPolicy",
    "ConfirmPathLayout",
    "GDScriptInfo",
    "GDScriptParseError",
    "MemoryMultiplayerPeer",
    "MemoryNetwork",
    "PendingPeer",
    "ProtocolError",
    "RPCConfig",
    "RPCConfigError",
    "RPCMethod",
    "RPCMode",
    "RPCTable",
    "SceneMultiplayer",
    "SceneNode",
    "SharedSecretAuth",
    "TransferMode",
    "decode_packet",
    "load_gdscript_rpc",
    "parse_gdscript",
    "rpc",
    "rpc_checksum",
    "rpc_declarations",
]
