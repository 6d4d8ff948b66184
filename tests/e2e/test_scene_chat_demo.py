"""The demo pair: ``examples/chat_server.py`` with two Godot clients running
``godot_demo/scene/chat.tscn`` (chat through the server, whispers through the relay)."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from godot_harness import REPO_ROOT, ClientResult, GodotBrowser
from scene_support import serve_scene_pack

pytestmark = pytest.mark.e2e


def load_example() -> ModuleType:
    path = Path(REPO_ROOT) / "examples" / "chat_server.py"
    spec = importlib.util.spec_from_file_location("chat_server_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["chat_server_example"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def chat() -> Iterator[Any]:
    server = load_example().ChatServer(port=0)
    try:
        yield server
    finally:
        server.close()


def check_ok(result: ClientResult) -> None:
    assert result.exit_code == 0 and not result.timed_out, result.describe()
    assert not result.page_errors, result.describe()


def test_chat_demo_two_godot_clients(godot_browser: GodotBrowser, chat: Any,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chat_server")
    pack = serve_scene_pack(godot_browser, "res://scene/chat.tscn")
    names = ["Ada", "Bob"]
    results = godot_browser.start_clients(
        chat.url, "chat", count=2, timeout=40, pack=pack, tags=names,
        per_client_args=[{"name": n, "players": 2, "say": f"hi from {n}",
                          "whisper": f"psst from {n}", "expect": 2} for n in names],
    ).wait(poll=chat.poll)
    for result in results:
        check_ok(result)
    ids = {n: r.unique_id for n, r in zip(names, results)}
    log = [r.getMessage() for r in caplog.records if r.name == "chat_server"]
    for name in names:
        assert f"{name} joined (peer {ids[name]})" in log
        assert f"{name}: hi from {name}" in log
    assert not [m for m in log if "whisper" in m]  # whispers only passed through the relay
    for me, other in (("Ada", "Bob"), ("Bob", "Ada")):
        result = results[names.index(me)]
        lobbies = [sorted(e["players"]) for e in result.events("lobby")]
        assert ["Ada", "Bob"] in lobbies, result.describe()
        said = [(e["from"], e["name"], e["text"]) for e in result.events("message")
                if e["from"] != 1]
        assert (ids[other], other, f"hi from {other}") in said, result.describe()
        whispers = [(e["from"], e["name"], e["text"]) for e in result.events("whisper")]
        assert whispers == [(ids[other], other, f"psst from {other}")], result.describe()
        assert result.event("exit")["why"] == "done"
