#!/usr/bin/env python3
"""A/B of the server's poll hand-over, in one process, alternating (docs/performance.md,
"Batch calls (W2)").

    python benchmarks/handover_ab.py [N] [RUNS]

N 32-byte messages (default 2000) are queued in the core by micro.py's helper (a raw
client); then one drain is timed, with either
  old: ``Group.drain_indexed()`` (the buffer copied), payloads cut with
       ``map(slice)``, senders looked up with ``dict.get``  (the hand-over before
       gws_group_poll_split());
  new: ``Group.drain_split()``: one ``struct`` unpack of the core's buffer, the
       senders' peer ids from the core (what ``poll()`` does now).
Both fill two deques as ``poll()`` does.  Prints ns per message (median, min).
"""

from __future__ import annotations

import statistics
import struct
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from micro import Helper, new_server, wait_peers


def main() -> int:
    n_msgs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 14
    mp = new_server()
    h = Helper(mp.get_local_port(), 1)
    try:
        wait_peers(mp, 1)
        h.wait_line("OPEN")
        group = mp._group
        by_serial = mp._by_serial

        def old() -> int:
            buf, index, _ = group.drain_indexed()
            assert index is not None
            pids = list(map(by_serial.get, index[0::3]))
            packets = list(map(buf.__getitem__, map(slice, index[1::3], index[2::3])))
            assert None not in pids and b"" not in packets
            fifo: deque[bytes] = deque()
            ids: deque[int | None] = deque()
            ids.extend(pids)
            fifo.extend(packets)
            return len(fifo)

        def new() -> int:
            raw, _, others, fmt, nempty, tags, nuntagged = group.drain_split()
            assert tags is not None and not (others or nempty or nuntagged)
            fifo: deque[bytes] = deque()
            ids: deque[int] = deque()
            ids.extend(tags.tolist())
            fifo.extend(struct.Struct(fmt).unpack_from(raw))
            return len(fifo)

        res: dict[str, list[float]] = {"old": [], "new": []}
        for run in range(runs):
            order = (("old", old), ("new", new)) if run % 2 else (("new", new), ("old", old))
            for name, fn in order:
                mp.poll()
                h.send(f"SEND {n_msgs} 32")
                h.wait_line("SENT", 60)
                time.sleep(0.2)  # the service thread reads them all
                t0 = time.perf_counter_ns()
                got = fn()
                dt = time.perf_counter_ns() - t0
                if got == n_msgs:
                    res[name].append(dt / got)
        for name, v in res.items():
            print(f"N={n_msgs} {name}: median {statistics.median(v):.0f} ns/message, "
                  f"min {min(v):.0f} ({len(v)} runs)")
    finally:
        h.close()
        mp.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
