"""RPC declarations: Godot's ``@rpc`` options, method ids and the RPC checksum.

Godot numbers the RPC methods of a node by position in sorted name lists (spec §6.1,
``SceneRPCInterface::_parse_rpc_config``):

1. node-level ``Node.rpc_config()`` entries, names sorted: ids ``0x8000 | index``;
2. the script's ``@rpc`` methods (inherited ones included), names sorted: ids ``index``.

Names sort by code point, which is Python's ``sorted()`` order. An entry without
``rpc_mode`` is skipped but still takes its index. The checksum sent in ``SIMPLIFY_PATH``
is the lowercase hex MD5 of all kept names concatenated, node-level ones first.

Declare methods on a Python class with :func:`rpc` (the same arguments as GDScript's
``@rpc``), or build the mapping from the game's ``.gd`` files with
:mod:`godot_websocket.scene.gdscript_rpc`.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Callable, TypeVar, Union, overload

from ..multiplayer_peer import _TransferMode

__all__ = [
    "NODE_RPC_ID_FLAG",
    "RPCConfig",
    "RPCConfigError",
    "RPCMethod",
    "RPCMode",
    "RPCTable",
    "TransferMode",
    "rpc",
    "rpc_checksum",
    "rpc_declarations",
]

#: Bit 15 marks ids that come from node-level ``rpc_config()`` entries.
NODE_RPC_ID_FLAG = 0x8000

TransferMode = _TransferMode
"""``MultiplayerPeer.TransferMode`` (``UNRELIABLE=0``, ``UNRELIABLE_ORDERED=1``, ``RELIABLE=2``)."""

_F = TypeVar("_F", bound=Callable[..., Any])
_ATTR = "__godot_rpc__"


class RPCMode(enum.IntEnum):
    """``MultiplayerAPI.RPCMode``: who may call a method (checked by the receiver)."""

    RPC_MODE_DISABLED = 0
    RPC_MODE_ANY_PEER = 1
    RPC_MODE_AUTHORITY = 2


class RPCConfigError(ValueError):
    """An ``@rpc`` declaration is invalid (the same cases GDScript refuses)."""


_MODE_WORDS = {"any_peer": RPCMode.RPC_MODE_ANY_PEER, "authority": RPCMode.RPC_MODE_AUTHORITY}
_SYNC_WORDS = {"call_local": True, "call_remote": False}
_TRANSFER_WORDS = {
    "reliable": TransferMode.TRANSFER_MODE_RELIABLE,
    "unreliable": TransferMode.TRANSFER_MODE_UNRELIABLE,
    "unreliable_ordered": TransferMode.TRANSFER_MODE_UNRELIABLE_ORDERED,
}


@dataclass(frozen=True)
class RPCConfig:
    """One method's RPC options, as in Godot's config dictionary.

    Defaults are GDScript's ``@rpc`` defaults: ``authority``, ``call_remote``,
    ``reliable``, channel 0. Only ``rpc_mode`` matters to a receiver; ``call_local``,
    ``transfer_mode`` and ``channel`` only to the sender (and a WebSocket ignores the
    last two).
    """

    rpc_mode: RPCMode = RPCMode.RPC_MODE_AUTHORITY
    transfer_mode: _TransferMode = TransferMode.TRANSFER_MODE_RELIABLE
    call_local: bool = False
    channel: int = 0

    @classmethod
    def from_annotation(cls, *args: str | int) -> RPCConfig:
        """The config of ``@rpc(*args)``, with GDScript's rules.

        Up to four arguments: the first three are strings in any order (one of
        ``"authority"``/``"any_peer"``, one of ``"call_remote"``/``"call_local"``, one of
        ``"reliable"``/``"unreliable"``/``"unreliable_ordered"``, each at most once); the
        fourth is the int channel (so a channel needs all three strings, spec §6.2).
        Raises :class:`RPCConfigError` otherwise.
        """
        if len(args) > 4:
            raise RPCConfigError(f"@rpc takes at most 4 arguments, got {len(args)}")
        mode = RPCMode.RPC_MODE_AUTHORITY
        call_local = False
        transfer = TransferMode.TRANSFER_MODE_RELIABLE
        channel = 0
        seen: set[str] = set()
        for index, arg in enumerate(args):
            if index == 3:
                if isinstance(arg, bool) or not isinstance(arg, int):
                    raise RPCConfigError(
                        f'argument 4 of @rpc (the channel) should be "int" but is {arg!r}'
                    )
                channel = arg
                continue
            if not isinstance(arg, str):
                raise RPCConfigError(
                    f'argument {index + 1} of @rpc should be "String" but is {arg!r} '
                    "(a channel must be the 4th argument, after all three strings)"
                )
            if arg in _MODE_WORDS:
                group, mode = "mode", _MODE_WORDS[arg]
            elif arg in _SYNC_WORDS:
                group, call_local = "sync", _SYNC_WORDS[arg]
            elif arg in _TRANSFER_WORDS:
                group, transfer = "transfer", _TRANSFER_WORDS[arg]
            else:
                raise RPCConfigError(
                    f"invalid @rpc argument {arg!r}: expected one of "
                    + ", ".join(repr(w) for w in (*_MODE_WORDS, *_SYNC_WORDS, *_TRANSFER_WORDS))
                )
            if group in seen:
                raise RPCConfigError(
                    f"invalid @rpc arguments: more than one {group} option ({args!r})"
                )
            seen.add(group)
        return cls(mode, transfer, call_local, channel)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> RPCConfig | None:
        """A config from Godot's dictionary form; ``None`` if it has no ``rpc_mode``
        (Godot then skips the entry, which still takes its index)."""
        if "rpc_mode" not in config:
            return None
        return cls(
            RPCMode(int(config["rpc_mode"])),
            TransferMode(int(config.get("transfer_mode", TransferMode.TRANSFER_MODE_RELIABLE))),
            bool(config.get("call_local", False)),
            int(config.get("channel", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Godot's dict form: ``rpc_mode``, ``transfer_mode``, ``call_local``, ``channel``."""
        return {
            "rpc_mode": int(self.rpc_mode),
            "transfer_mode": int(self.transfer_mode),
            "call_local": self.call_local,
            "channel": self.channel,
        }

    def annotation(self) -> str:
        """The GDScript annotation that declares this config (e.g. ``@rpc("any_peer")``)."""
        words: list[str] = []
        if self.rpc_mode == RPCMode.RPC_MODE_ANY_PEER:
            words.append('"any_peer"')
        elif self.rpc_mode == RPCMode.RPC_MODE_DISABLED:
            return "# rpc_config(..., {rpc_mode = RPC_MODE_DISABLED})"
        transfer = {v: k for k, v in _TRANSFER_WORDS.items()}[self.transfer_mode]
        if self.channel:
            words = [
                '"any_peer"' if self.rpc_mode == RPCMode.RPC_MODE_ANY_PEER else '"authority"',
                '"call_local"' if self.call_local else '"call_remote"',
                f'"{transfer}"',
                str(self.channel),
            ]
        else:
            if self.call_local:
                words.append('"call_local"')
            if self.transfer_mode != TransferMode.TRANSFER_MODE_RELIABLE:
                words.append(f'"{transfer}"')
        return f"@rpc({', '.join(words)})" if words else "@rpc"


ConfigLike = Union[RPCConfig, Mapping[str, Any], None]
"""What a declaration mapping may hold per name: a config, Godot's dict form, or ``None``
(an entry without ``rpc_mode``: skipped, but it takes its index)."""


def _as_config(name: str, value: ConfigLike) -> RPCConfig | None:
    if value is None or isinstance(value, RPCConfig):
        return value
    if isinstance(value, Mapping):
        try:
            return RPCConfig.from_dict(value)
        except (TypeError, ValueError) as exc:
            raise RPCConfigError(f"bad RPC config for {name!r}: {exc}") from None
    raise RPCConfigError(f"RPC config for {name!r} must be an RPCConfig or a dict, not "
                         f"{type(value).__name__}")


@overload
def rpc(function: _F, /) -> _F: ...


@overload
def rpc(*args: str | int) -> Callable[[_F], _F]: ...


def rpc(*args: Any) -> Any:
    """Mark a method of a Python node class as an RPC, like GDScript's ``@rpc``.

    ``@rpc`` alone, ``@rpc()`` or ``@rpc("any_peer", "call_local", "unreliable", 2)``:
    the same arguments and rules as :meth:`RPCConfig.from_annotation`. Subclasses inherit
    the declarations of their bases (and can redeclare a method), as GDScript scripts do.
    """
    if len(args) == 1 and callable(args[0]) and not isinstance(args[0], (str, int)):
        setattr(args[0], _ATTR, RPCConfig())
        return args[0]
    config = RPCConfig.from_annotation(*args)

    def mark(function: _F) -> _F:
        setattr(function, _ATTR, config)
        return function

    return mark


def rpc_declarations(obj_or_class: Any) -> dict[str, RPCConfig]:
    """The ``@rpc`` methods of a class (or of an object's class), bases included.

    Like GDScript: a base's declarations are inherited, a subclass's own declaration of a
    name replaces the base's, and overriding without ``@rpc`` keeps the base's.
    """
    cls = obj_or_class if isinstance(obj_or_class, type) else type(obj_or_class)
    found: dict[str, RPCConfig] = {}
    for klass in reversed(cls.__mro__):
        for name, member in vars(klass).items():
            target = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            config = getattr(target, _ATTR, None)
            if isinstance(config, RPCConfig):
                found[name] = config
    return found


def rpc_checksum(names: Iterable[str]) -> str:
    """Lowercase hex MD5 of the UTF-8 concatenation of ``names`` (Godot's ``md5_text``)."""
    return hashlib.md5("".join(names).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RPCMethod:
    """One entry of a node's RPC table."""

    name: str
    id: int
    config: RPCConfig

    @property
    def node_level(self) -> bool:
        """True for node-level ``rpc_config()`` entries (ids with bit 15 set)."""
        return bool(self.id & NODE_RPC_ID_FLAG)


class RPCTable:
    """The RPC table of one node: ids, configs and checksum, exactly as Godot builds it.

    ``script`` holds the script's ``@rpc`` methods (inherited ones included) and ``node``
    the node-level ``rpc_config()`` entries; each maps a name to an :class:`RPCConfig`, a
    Godot config dict, or ``None`` (skipped, but takes its index).
    """

    __slots__ = ("_by_id", "_checksum", "_ids", "_order")

    def __init__(
        self,
        script: Mapping[str, ConfigLike] | None = None,
        node: Mapping[str, ConfigLike] | None = None,
    ) -> None:
        self._by_id: dict[int, RPCMethod] = {}
        self._ids: dict[str, int] = {}
        self._order: list[RPCMethod] = []
        for source, flag in ((node or {}, NODE_RPC_ID_FLAG), (script or {}, 0)):
            names = sorted(source)
            if len(names) > NODE_RPC_ID_FLAG:
                raise RPCConfigError(f"too many RPC methods ({len(names)})")
            for index, name in enumerate(names):
                if not isinstance(name, str):
                    raise RPCConfigError(f"RPC method names must be str, not {name!r}")
                config = _as_config(name, source[name])
                if config is None:
                    continue
                method = RPCMethod(name, index | flag, config)
                self._by_id[method.id] = method
                self._ids[name] = method.id  # script entries come last and win
                self._order.append(method)
        self._checksum = rpc_checksum(m.name for m in self._order)

    @property
    def checksum(self) -> str:
        """The MD5 Godot sends in ``SIMPLIFY_PATH`` (``get_rpc_md5``)."""
        return self._checksum

    def names(self) -> list[str]:
        """Method names in checksum order (node-level sorted, then script sorted)."""
        return [m.name for m in self._order]

    def method_by_id(self, method_id: int) -> RPCMethod | None:
        """The method a received id names, or None."""
        return self._by_id.get(method_id)

    def method_by_name(self, name: str) -> RPCMethod | None:
        """The entry used to send ``name`` (the script entry if both configs have it)."""
        method_id = self._ids.get(name)
        return None if method_id is None else self._by_id[method_id]

    def __iter__(self) -> Iterator[RPCMethod]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._ids

    def describe(self) -> str:
        """``name=id`` for every entry, in checksum order (for logs)."""
        return ", ".join(
            f"{m.name}={m.id:#06x}" if m.node_level else f"{m.name}={m.id}" for m in self._order
        )

    def __repr__(self) -> str:
        return f"RPCTable({self.describe()}; md5 {self._checksum})"
