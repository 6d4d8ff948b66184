"""Objects closed and contexts shut down with no ``poll()`` in between.

Each scenario makes its own :class:`Context`, uses it without ever servicing it, and
lets go of everything; nothing of it may stay allocated.  Used in-process by
``test_context_shutdown.py``, and in child processes whose exit LeakSanitizer checks
under ``.ci/sanitize asan``::

    python tests/shutdown_scenarios.py NAME [NAME ...]
"""

from __future__ import annotations

import gc
import socket
import sys
from collections.abc import Callable

from godot_websocket import Error, WebSocketMultiplayerPeer, WebSocketPeer
from godot_websocket._core import Context, Group, ffi, lib


def _server(threaded: bool, *, close: bool = True, shutdown: bool = True,
            poll_first: bool = False) -> None:
    ctx = Context(threaded=threaded)
    peer = WebSocketMultiplayerPeer(context=ctx)
    if poll_first:
        lib.gws_context_service(ctx.ptr)
    assert peer.create_server(0, "127.0.0.1") == Error.OK
    assert peer.get_local_port() > 0
    if close:
        peer.close()
    if shutdown:
        ctx.shutdown()
    del peer, ctx
    gc.collect()


def _client(threaded: bool) -> None:
    # A port that accepts (the backlog takes the connection) and never answers.
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        ctx = Context(threaded=threaded)
        peer = WebSocketPeer(context=ctx)
        assert peer.connect_to_url(f"ws://127.0.0.1:{lsock.getsockname()[1]}") == Error.OK
        peer.close()
        ctx.shutdown()
        del peer, ctx
        gc.collect()


def _accept_fd(threaded: bool) -> None:
    """gws_conn_accept_fd() (the core's adoption of a connected socket, which makes a
    listener that listens nowhere; WebSocketPeer.accept_stream()), called directly on
    a socket pair, closed before the handshake."""
    a, b = socket.socketpair()
    with b:
        ctx = Context(threaded=threaded)
        group = Group(ctx, auto_release=True)
        out = ffi.new("gws_conn **")
        assert lib.gws_conn_new(group.ptr, WebSocketPeer()._limits(), out) == 0
        conn = ffi.gc(out[0], lib.gws_conn_release)
        assert lib.gws_conn_accept_fd(conn, a.detach(), ffi.NULL, ffi.NULL, ffi.NULL, 0) == 0
        lib.gws_conn_close(conn, -1, ffi.NULL, 0)
        ctx.shutdown()
        del conn, group, ctx
        gc.collect()


SCENARIOS: dict[str, Callable[[], None]] = {
    # create_server() -> close() -> shutdown(), no poll: the reported leak
    "server-nothread": lambda: _server(False),
    "server-threaded": lambda: _server(True),
    # shutdown() with the server still listening; the peer goes after it
    "server-nothread-no-close": lambda: _server(False, close=False),
    "server-threaded-no-close": lambda: _server(True, close=False),
    # close() only: the context goes with its last reference
    "server-nothread-no-shutdown": lambda: _server(False, shutdown=False),
    # serviced once before create_server()
    "server-nothread-polled": lambda: _server(False, poll_first=True),
    "client-nothread": lambda: _client(False),
    "client-threaded": lambda: _client(True),
    "accept-fd-nothread": lambda: _accept_fd(False),
    "accept-fd-threaded": lambda: _accept_fd(True),
}


_KEEP: list[object] = []


def _alive_at_exit(threaded: bool) -> None:
    """close() without shutdown(), the peer and context still referenced when the
    interpreter exits (child processes only)."""
    ctx = Context(threaded=threaded)
    peer = WebSocketMultiplayerPeer(context=ctx)
    assert peer.create_server(0, "127.0.0.1") == Error.OK
    peer.close()
    _KEEP.extend((ctx, peer))


#: Only meaningful in a child process, which exits with them.
AT_EXIT: dict[str, Callable[[], None]] = {
    "server-nothread-at-exit": lambda: _alive_at_exit(False),
    "server-threaded-at-exit": lambda: _alive_at_exit(True),
}


def run(name: str) -> None:
    (SCENARIOS.get(name) or AT_EXIT[name])()


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        run(arg)
    print("ok", flush=True)
