#!/usr/bin/env python3
"""Benchmark server "ours": a godot_websocket ``WebSocketMultiplayerPeer``.

Written the way a Godot game's server loop is: ``poll()``, then drain every
packet with ``get_packet()`` (each packet reaches Python code), then send with
``put_packet()`` (``set_target_peer(id)`` for echo, ``0`` for broadcast).

Settings (documented in docs/performance.md): inbound_buffer_size 16 MiB (W4's
1 MiB messages), outbound_buffer_size 64 MiB and max_queued_packets 131072 (W3
queues K messages per peer at once), no TLS, binary frames (the package never
negotiates compression).

``--batch`` drains with ``get_packets()`` (all packets of a poll as one list, the
package's batch extension) in the counting (sink) mode instead of one
``get_packet()`` call per packet: the "ours-batch" benchmark peers (W2 only).

``--idle`` is what the loop does when a poll found nothing:
  yield     os.sched_yield() and poll again (burns a core)
  wait[:S]  peer.wait(S) (default 0.05 s): sleep until the network has news (not in
            Godot's API; the thread sleeps instead of spinning).  S only bounds how
            late a command from stdin (read on another thread) is seen
  sleep:S   time.sleep(S)
  tick:HZ   a fixed-rate game loop: poll HZ times a second whatever happened
  tickwait:HZ  the same game loop, but between ticks peer.wait() until the next tick
            is due, polling (and handling inputs) as soon as they arrive
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _srv

from godot_websocket import Context, Error, WebSocketMultiplayerPeer


def main() -> None:
    ap = _srv.parser()
    ap.add_argument("--idle", default="yield")
    ap.add_argument("--inbound", type=int, default=16 << 20)
    ap.add_argument("--outbound", type=int, default=64 << 20)
    ap.add_argument("--max-queued", type=int, default=1 << 17)
    ap.add_argument("--context", choices=["thread", "nothread"], default="thread",
                    help="nothread: a Context(threaded=False), I/O inside poll()")
    ap.add_argument("--batch", action="store_true",
                    help="drain with get_packets() (the batch extension)")
    a = _srv.start(ap)

    mp = WebSocketMultiplayerPeer(
        context=Context(threaded=False) if a.context == "nothread" else None)
    mp.set_inbound_buffer_size(a.inbound)
    mp.set_outbound_buffer_size(a.outbound)
    mp.set_max_queued_packets(a.max_queued)
    if mp.create_server(a.port, "127.0.0.1") != Error.OK:
        sys.exit("create_server failed")

    cmds: list[str] = []
    _srv.read_commands(cmds.append)
    _srv.say("READY", mp.get_local_port())

    idle_kind, _, idle_arg = a.idle.partition(":")
    if idle_kind not in ("yield", "wait", "sleep", "tick", "tickwait"):
        sys.exit(f"unknown --idle {a.idle!r}")
    sleep_s = float(idle_arg) if idle_kind == "sleep" else 0.0
    tick_ns = int(1e9 / float(idle_arg)) if idle_kind == "tick" else 0
    tickwait_ns = int(1e9 / float(idle_arg)) if idle_kind == "tickwait" else 0
    wait_s = (float(idle_arg) if idle_arg else 0.05) if idle_kind == "wait" else 0.0
    # (looked up only when used: older builds of the package, compared in A/B runs, lack it)
    wait = mp.wait if wait_s or tickwait_ns else None
    yield_ = os.sched_yield
    sleep = time.sleep
    now_ns = _srv.now_ns
    echo = a.mode == "echo"

    poll = mp.poll
    avail = mp.get_available_packet_count
    get = mp.get_packet
    get_peer = mp.get_packet_peer
    set_target = mp.set_target_peer
    put = mp.put_packet
    get_all = mp.get_packets
    batch = a.batch

    count = 0
    expect = 0
    t_first = 0
    game = None  # [period_ns, ticks_total, size, next_tick_ns, tick]
    next_poll = now_ns()

    while True:
        poll()
        if echo:
            n = avail()
            for _ in range(n):
                set_target(get_peer())
                put(get())
        else:
            if batch:
                n = len(get_all())  # every packet of this poll, one call
            else:
                n = avail()
                for _ in range(n):
                    get()
            if n:
                if not count:
                    t_first = now_ns()
                count += n
                if expect and count >= expect:
                    _srv.say("DONE", count, t_first, now_ns())
                    expect = 0
        if game is not None and now_ns() >= game[3]:
            set_target(0)
            put(_srv.state_message(game[4], game[2], game[3]))
            game[4] += 1
            game[3] += game[0]
            if game[4] >= game[1]:
                _srv.say("GAMEDONE", game[4], count)
                game = None
        if cmds:
            while cmds:
                words = cmds.pop(0).split()
                op = words[0]
                if op == "EXPECT":
                    count, expect = 0, int(words[1])
                    if expect and count >= expect:
                        _srv.say("DONE", count, 0, 0)
                elif op == "COUNT":
                    _srv.say("COUNT", count)
                elif op == "CONNS":
                    _srv.say("CONNS", len(mp.get_peer_ids()))
                elif op == "BCAST":
                    k, size = int(words[1]), int(words[2])
                    msg = bytes(size)
                    set_target(0)
                    t0 = now_ns()
                    for _ in range(k):
                        put(msg)
                    _srv.say("BCASTED", t0, now_ns())
                elif op == "GAME":
                    hz, secs, size = int(words[1]), float(words[2]), int(words[3])
                    game = [int(1e9 / hz), int(hz * secs), size, now_ns(), 0]
                elif op == "QUIT":
                    _srv.quit_now()
        if tickwait_ns:
            t = now_ns()
            if t >= next_poll:
                next_poll += tickwait_ns * max(1, (t - next_poll) // tickwait_ns)
            if not n:
                wait(max(0, next_poll - t) / 1e9)  # type: ignore[misc]
        elif tick_ns:
            next_poll += tick_ns
            delay = next_poll - now_ns()
            if delay > 0:
                sleep(delay / 1e9)
            else:
                next_poll = now_ns()
        elif not n:
            if wait_s:
                wait(wait_s)  # type: ignore[misc]
            elif sleep_s:
                sleep(sleep_s)
            else:
                yield_()


if __name__ == "__main__":
    main()
