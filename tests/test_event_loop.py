"""The event loop under libwebsockets: epoll through lws' libev plugin for threaded
contexts when it loads, else poll(); GODOT_WEBSOCKET_EVENT_LOOP forces the choice.

Each case runs in a subprocess (the variable is read when a context is created, and a
failed plugin load is remembered for the process).  The rest of the suite runs on
whichever loop the environment selects; run it once with GODOT_WEBSOCKET_EVENT_LOOP=poll
as well (docs/performance.md, "Event loop")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

# One round trip (with a heartbeat running) on the default threaded context, and the
# loops of a threaded and a no-thread context.  lws timers on either loop are covered by
# the heartbeat tests of test_websocket_peer_limits.py, which fail on libev without the
# tick of csrc/evloop.c.
SNIPPET = textwrap.dedent(
    """
    import json, time
    from godot_websocket import Error, WebSocketPeer
    from godot_websocket._core import Context, default_context
    import websockets.sync.server as wss
    import threading

    sent = []
    def handler(conn):
        for msg in conn:
            conn.send(msg)
    srv = wss.serve(handler, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.socket.getsockname()[1]
    peer = WebSocketPeer()
    peer.heartbeat_interval = 0.05
    assert peer.connect_to_url(f"ws://127.0.0.1:{port}") == Error.OK
    deadline = time.monotonic() + 10
    got = None
    while time.monotonic() < deadline and got is None:
        peer.poll()
        if peer.get_ready_state() == WebSocketPeer.STATE_OPEN and not sent:
            sent.append(peer.send(b"ping-through"))
        if peer.get_available_packet_count():
            got = peer.get_packet()
        time.sleep(0.002)
    # a quiet link with heartbeats running stays open
    t_end = time.monotonic() + 0.3
    while time.monotonic() < t_end:
        peer.poll()
        time.sleep(0.005)
    state = peer.get_ready_state()
    peer.close()
    srv.shutdown()
    loops = {}
    for name, threaded in (("threaded", True), ("nothread", False)):
        ctx = Context(threaded=threaded)
        loops[name] = ctx.event_loop
        ctx.shutdown()  # before the handle is released
    print(json.dumps({
        "default": default_context().event_loop,
        **loops,
        "echo": got.decode() if got else None,
        "open": state == WebSocketPeer.STATE_OPEN,
    }))
    """
)


def run(value: str | None) -> tuple[dict[str, object], str]:
    env = dict(os.environ)
    env.pop("GODOT_WEBSOCKET_EVENT_LOOP", None)
    if value is not None:
        env["GODOT_WEBSOCKET_EVENT_LOOP"] = value
    p = subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


@pytest.fixture(scope="module")
def libev_available() -> bool:
    out, err = run("libev")
    if err:
        assert "GODOT_WEBSOCKET_EVENT_LOOP" in err and out["threaded"] == "poll"
    return not err


def test_default_prefers_libev_for_threaded_contexts(libev_available: bool) -> None:
    out, err = run(None)
    assert err == ""  # nothing said when the choice is automatic
    expected = "libev" if libev_available else "poll"
    assert out == {"default": expected, "threaded": expected, "nothread": "poll",
                   "echo": "ping-through", "open": True}


@pytest.mark.parametrize("value", ["auto", ""])
def test_auto(value: str, libev_available: bool) -> None:
    out, err = run(value)
    assert err == ""
    assert out["threaded"] == ("libev" if libev_available else "poll")


def test_forced_poll() -> None:
    out, err = run("poll")
    assert err == ""
    assert out == {"default": "poll", "threaded": "poll", "nothread": "poll",
                   "echo": "ping-through", "open": True}


def test_forced_libev(libev_available: bool) -> None:
    if not libev_available:
        pytest.skip("lws' libev plugin (libwebsockets-evlib-ev) or libev is not installed")
    out, err = run("libev")
    assert err == ""
    assert out == {"default": "libev", "threaded": "libev", "nothread": "poll",
                   "echo": "ping-through", "open": True}


@pytest.mark.parametrize("value", ["libuv", "epoll"])
def test_unsupported_values_fall_back_to_poll_saying_so_once(value: str) -> None:
    out, err = run(value)
    assert out["threaded"] == "poll" and out["echo"] == "ping-through"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "GODOT_WEBSOCKET_EVENT_LOOP" in lines[0], err
