"""Godot-style signals: ``connect``, ``disconnect``, ``is_connected``, ``emit``."""

from __future__ import annotations

import logging

import pytest

from godot_websocket import Error, Signal
from godot_websocket.signal import CONNECT_ONE_SHOT


def test_connect_emit_in_connection_order() -> None:
    sig: Signal = Signal("peer_connected")
    calls: list[tuple[str, tuple[object, ...]]] = []

    def a(*args: object) -> None:
        calls.append(("a", args))

    def b(*args: object) -> None:
        calls.append(("b", args))

    assert sig.name == "peer_connected"
    assert sig.connect(a) == Error.OK
    assert sig.connect(b) == Error.OK
    assert sig.is_connected(a) and sig.is_connected(b)
    sig.emit(7, "x")
    assert calls == [("a", (7, "x")), ("b", (7, "x"))]
    assert [c["callable"] for c in sig.get_connections()] == [a, b]


def test_connect_twice_is_an_error(caplog: pytest.LogCaptureFixture) -> None:
    sig: Signal = Signal("s")
    calls: list[int] = []
    sig.connect(calls.append)
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert sig.connect(calls.append) == Error.ERR_INVALID_PARAMETER
    assert "already connected" in caplog.text
    sig.emit(1)
    assert calls == [1]


def test_disconnect() -> None:
    sig: Signal = Signal("s")
    calls: list[int] = []
    sig.connect(calls.append)
    sig.disconnect(calls.append)  # an equal bound method, not the same object
    assert not sig.is_connected(calls.append)
    sig.emit(1)
    assert calls == []
    assert sig.get_connections() == []


def test_disconnect_unknown_logs(caplog: pytest.LogCaptureFixture) -> None:
    sig: Signal = Signal("s")
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        sig.disconnect(print)
    assert "not connected" in caplog.text


def test_exception_in_a_callable_is_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sig: Signal = Signal("s")
    calls: list[int] = []

    def bad(_x: int) -> None:
        raise RuntimeError("boom")

    sig.connect(bad)
    sig.connect(calls.append)
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        sig.emit(3)
    assert calls == [3]
    assert "boom" in caplog.text


def test_one_shot() -> None:
    sig: Signal = Signal("s")
    calls: list[int] = []
    sig.connect(calls.append, CONNECT_ONE_SHOT)
    sig.emit(1)
    sig.emit(2)
    assert calls == [1]
    assert not sig.is_connected(calls.append)


def test_disconnect_during_emit_does_not_skip_others() -> None:
    sig: Signal = Signal("s")
    calls: list[str] = []

    def first() -> None:
        calls.append("first")
        sig.disconnect(first)

    def second() -> None:
        calls.append("second")

    sig.connect(first)
    sig.connect(second)
    sig.emit()
    sig.emit()
    assert calls == ["first", "second", "second"]


def test_connect_requires_a_callable() -> None:
    sig: Signal = Signal("s")
    with pytest.raises(TypeError):
        sig.connect(42)  # type: ignore[arg-type]
