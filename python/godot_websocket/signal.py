"""Godot-style signals: ``obj.some_signal.connect(fn)`` and friends."""

from __future__ import annotations

import logging
from typing import Any, Callable, Generic, TypeVar

__all__ = ["Signal"]

_logger = logging.getLogger("godot_websocket")

F = TypeVar("F", bound=Callable[..., Any])

# Godot's ConnectFlags.
CONNECT_DEFERRED = 1
CONNECT_PERSIST = 2
CONNECT_ONE_SHOT = 4
CONNECT_REFERENCE_COUNTED = 8


class Signal(Generic[F]):
    """A signal with Godot's verbs: ``connect``, ``disconnect``, ``is_connected``, ``emit``.

    Callables run synchronously, in connection order, from inside ``emit()``
    (which the network classes call only from ``poll()``).  An exception raised
    by a callable is logged and does not stop the others, as a script error in
    Godot does not stop the engine.
    """

    __slots__ = ("_callables", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._callables: list[tuple[Callable[..., Any], int]] = []

    @property
    def name(self) -> str:
        """The signal's name."""
        return self._name

    def connect(self, callable_: F, flags: int = 0) -> int:
        """Connect ``callable_``; connecting it twice logs and returns ERR_INVALID_PARAMETER."""
        if not callable(callable_):
            raise TypeError(f"{self._name}.connect() needs a callable")
        if self.is_connected(callable_):
            _logger.error("Signal '%s' is already connected to %r", self._name, callable_)
            return 31  # ERR_INVALID_PARAMETER
        self._callables.append((callable_, flags))
        return 0

    def disconnect(self, callable_: F) -> None:
        """Disconnect ``callable_`` (logs an error if it was not connected)."""
        for i, (c, _flags) in enumerate(self._callables):
            if c == callable_:
                del self._callables[i]
                return
        _logger.error("Signal '%s' is not connected to %r", self._name, callable_)

    def is_connected(self, callable_: F) -> bool:
        """Whether ``callable_`` is connected."""
        return any(c == callable_ for c, _flags in self._callables)

    def get_connections(self) -> list[dict[str, Any]]:
        """The connections, as Godot lists them (``callable`` and ``flags``)."""
        return [{"signal": self, "callable": c, "flags": f} for c, f in self._callables]

    def emit(self, *args: Any) -> None:
        """Call every connected callable with ``args``."""
        for c, flags in list(self._callables):
            if flags & CONNECT_ONE_SHOT:
                self.disconnect(c)  # type: ignore[arg-type]
            try:
                c(*args)
            except Exception:
                _logger.exception("Error in a callable connected to signal '%s'", self._name)

    def __repr__(self) -> str:
        return f"Signal({self._name!r}, {len(self._callables)} connection(s))"
