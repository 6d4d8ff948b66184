"""A chat lobby server for the Godot demo scene ``godot_demo/scene/chat.tscn``.

Godot clients join with a name, chat through the server (``say`` -> ``message`` to
everyone) and whisper to each other directly; whispers travel through this server's relay
without the server seeing them. The RPC declarations are read from the game's script
(``godot_demo/scene/chat.gd``), so the method ids match the Godot side.

::

    python examples/chat_server.py --port 9080             # add --secret pw to require auth
    godot --path godot_demo res://scene/chat.tscn -- --url=ws://127.0.0.1:9080 --name=Ada

The server stops after ``--seconds`` (default one hour) or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from godot_websocket import Error, WebSocketMultiplayerPeer
from godot_websocket.scene import SceneMultiplayer, SharedSecretAuth, load_gdscript_rpc

CHAT_SCRIPT = Path(__file__).resolve().parent.parent / "godot_demo" / "scene" / "chat.gd"
NODE_PATH = "/root/Chat"  # the root of chat.tscn, run as the main scene
MAX_NAME = 24
MAX_TEXT = 500

log = logging.getLogger("chat_server")


class ChatLobby:
    """The Python side of the node at /root/Chat: its methods are the client-to-server RPCs."""

    def __init__(self, multiplayer: SceneMultiplayer) -> None:
        self.mp = multiplayer
        self.players: dict[int, str] = {}  # peer id -> name, in joining order

    # -- RPCs called by Godot clients (declared "any_peer" in chat.gd) -----------------------

    def join(self, player_name: str) -> None:
        """A client asks to enter the lobby under ``player_name``."""
        peer = self.mp.get_remote_sender_id()
        name = " ".join(str(player_name).split())[:MAX_NAME]
        if not name or name in self.players.values() or peer in self.players:
            reason = "that name is taken" if name in self.players.values() else "invalid name"
            self.mp.rpc_id(peer, NODE_PATH, "rejected", reason)
            return
        self.players[peer] = name
        log.info("%s joined (peer %d)", name, peer)
        self._broadcast_lobby()
        self.mp.rpc(NODE_PATH, "message", 1, "server", f"{name} joined the lobby")

    def say(self, text: str) -> None:
        """A client sends a chat line to everyone."""
        peer = self.mp.get_remote_sender_id()
        name = self.players.get(peer)
        if name is None:
            return  # must join first
        line = str(text)[:MAX_TEXT]
        log.info("%s: %s", name, line)
        self.mp.rpc(NODE_PATH, "message", peer, name, line)

    def whisper(self, text: str) -> None:
        """Whispers are client-to-client; one addressed to the server is ignored."""
        log.info("peer %d whispered to the server; ignored", self.mp.get_remote_sender_id())

    # -- peers -----------------------------------------------------------------------------

    def on_peer_disconnected(self, peer: int) -> None:
        name = self.players.pop(peer, None)
        if name is not None:
            log.info("%s left", name)
            self._broadcast_lobby()
            self.mp.rpc(NODE_PATH, "message", 1, "server", f"{name} left the lobby")

    def _broadcast_lobby(self) -> None:
        self.mp.rpc(NODE_PATH, "lobby", dict(self.players))


class ChatServer:
    """The transport, the SceneMultiplayer endpoint and the lobby, ready to poll."""

    def __init__(self, port: int = 9080, bind: str = "127.0.0.1", secret: str | None = None,
                 script: Path = CHAT_SCRIPT) -> None:
        self.transport = WebSocketMultiplayerPeer()
        err = self.transport.create_server(port, bind)
        if err != Error.OK:
            raise OSError(f"cannot listen on {bind}:{port}: {err.name}")
        self.multiplayer = SceneMultiplayer(self.transport)
        self.lobby = ChatLobby(self.multiplayer)
        self.multiplayer.register_node(NODE_PATH, self.lobby,
                                       script_rpc=load_gdscript_rpc(script))
        self.multiplayer.peer_disconnected.connect(self.lobby.on_peer_disconnected)
        self.multiplayer.peer_connected.connect(lambda peer: log.info("peer %d connected", peer))
        if secret:
            auth = SharedSecretAuth(secret.encode(), reply=b"welcome")
            auth.install(self.multiplayer)
            auth.refused.connect(lambda peer, _data: log.info("peer %d: wrong secret", peer))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.transport.get_local_port()}"

    def poll(self) -> None:
        self.multiplayer.poll()

    def close(self) -> None:
        self.transport.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9080)
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--secret", default=None, help="require clients to send this secret")
    parser.add_argument("--seconds", type=float, default=3600.0, help="stop after this long")
    parser.add_argument("--script", type=Path, default=CHAT_SCRIPT, help="the chat .gd file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    server = ChatServer(args.port, args.bind, args.secret, args.script)
    log.info("chat server on ws://%s:%d (node %s)", args.bind, server.transport.get_local_port(),
             NODE_PATH)
    deadline = time.monotonic() + args.seconds
    try:
        while time.monotonic() < deadline:
            server.poll()
            time.sleep(0.01)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
