"""Helpers for the SceneMultiplayer end-to-end tests (``tests/e2e/test_scene_*.py``).

* :func:`build_scene_pack` packs ``godot_demo/`` like ``godot_harness.build_demo_pack`` but
  with another main scene (``project.godot``'s ``run/main_scene`` rewritten in the pack
  only), so a test can run ``godot_demo/scene/*.tscn``;
* :func:`serve_scene_pack` builds one and serves it from a :class:`GodotBrowser`;
* :class:`RecordingPeer` is a ``WebSocketMultiplayerPeer`` that keeps every packet it
  reads and writes, so tests can check exact bytes on the wire;
* :func:`scene_server` starts a Python ``SceneMultiplayer`` server on 127.0.0.1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from godot_harness import DEMO_DIR, GodotBrowser, _load_packer

from godot_websocket import Error, WebSocketMultiplayerPeer
from godot_websocket.scene import SceneMultiplayer

__all__ = [
    "SCENE_DIR",
    "RecordingPeer",
    "build_scene_pack",
    "scene_server",
    "serve_scene_pack",
]

SCENE_DIR = DEMO_DIR / "scene"
_MAIN_SCENE = re.compile(rb'^run/main_scene=".*"$', re.MULTILINE)


def build_scene_pack(main_scene: str, project_dir: Path = DEMO_DIR) -> bytes:
    """``project_dir`` packed with ``run/main_scene`` set to ``main_scene`` (``res://...``)."""
    packer = _load_packer()
    files: dict[str, bytes] = packer.collect_directory(project_dir)
    project = files["project.godot"]
    line = b'run/main_scene="' + main_scene.encode() + b'"'
    if _MAIN_SCENE.search(project):
        project = _MAIN_SCENE.sub(line, project, count=1)
    else:
        project = project.replace(b"[application]\n", b"[application]\n\n" + line + b"\n", 1)
    files["project.godot"] = project
    return bytes(packer.build_pck(files))


def serve_scene_pack(browser: GodotBrowser, main_scene: str) -> str:
    """Serve a pack that starts ``main_scene``; returns the name for ``pack=``."""
    name = "scene-" + re.sub(r"[^A-Za-z0-9_-]+", "_", main_scene.removeprefix("res://")) + ".pck"
    browser.http.add_file(name, build_scene_pack(main_scene))
    return name


class RecordingPeer(WebSocketMultiplayerPeer):
    """A WebSocketMultiplayerPeer that records ``(peer, bytes)`` of every packet.

    ``received`` holds what ``get_packet()`` returned with its sender; ``sent`` what
    ``put_packet()`` was given with the target peer at that moment.
    """

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[int, bytes]] = []
        self.sent: list[tuple[int, bytes]] = []

    def _get_packet(self) -> tuple[Error, bytes]:
        sender = self.get_packet_peer() if self.get_available_packet_count() else 0
        err, data = super()._get_packet()
        if err == Error.OK:
            self.received.append((sender, bytes(data)))
        return err, data

    def _put_packet(self, data: Any) -> Error:
        self.sent.append((self.get_target_peer(), bytes(data)))
        return super()._put_packet(data)

    def received_from(self, peer_id: int) -> list[bytes]:
        """Packets received from ``peer_id``, in order."""
        return [data for sender, data in self.received if sender == peer_id]

    def sent_to(self, peer_id: int) -> list[bytes]:
        """Packets sent with target ``peer_id``, in order."""
        return [data for target, data in self.sent if target == peer_id]


def scene_server(**options: Any) -> tuple[SceneMultiplayer, RecordingPeer, str]:
    """A SceneMultiplayer server on a RecordingPeer listening on 127.0.0.1 (free port).

    ``options`` are SceneMultiplayer constructor arguments. Returns ``(multiplayer,
    transport, url)``; the caller closes the transport.
    """
    transport = RecordingPeer()
    err = transport.create_server(0, "127.0.0.1")
    if err != Error.OK:
        raise RuntimeError(f"create_server failed: {err!r}")
    multiplayer = SceneMultiplayer(transport, **options)
    return multiplayer, transport, f"ws://127.0.0.1:{transport.get_local_port()}"
