"""``wait()`` and ``fileno()`` (additions to Godot's API): block until there is news.

Real sockets on 127.0.0.1; the other end is python ``websockets`` (in threads of this
process) or another of our peers.  Every wait is bounded and its elapsed time checked.
Both context kinds: threaded (the service thread wakes the waiter) and no-thread (the
wait is the service step, blocking).
"""

from __future__ import annotations

import inspect
import io
import os
import selectors
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from godot_websocket import Context, Error, WebSocketMultiplayerPeer, WebSocketPeer
from polling import DEFAULT_TIMEOUT

# Generous upper bounds: this machine is shared and sanitizer builds are slow.
SLACK = 2.0 if os.environ.get("GWS_SANITIZER") else 1.0


@pytest.fixture(params=["threaded", "nothread"])
def ctx(request: pytest.FixtureRequest) -> Any:
    """A fresh context of each kind (shut down at teardown)."""
    c = Context(threaded=request.param == "threaded")
    yield c
    c.shutdown()


def _server(ctx: Context) -> WebSocketMultiplayerPeer:
    mp = WebSocketMultiplayerPeer(context=ctx)
    assert mp.create_server(0, "127.0.0.1") == Error.OK
    return mp


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    t = time.monotonic()
    r = fn(*args)
    return r, time.monotonic() - t


def _open_client(ctx: Context, url: str) -> WebSocketPeer:
    """One of our clients, OPEN, driven by wait() + poll() (no spinning)."""
    ws = WebSocketPeer(context=ctx)
    assert ws.connect_to_url(url) == Error.OK
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while ws.get_ready_state() == WebSocketPeer.STATE_CONNECTING:
        assert time.monotonic() < deadline, "handshake did not finish"
        ws.wait(0.1)
        ws.poll()
    assert ws.get_ready_state() == WebSocketPeer.STATE_OPEN
    return ws


def _later(delay: float, fn: Any) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        fn()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# ---------------------------------------------------------------- timeouts and arguments


def test_wait_times_out_without_events(ctx: Context) -> None:
    mp = _server(ctx)
    r, took = _timed(mp.wait, 0.2)
    assert r is False
    assert 0.19 <= took < 0.2 + SLACK
    mp.close()


def test_wait_zero_only_looks(ctx: Context) -> None:
    mp = _server(ctx)
    r, took = _timed(mp.wait, 0)
    assert r is False and took < 0.1 * SLACK
    r, took = _timed(mp.wait, 0.0)
    assert r is False and took < 0.1 * SLACK
    mp.close()


@pytest.mark.parametrize("bad, exc", [
    (-1, ValueError), (-0.001, ValueError), (float("nan"), ValueError),
    ("1", TypeError), (True, TypeError), ([1], TypeError)])
def test_wait_rejects_bad_timeouts(bad: Any, exc: type[Exception]) -> None:
    mp = WebSocketMultiplayerPeer()
    ws = WebSocketPeer()
    with pytest.raises(exc):
        mp.wait(bad)
    with pytest.raises(exc):
        ws.wait(bad)


def test_wait_without_connection_sleeps_the_timeout() -> None:
    for peer in (WebSocketMultiplayerPeer(), WebSocketPeer()):
        r, took = _timed(peer.wait, 0.05)
        assert r is False and 0.045 <= took < 0.05 + SLACK


# ---------------------------------------------------------------- events wake it


def test_wait_wakes_on_a_connection(ctx: Context) -> None:
    """A python-websockets client connecting from another thread wakes the server."""
    from websockets.sync.client import connect

    # websockets >= 16 warns unless a directly used connect() says legacy=True
    direct = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}
    mp = _server(ctx)
    url = f"ws://127.0.0.1:{mp.get_local_port()}"
    box: list[Any] = []
    t = _later(0.2, lambda: box.append(connect(url, open_timeout=DEFAULT_TIMEOUT, **direct)))
    r, took = _timed(mp.wait, DEFAULT_TIMEOUT)
    assert r is True
    assert 0.15 <= took < 0.2 + SLACK
    # drive the handshake (the no-thread context needs the caller) until the peer joins
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while not mp.get_peer_ids():
        assert time.monotonic() < deadline
        mp.wait(0.1)
        mp.poll()
    t.join(DEFAULT_TIMEOUT)
    mp.close()  # drops TCP: the client's close() need not wait for a closing handshake
    mp.wait(0)
    box[0].close()


def test_wait_wakes_on_a_packet_and_on_close(ctx: Context, ws_server: Any) -> None:
    """The server sends one message after 0.2 s, closes after 0.4 s: each wakes the client."""
    def handler(conn: Any) -> None:
        conn.recv()
        time.sleep(0.2)
        conn.send(b"late")
        time.sleep(0.2)
        conn.close(4001, "bye")

    srv = ws_server(handler)
    ws = _open_client(ctx, srv.url)
    assert ws.put_packet(b"go") == Error.OK
    # (no-thread: the first wait also sends "go")
    r, took = _timed(ws.wait, DEFAULT_TIMEOUT)
    assert r is True and 0.15 <= took < 0.2 + SLACK
    ws.poll()
    assert ws.get_available_packet_count() == 1
    # packets waiting: wait() returns at once
    r, took = _timed(ws.wait, DEFAULT_TIMEOUT)
    assert r is True and took < 0.1 * SLACK
    assert ws.get_packet() == b"late"
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while ws.get_ready_state() == WebSocketPeer.STATE_OPEN:
        assert time.monotonic() < deadline
        assert ws.wait(DEFAULT_TIMEOUT) is True
        ws.poll()
    while ws.get_ready_state() != WebSocketPeer.STATE_CLOSED:
        assert time.monotonic() < deadline
        ws.wait(0.1)
        ws.poll()
    assert ws.get_close_code() == 4001
    # closed: nothing more will come
    r, took = _timed(ws.wait, 0.1)
    assert r is False and 0.09 <= took < 0.1 + SLACK


def test_wait_after_close(ctx: Context) -> None:
    mp = _server(ctx)
    ws = _open_client(ctx, f"ws://127.0.0.1:{mp.get_local_port()}")
    ws.close(-1)
    ws.poll()  # what arrived before the close (the server's id message) is drained
    r, took = _timed(ws.wait, 0.1)
    assert r is False and 0.09 <= took < 0.1 + SLACK
    mp.close()
    r, took = _timed(mp.wait, 0.1)
    assert r is False and 0.09 <= took < 0.1 + SLACK


def test_multiplayer_echo_with_wait(ctx: Context) -> None:
    """Our client and server on one context, both driven by wait() only: packets both ways."""
    mp = _server(ctx)
    cl = WebSocketMultiplayerPeer(context=ctx)
    assert cl.create_client(f"ws://127.0.0.1:{mp.get_local_port()}") == Error.OK
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while cl.get_connection_status() != WebSocketMultiplayerPeer.CONNECTION_CONNECTED:
        assert time.monotonic() < deadline
        cl.wait(0.05)
        cl.poll()
        mp.wait(0)
        mp.poll()
    for i in range(50):
        cl.put_packet(b"%d" % i)
        while not mp.get_available_packet_count():
            assert time.monotonic() < deadline
            mp.wait(0.5)
            mp.poll()
            cl.poll()  # no-thread: the client's send leaves in its own service step
        sender = mp.get_packet_peer()
        mp.set_target_peer(sender)
        mp.put_packet(mp.get_packet())
        while not cl.get_available_packet_count():
            assert time.monotonic() < deadline
            cl.wait(0.5)
            cl.poll()
            mp.poll()
        assert cl.get_packet() == b"%d" % i
    cl.close()
    mp.close()


def test_peers_sharing_a_context_wait_for_their_own_events(ctx: Context, ws_server: Any) -> None:
    """Two clients on one context: a message for B does not end A's wait, and B sees it."""
    srv = ws_server()  # echo
    a = _open_client(ctx, srv.url)
    b = _open_client(ctx, srv.url)
    assert b.put_packet(b"for b") == Error.OK
    r, took = _timed(a.wait, 0.3)  # (no-thread: also B's I/O step)
    assert r is False and 0.29 <= took < 0.3 + SLACK
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while not b.get_available_packet_count():
        assert time.monotonic() < deadline
        b.wait(0.5)
        b.poll()
    assert b.get_packet() == b"for b"
    assert a.get_available_packet_count() == 0
    a.close(-1)
    b.close(-1)
    a.wait(0)  # (no-thread: the drops happen in a service step)


def test_wait_releases_the_gil() -> None:
    """Another Python thread runs while one waits (cffi drops the GIL in the C call)."""
    mp = _server(Context())
    count = [0]
    stop = threading.Event()

    def count_up() -> None:
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=count_up)
    t.start()
    time.sleep(0.05)
    c0 = count[0]
    mp.wait(0.3)
    c1 = count[0]
    stop.set()
    t.join()
    assert c1 - c0 > 10_000  # millions without the GIL held, ~0 with it
    mp.close()


# ---------------------------------------------------------------- no lost wake-ups


STRESS = textwrap.dedent("""
    import sys, threading, time, random
    from godot_websocket import Context, Error, WebSocketPeer
    from websockets.sync.server import serve

    def handler(conn):
        rnd = random.Random(1)
        for msg in conn:
            # replies right away, or after a short while: the waiter is either still
            # spinning, about to sleep or asleep when the event comes
            d = rnd.choice((0, 0, 0, 0.00002, 0.0001, 0.001))
            if d:
                time.sleep(d)
            conn.send(msg)

    srv = serve(handler, "127.0.0.1", 0, ping_interval=None)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.socket.getsockname()[1]
    ctx = Context(threaded=sys.argv[1] == "threaded")
    ws = WebSocketPeer(context=ctx)
    assert ws.connect_to_url(f"ws://127.0.0.1:{port}") == Error.OK
    while ws.get_ready_state() == WebSocketPeer.STATE_CONNECTING:
        ws.wait(0.1)
        ws.poll()
    missed = 0
    n = int(sys.argv[2])
    for i in range(n):
        ws.put_packet(b"%d" % i)
        while not ws.get_available_packet_count():
            if not ws.wait(2.0):
                missed += 1  # 2 s without the wake-up of an echo that came
            ws.poll()
        assert ws.get_packet() == b"%d" % i
    print("missed", missed, flush=True)
    # no interpreter teardown with the server's threads still running (under
    # ThreadSanitizer CPython's own module teardown races them)
    import os
    os._exit(0)
""")


@pytest.mark.parametrize("kind", ["threaded", "nothread"])
@pytest.mark.parametrize("spin", ["0", "20"])
def test_no_lost_wakeups(kind: str, spin: str) -> None:
    """Echo round trips, each reply awaited by wait(2.0): none may time out.  Run in a
    process of its own with the spin before sleeping set (0: every wait sleeps)."""
    n = 300 if os.environ.get("GWS_SANITIZER") else 1500
    env = dict(os.environ, GODOT_WEBSOCKET_WAIT_SPIN_US=spin)
    p = subprocess.run([sys.executable, "-c", STRESS, kind, str(n)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "missed 0" in p.stdout, p.stdout + p.stderr[-2000:]


def test_threads_waiting_on_peers_of_one_context(ws_server: Any) -> None:
    """Two threads, each with its own peer on the one threaded context, echo round trips
    awaited by wait(2.0): while one runs the event loop inside its wait, the other's
    events must still wake it (no wait may time out)."""
    srv = ws_server()  # echo
    ctx = Context()
    n = 150 if os.environ.get("GWS_SANITIZER") else 600
    missed: list[int] = []
    errors: list[BaseException] = []

    def run(delay_every: int) -> None:
        try:
            ws = _open_client(ctx, srv.url)
            for i in range(n):
                ws.put_packet(b"%d" % i)
                while not ws.get_available_packet_count():
                    if not ws.wait(2.0):
                        missed.append(i)
                    ws.poll()
                assert ws.get_packet() == b"%d" % i
                if i % delay_every == 0:
                    time.sleep(0.003)  # away from wait() longer than the loop stays parked
            ws.close(-1)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in (7, 11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert not missed
    ctx.shutdown()


# ---------------------------------------------------------------- fileno()


def test_fileno_with_selectors() -> None:
    """Readable while poll() has news, not readable once drained."""
    ctx = Context()
    mp = _server(ctx)
    sel = selectors.DefaultSelector()
    sel.register(mp.fileno(), selectors.EVENT_READ)
    assert sel.select(0.1) == []
    ws = WebSocketPeer(context=ctx)
    assert ws.connect_to_url(f"ws://127.0.0.1:{mp.get_local_port()}") == Error.OK
    assert sel.select(DEFAULT_TIMEOUT)  # the connection was accepted
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while not mp.get_peer_ids():
        assert time.monotonic() < deadline
        sel.select(0.1)
        mp.poll()
    # the client reads its id; then the server is quiet and its fd is not readable
    while not ws.get_available_packet_count():
        assert time.monotonic() < deadline
        ws.wait(0.1)
        ws.poll()
    ws.get_packet()
    mp.poll()
    assert sel.select(0.05) == []
    ws.put_packet(b"hello")
    assert sel.select(DEFAULT_TIMEOUT)
    mp.poll()
    assert mp.get_packet() == b"hello"
    assert sel.select(0) == []
    # the client's own fd too
    csel = selectors.DefaultSelector()
    csel.register(ws.fileno(), selectors.EVENT_READ)
    mp.set_target_peer(mp.get_peer_ids()[0])
    mp.put_packet(b"back")
    assert csel.select(DEFAULT_TIMEOUT)
    ws.poll()
    assert ws.get_packet() == b"back"
    sel.close()
    csel.close()
    ws.close(-1)
    mp.close()
    ctx.shutdown()


def test_fileno_with_asyncio() -> None:
    """``loop.add_reader(peer.fileno(), ...)``: the reader runs when a packet arrives."""
    import asyncio

    ctx = Context()
    mp = _server(ctx)
    ws = _open_client(ctx, f"ws://127.0.0.1:{mp.get_local_port()}")
    got: list[bytes] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def on_news() -> None:
            ws.poll()
            while ws.get_available_packet_count():
                got.append(ws.get_packet())
            if len(got) >= 2 and not done.done():  # the id message, then ours
                done.set_result(None)

        loop.add_reader(ws.fileno(), on_news)
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while not mp.get_peer_ids():  # the server side, driven from this loop too
            assert time.monotonic() < deadline
            mp.poll()
            await asyncio.sleep(0.005)
        mp.set_target_peer(mp.get_peer_ids()[0])
        mp.put_packet(b"via asyncio")
        await asyncio.wait_for(done, DEFAULT_TIMEOUT)
        loop.remove_reader(ws.fileno())

    asyncio.run(main())
    assert got[-1] == b"via asyncio"
    ws.close(-1)
    mp.close()
    ctx.shutdown()


def test_fileno_unsupported() -> None:
    with pytest.raises(io.UnsupportedOperation):
        WebSocketMultiplayerPeer().fileno()
    with pytest.raises(io.UnsupportedOperation):
        WebSocketPeer().fileno()
    nt = Context(threaded=False)
    mp = _server(nt)
    with pytest.raises(io.UnsupportedOperation):
        mp.fileno()
    assert mp.wait(0) is False
    mp.close()
    nt.shutdown()


def test_shutdown_during_wait() -> None:
    """A context shut down while a thread waits (and runs its loop): the wait ends soon,
    and nothing hangs."""
    ctx = Context()
    mp = _server(ctx)
    ws = _open_client(ctx, f"ws://127.0.0.1:{mp.get_local_port()}")
    ws.poll()
    while ws.get_available_packet_count():
        ws.get_packet()
    ws.wait(0.01)  # the service thread parks for this waiter
    box: list[tuple[bool, float]] = []
    t = threading.Thread(target=lambda: box.append(_timed(ws.wait, 5.0)))
    t.start()
    time.sleep(0.2)
    ctx.shutdown()
    t.join(DEFAULT_TIMEOUT)
    assert not t.is_alive()
    r, took = box[0]
    assert took < 5.0  # woken by the connection's CLOSED event
    assert r is True
    ws.poll()
    assert ws.get_ready_state() == WebSocketPeer.STATE_CLOSED
