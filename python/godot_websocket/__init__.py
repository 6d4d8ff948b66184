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
from .scene import (
    RPCConfig,
    RPCMode,
    SceneMultiplayer,
    SceneNode,
    SharedSecretAuth,
    load_gdscript_rpc,
    rpc,
)
from .signal import Signal
from .tls import Crypto, CryptoKey, TLSOptions, X509Certificate

# Godot's binary Variant format and value types.  (Godot's Signal *value* type is
# godot_websocket.variant.Signal; the top-level Signal is the signal object.)
from .variant import (
    AABB,
    RID,
    Basis,
    Callable,
    Color,
    NodePath,
    PackedColorArray,
    PackedFloat32Array,
    PackedFloat64Array,
    PackedInt32Array,
    PackedInt64Array,
    PackedStringArray,
    PackedVector2Array,
    PackedVector3Array,
    PackedVector4Array,
    Plane,
    Projection,
    Quaternion,
    Rect2,
    Rect2i,
    StringName,
    Transform2D,
    Transform3D,
    TypedArray,
    TypedDictionary,
    VariantError,
    Vector2,
    Vector2i,
    Vector3,
    Vector3i,
    Vector4,
    Vector4i,
    bytes_to_var,
    bytes_to_var_with_objects,
    decode_variant,
    encode_variant,
    var_to_bytes,
    var_to_bytes_with_objects,
)
from .websocket_multiplayer_peer import WebSocketMultiplayerPeer
from .websocket_peer import WebSocketPeer

__all__ = [
    "AABB",
    "RID",
    "Basis",
    "Callable",
    "Color",
    "Context",
    "Crypto",
    "CryptoKey",
    "Error",
    "MultiplayerPeer",
    "NodePath",
    "PackedColorArray",
    "PackedFloat32Array",
    "PackedFloat64Array",
    "PackedInt32Array",
    "PackedInt64Array",
    "PackedStringArray",
    "PackedVector2Array",
    "PackedVector3Array",
    "PackedVector4Array",
    "PacketPeer",
    "Plane",
    "Projection",
    "Quaternion",
    "RPCConfig",
    "RPCMode",
    "Rect2",
    "Rect2i",
    "SceneMultiplayer",
    "SceneNode",
    "SharedSecretAuth",
    "Signal",
    "StringName",
    "TLSOptions",
    "Transform2D",
    "Transform3D",
    "TypedArray",
    "TypedDictionary",
    "VariantError",
    "Vector2",
    "Vector2i",
    "Vector3",
    "Vector3i",
    "Vector4",
    "Vector4i",
    "WebSocketMultiplayerPeer",
    "WebSocketPeer",
    "X509Certificate",
    "bytes_to_var",
    "bytes_to_var_with_objects",
    "decode_variant",
    "encode_variant",
    "error_string",
    "load_gdscript_rpc",
    "rpc",
    "var_to_bytes",
    "var_to_bytes_with_objects",
]

__version__ = "0.1.0"
