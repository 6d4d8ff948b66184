"""Fixtures for the end-to-end tests that run a real Godot 4 engine (web build, Chromium).

Fixtures (see README.md in this folder):

* ``godot_browser`` (module scope): a :class:`godot_harness.GodotBrowser`, i.e. one headless
  Chromium and one HTTP server serving the engine and the packed ``godot_demo/``. Use
  ``godot_browser.start_clients(url, scenario, count, timeout, ...)`` for a non-blocking
  run (then ``run.wait(poll=...)``).
* ``godot_clients`` (function scope): ``godot_clients(url, scenario, count=1, timeout=30,
  *, args=None, per_client_args=None, tags=None, poll=None) -> list[ClientResult]``,
  blocking until every client exited or the timeout passed.
* ``godot_web_engine``, ``chromium_binary``, ``godot_demo_pack`` (session scope): the
  engine folder, the browser binary and the pack bytes.

When the engine, Chromium or the ``websockets`` package cannot be had, the tests that need
them are skipped with the reason, except under ``CI=true``, where they fail instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

HERE = Path(__file__).resolve().parent
# The helper modules live next to this file; make them importable whatever pytest's
# import mode is (the default "prepend" mode does this already).
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from godot_engine import EngineUnavailable, ensure_engine, find_chromium  # noqa: E402
from godot_harness import GodotBrowser, HarnessError, RunClients, build_demo_pack  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: end-to-end test running a real Godot 4 engine (web build) in headless Chromium",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in this folder is an e2e test, whether or not its module says so."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def in_ci() -> bool:
    """True when the environment variable CI says so (``true``/``1``/``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI=true, because its setup cannot be had."""
    if in_ci():
        pytest.fail(f"e2e setup failed under CI=true: {reason}", pytrace=False)
    pytest.skip(f"e2e setup unavailable: {reason}")


@pytest.fixture(scope="session")
def godot_web_engine() -> Path:
    """The folder with index.js / index.wasm (fetched once into the cache)."""
    try:
        return ensure_engine()
    except EngineUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def chromium_binary() -> Path:
    try:
        return find_chromium()
    except EngineUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def godot_demo_pack() -> bytes:
    """``godot_demo/`` packed into a .pck with godot_websocket.pck."""
    return build_demo_pack()


@pytest.fixture(scope="module")
def godot_browser(
    godot_web_engine: Path, chromium_binary: Path, godot_demo_pack: bytes
) -> Iterator[GodotBrowser]:
    """One Chromium + HTTP server for the whole test module (the browser starts once)."""
    try:
        browser = GodotBrowser(godot_web_engine, chromium_binary, godot_demo_pack)
    except ImportError as exc:
        unavailable(f"the websockets package is needed to drive Chromium: {exc}")
    except (HarnessError, OSError) as exc:
        unavailable(f"cannot start Chromium: {exc}")
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def godot_clients(godot_browser: GodotBrowser) -> RunClients:
    """``godot_clients(url, scenario, count=1, timeout=30, ...) -> list[ClientResult]``."""
    return godot_browser.run_clients
