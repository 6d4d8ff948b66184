#!/usr/bin/env python3
"""Benchmark driver: the same workloads against every peer, repetitions interleaved.

    python benchmarks/run.py [--workloads W1,...,W6] [--peers ours,picows,...]
                             [--reps N] [--quick] [--out FILE] [--md docs/performance.md]

Each measurement starts a fresh server subprocess (benchmarks/servers/<peer>_server.py,
or the C reference benchmarks/servers/lws_server.c compiled into a temporary
directory), waits for its ``READY <port>`` line and runs the common load generator
(benchmarks/loadgen.py) in this process against it.  Repetition r runs the peers
in an order rotated by r, so slow drifts of the shared machine hit every peer.
W1, W2 and W4 also run each library's own client against its own server
(benchmarks/clients/own_client.py; W2 in a second, fresh server process).
Peer "ours-nt" is this package on a no-thread context (ours_server.py --context
nothread, own client on Context(threaded=False)); it runs W1, W2, W4 and W6 only.
Peers "ours-batch" and "ours-nt-batch" (W2 only) use the package's batch extension:
the server drains with get_packets(), the own client sends with put_packets().

Results go to a JSON file (default benchmarks/results/<date>.json); with --md
the tables in that markdown file are rewritten between the results markers.

For profiling, BENCH_CLIENT_WRAP puts a command before every own-client process,
e.g. BENCH_CLIENT_WRAP="perf stat -o client.stat --", and BENCH_SERVER_WRAP before
every server process (the CPU columns then count the wrapper's process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen
from common import (
    BENCH_DIR,
    SERVERS_DIR,
    ServerError,
    ServerProc,
    machine_busy_jiffies,
    percentile,
    raise_nofile,
    self_cpu_seconds,
    server_frame_size,
    summarize,
)

ALL_PEERS = ["ours", "ours-yield", "ours-nt", "ours-nt-yield", "ours-batch", "ours-nt-batch",
             "picows", "websockets", "aiohttp", "lwsc"]
ALL_WORKLOADS = ["W1", "W2", "W3", "W4", "W5", "W6"]
PEER_MODULE = {"ours": "godot_websocket", "ours-yield": "godot_websocket",
               "ours-nt": "godot_websocket", "ours-nt-yield": "godot_websocket",
               "ours-batch": "godot_websocket", "ours-nt-batch": "godot_websocket",
               "picows": "picows", "websockets": "websockets", "aiohttp": "aiohttp"}
# "ours-nt" is this package with a no-thread context (Context(threaded=False)): every
# I/O step runs inside poll() on the caller's thread, Godot's own model.  Same server
# (servers/ours_server.py --context nothread) and same Godot protocol as "ours".
# "ours-batch"/"ours-nt-batch": the same, with the batch extension (not in Godot's
# API): the server drains with get_packets(), our own client sends with put_packets().
OURS_PEERS = ("ours", "ours-yield", "ours-nt", "ours-nt-yield", "ours-batch", "ours-nt-batch")
# "ours-yield" / "ours-nt-yield": the same servers and own clients with the spinning
# idle strategy (poll(), os.sched_yield(), poll again) where "ours" and "ours-nt" block
# in wait(): W1 only, a labelled row beside the default so the two stay comparable.
PEER_IDLE = {"ours-yield": "yield", "ours-nt-yield": "yield"}
# Peers that run only some workloads (all others run every workload).  ours-nt runs
# the latency, fan-in, large-message and game-loop workloads; not W3, and not W5,
# whose 10,000 connections it would accept at only 60 polls/s (W5's game loop).
PEER_WORKLOADS = {"ours-nt": {"W1", "W2", "W4", "W6"}, "ours-yield": {"W1"},
                  "ours-nt-yield": {"W1"}, "ours-batch": {"W2"}, "ours-nt-batch": {"W2"}}
# What our server's loop does when a poll() found nothing (see servers/ours_server.py):
# W1 blocks in wait() (the package's blocking wait: the waiting thread runs the event
# loop itself, one wake-up per message, no spinning core; docs/performance.md, "Blocking
# wait"), the other throughput workloads spin (sched_yield), the idle-connection and
# game workloads run a 60 Hz game loop, as a Godot server would.
OURS_IDLE = {"W1": "wait", "W2": "yield", "W3": "yield", "W4": "yield",
             "W5": "tick:60", "W6": "tick:60"}

FULL = {
    "W1": {"n": 20000, "warmup": 1000, "size": 32},
    # own_conns: the C values also measured with each library's own client
    "W2": {"conns": [1, 10, 100], "own_conns": [1, 10, 100], "total": 300000, "size": 64},
    "W3": {"clients": 100, "k": 10000, "size": 64},
    "W4": {"n": 400, "warmup": 5, "size": 1 << 20},
    "W5": {"conns": [5000, 10000], "window": 256},
    "W6": {"clients": 2000, "hz": 20, "secs": 10.0, "in_size": 32, "state_size": 200},
}
QUICK = {
    "W1": {"n": 300, "warmup": 30, "size": 32},
    "W2": {"conns": [1, 10, 100], "own_conns": [1, 10, 100], "total": 3000, "size": 64},
    "W3": {"clients": 10, "k": 200, "size": 64},
    "W4": {"n": 5, "warmup": 1, "size": 64 << 10},
    "W5": {"conns": [50], "window": 64},
    "W6": {"clients": 20, "hz": 20, "secs": 1.0, "in_size": 32, "state_size": 200},
}


def bench_wrap(name: str) -> list[str]:
    """The words of environment variable ``name`` (BENCH_CLIENT_WRAP, BENCH_SERVER_WRAP:
    see the module's doc)."""
    return os.environ.get(name, "").split()


def client_wrap() -> list[str]:
    """BENCH_CLIENT_WRAP's words, put before own-client commands."""
    return bench_wrap("BENCH_CLIENT_WRAP")


def is_ours(peer: str) -> bool:
    """This package's server (either context): a Godot multiplayer server, whose first
    message on every connection is the peer's id."""
    return peer in OURS_PEERS


def is_nothread(peer: str) -> bool:
    """One of ours on a no-thread context (``Context(threaded=False)``)."""
    return peer.startswith("ours-nt")


def runs(peer: str, workload: str) -> bool:
    return workload in PEER_WORKLOADS.get(peer, ALL_WORKLOADS)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- environment


def machine_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for name in ("godot_websocket", "picows", "websockets", "aiohttp"):
        try:
            from importlib.metadata import version

            versions[name] = version(name.replace("_", "-"))
        except Exception:
            versions[name] = "not installed"
    try:
        versions["libwebsockets"] = subprocess.run(
            ["pkg-config", "--modversion", "libwebsockets"], capture_output=True, text=True,
            timeout=10).stdout.strip()
    except Exception:
        versions["libwebsockets"] = "?"
    git = ""
    try:
        root = BENCH_DIR.parent
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        git = head + ("+dirty" if dirty else "")
    except Exception:
        pass
    return {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "package_fingerprint": package_fingerprint(),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "git": git,
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }


def package_dir() -> Path | None:
    spec = importlib.util.find_spec("godot_websocket")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def snapshot_package(tmp: Path) -> Path | None:
    """Copy the installed godot_websocket into the temporary directory; every process
    of the run imports that copy (PYTHONPATH), so a reinstall of the package while
    the benchmarks run changes nothing midway."""
    src = package_dir()
    if src is None:
        return None
    dst = tmp / "pkg"
    shutil.copytree(src, dst / "godot_websocket",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def package_fingerprint(root: Path | None = None) -> str:
    """A short hash of the godot_websocket files (Python and the built core)."""
    import hashlib

    root = root or package_dir()
    if root is None:
        return "not installed"
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.suffix in (".py", ".so"):
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def build_lws(tmp: Path) -> Path:
    """Compile the C reference server into the temporary directory (never into the repo)."""
    src = SERVERS_DIR / "lws_server.c"
    out = tmp / "lws_server"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libwebsockets"],
                           capture_output=True, text=True, check=True, timeout=30).stdout.split()
    subprocess.run(["gcc", "-O2", "-o", str(out), str(src), *flags, "-lpthread"],
                   check=True, timeout=120)
    return out


def build_game_client(tmp: Path) -> Path:
    out = tmp / "game_client"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(BENCH_DIR / "clients" / "game_client.c")],
                   check=True, timeout=120)
    return out


def available_peers(peers: list[str], notes: list[str]) -> list[str]:
    ok = []
    for p in peers:
        if p == "lwsc":
            if shutil.which("gcc") and shutil.which("pkg-config"):
                ok.append(p)
            else:
                notes.append("lwsc skipped: gcc or pkg-config missing")
        elif importlib.util.find_spec(PEER_MODULE[p]) is None:
            notes.append(f"{p} skipped: module {PEER_MODULE[p]} not installed")
        else:
            ok.append(p)
    return ok


# ---------------------------------------------------------------- runner


class Runner:
    def __init__(self, args: argparse.Namespace, tmp: Path, sizes: dict[str, Any]) -> None:
        self.args = args
        self.tmp = tmp
        self.sizes = sizes
        self.lws_bin: Path | None = None
        self.game_bin: Path | None = None
        self.records: list[dict[str, Any]] = []
        self.serial = 0

    def ours_idle(self, peer: str, workload: str) -> str:
        """The idle strategy (ours_server.py --idle) of one of our peers in a workload."""
        return PEER_IDLE.get(peer) or self.args.ours_idle or OURS_IDLE[workload]

    def server(self, peer: str, mode: str, workload: str) -> ServerProc:
        self.serial += 1
        logf = self.tmp / f"{self.serial:04d}-{workload}-{peer}.log"
        if peer == "lwsc":
            assert self.lws_bin is not None
            argv = [str(self.lws_bin), "0", mode]
        else:
            script = "ours_server.py" if is_ours(peer) else f"{peer}_server.py"
            argv = [sys.executable, str(SERVERS_DIR / script), "--mode", mode]
            if is_ours(peer):
                argv += ["--idle", self.ours_idle(peer, workload)]
            if is_nothread(peer):
                argv += ["--context", "nothread"]
            if peer.endswith("-batch"):
                argv += ["--batch"]
        return ServerProc([*bench_wrap("BENCH_SERVER_WRAP"), *argv], logf)

    def record(self, workload: str, variant: str, peer: str, rep: int,
               metrics: dict[str, Any] | None, error: str | None = None) -> None:
        rec = {"workload": workload, "variant": variant, "peer": peer, "rep": rep,
               "ok": error is None, "metrics": metrics or {}, "error": error}
        self.records.append(rec)
        if error:
            log(f"  {workload} {variant} {peer} rep{rep}: ERROR {error}")
        else:
            shown = {k: (round(v, 3) if isinstance(v, float) else v)
                     for k, v in (metrics or {}).items() if not isinstance(v, list)}
            log(f"  {workload} {variant} {peer} rep{rep}: {shown}")

    def guarded(self, workload: str, variants: list[str], peer: str, rep: int,
                fn: Callable[[], None]) -> None:
        first = len(self.records)
        load1 = float(open("/proc/loadavg").read().split()[0])
        b0, t0 = machine_busy_jiffies()
        try:
            fn()
        except Exception as e:  # one failed measurement must not end the run
            err = f"{type(e).__name__}: {e}"
            if self.args.verbose:
                traceback.print_exc()
            done = {(r["variant"]) for r in self.records
                    if r["workload"] == workload and r["peer"] == peer and r["rep"] == rep}
            for v in variants:
                if v not in done:
                    self.record(workload, v, peer, rep, None, err)
        b1, t1 = machine_busy_jiffies()
        env = {"load1": load1,
               "machine_busy_pct": 100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else None}
        for r in self.records[first:]:
            r["env"] = env

    # -- W1: echo latency ---------------------------------------------------------

    def w1(self, peer: str, rep: int) -> None:
        cfg = self.sizes["W1"]
        with self.server(peer, "echo", "W1") as srv:
            socks, _ = loadgen.open_connections(srv.port, 1, expect_id=is_ours(peer))
            cpu0 = srv.cpu_seconds()
            r = loadgen.round_trips(socks[0], cfg["size"], cfg["n"], cfg["warmup"])
            cpu = srv.cpu_seconds() - cpu0
            loadgen.close_all(socks)
            lat = r["lat_ns_sorted"]
            self.record("W1", "loadgen", peer, rep, {
                "rt_per_s": r["round_trips"] / r["elapsed_s"],
                "p50_us": percentile(lat, 50) / 1e3,
                "p99_us": percentile(lat, 99) / 1e3,
                "server_cpu_us_per_rt": cpu / r["round_trips"] * 1e6,
            })
            if peer != "lwsc":
                self.own_client("W1", peer, rep, srv.port, cfg)

    def own_client(self, workload: str, peer: str, rep: int, port: int,
                   cfg: dict[str, Any]) -> None:
        argv = [sys.executable, str(BENCH_DIR / "clients" / "own_client.py"), "--peer", peer,
                "--port", str(port), "--size", str(cfg["size"]), "--n", str(cfg["n"]),
                "--warmup", str(cfg["warmup"])]
        if is_ours(peer):
            # the client idles the way the server does: spins, or blocks in wait()
            wait = self.ours_idle(peer, workload).startswith("wait")
            argv += ["--idle", "wait" if wait else "yield"]
        try:
            p = subprocess.run([*client_wrap(), *argv], capture_output=True, text=True,
                               timeout=300)
        except subprocess.TimeoutExpired:
            self.record(workload, "own-client", peer, rep, None, "own client timed out")
            return
        if p.returncode != 0:
            self.record(workload, "own-client", peer, rep, None,
                        f"own client failed: {p.stderr.strip()[-300:]}")
            return
        r = json.loads(p.stdout.strip().splitlines()[-1])
        m: dict[str, Any]
        if workload == "W1":
            m = {"rt_per_s": r["round_trips"] / r["elapsed_s"], "p50_us": r["p50_ns"] / 1e3,
                 "p99_us": r["p99_ns"] / 1e3}
        else:
            m = {"mb_per_s": r["round_trips"] * cfg["size"] / r["elapsed_s"] / 1e6,
                 "p50_ms": r["p50_ns"] / 1e6}
        self.record(workload, "own-client", peer, rep, m)

    # -- W2: fan-in -------------------------------------------------------------------

    def w2(self, peer: str, rep: int, conns: int) -> None:
        cfg = self.sizes["W2"]
        per_conn = max(1, cfg["total"] // conns)
        total = per_conn * conns
        with self.server(peer, "sink", "W2") as srv:
            socks, _ = loadgen.open_connections(srv.port, conns, expect_id=is_ours(peer))
            self.wait_conns(srv, conns)
            srv.send(f"EXPECT {total}")
            srv.ask("COUNT", "COUNT")  # the EXPECT is applied before we start
            cpu0 = srv.cpu_seconds()
            c0 = self_cpu_seconds()
            f = loadgen.flood(socks, per_conn, cfg["size"])
            done = srv.expect("DONE", 120)
            cpu = srv.cpu_seconds() - cpu0
            t_last = int(done[3])
            loadgen.close_all(socks)
            elapsed = (t_last - f["t_start_ns"]) / 1e9
            self.record("W2", f"C={conns}", peer, rep, {
                "msgs_per_s": total / elapsed,
                "messages": total,
                "server_cpu_ns_per_msg": cpu / total * 1e9,
                "client_cpu_s": self_cpu_seconds() - c0,
                "elapsed_s": elapsed,
            })
        if peer != "lwsc" and conns in cfg.get("own_conns", cfg["conns"]):
            self.w2_own(peer, rep, conns, per_conn)

    def w2_own(self, peer: str, rep: int, conns: int, per_conn: int) -> None:
        """W2 with the library's own client (clients/own_client.py --workload fanin)
        against a fresh server of the same library: the client opens its connections
        and says READY; EXPECT is applied; GO; the client reports the CLOCK_MONOTONIC
        time just before its first send, the server the time of its last receipt."""
        cfg = self.sizes["W2"]
        total = per_conn * conns
        variant = f"own-client C={conns}"
        argv = [sys.executable, str(BENCH_DIR / "clients" / "own_client.py"),
                "--workload", "fanin", "--peer", peer, "--conns", str(conns),
                "--total", str(total), "--size", str(cfg["size"])]
        with self.server(peer, "sink", "W2") as srv:
            self.serial += 1
            logf = self.tmp / f"{self.serial:04d}-W2-{peer}-own-client.log"
            with ServerProc([*client_wrap(), *argv, "--port", str(srv.port)], logf,
                            ready_timeout=90) as cli:
                self.wait_conns(srv, conns)
                srv.send(f"EXPECT {total}")
                srv.ask("COUNT", "COUNT")  # the EXPECT is applied before the client starts
                cpu0 = srv.cpu_seconds()
                ccpu0 = cli.cpu_seconds()
                cli.send("GO")
                res = json.loads(" ".join(cli.expect("RESULT", 330)[1:]))
                done = srv.expect("DONE", 120)
                cpu = srv.cpu_seconds() - cpu0
                ccpu = cli.cpu_seconds() - ccpu0
            if res["messages"] != total:
                raise loadgen.LoadError(f"own client sent {res['messages']}, not {total}")
            elapsed = (int(done[3]) - res["t_start_ns"]) / 1e9
            m = {
                "msgs_per_s": total / elapsed,
                "messages": total,
                "server_cpu_ns_per_msg": cpu / total * 1e9,
                "client_cpu_s": ccpu,
                "client_send_s": (res["t_end_ns"] - res["t_start_ns"]) / 1e9,
                "elapsed_s": elapsed,
            }
            for k in ("retries", "pauses"):
                if k in res:
                    m[f"client_{k}"] = res[k]
            self.record("W2", variant, peer, rep, m)

    def wait_conns(self, srv: ServerProc, n: int, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        t0 = time.perf_counter()
        while True:
            got = int(srv.ask("CONNS", "CONNS")[1])
            if got >= n:
                return time.perf_counter() - t0
            if time.monotonic() > deadline:
                raise ServerError(f"server reports {got}/{n} connections")
            time.sleep(0.01)

    # -- W3: broadcast -------------------------------------------------------------------

    def w3(self, peer: str, rep: int) -> None:
        cfg = self.sizes["W3"]
        n, k, size = cfg["clients"], cfg["k"], cfg["size"]
        with self.server(peer, "sink", "W3") as srv:
            socks, _ = loadgen.open_connections(srv.port, n, expect_id=is_ours(peer))
            self.wait_conns(srv, n)
            cpu0 = srv.cpu_seconds()
            t0 = time.monotonic_ns()
            srv.send(f"BCAST {k} {size}")
            t_end = loadgen.count_bytes(socks, k * server_frame_size(size))
            cpu = srv.cpu_seconds() - cpu0
            queued = srv.expect("BCASTED", 30)
            loadgen.close_all(socks)
            elapsed = (t_end - t0) / 1e9
            self.record("W3", f"{n} clients", peer, rep, {
                "deliveries_per_s": n * k / elapsed,
                "deliveries": n * k,
                "server_cpu_ns_per_delivery": cpu / (n * k) * 1e9,
                "queue_s": (int(queued[2]) - int(queued[1])) / 1e9,
                "elapsed_s": elapsed,
            })

    # -- W4: large messages ----------------------------------------------------------------

    def w4(self, peer: str, rep: int) -> None:
        cfg = self.sizes["W4"]
        with self.server(peer, "echo", "W4") as srv:
            socks, _ = loadgen.open_connections(srv.port, 1, expect_id=is_ours(peer))
            r = loadgen.round_trips(socks[0], cfg["size"], cfg["n"], cfg["warmup"], timeout=60)
            loadgen.close_all(socks)
            lat = r["lat_ns_sorted"]
            self.record("W4", "loadgen", peer, rep, {
                "mb_per_s": r["round_trips"] * cfg["size"] / r["elapsed_s"] / 1e6,
                "p50_ms": percentile(lat, 50) / 1e6,
            })
            if peer != "lwsc":
                self.own_client("W4", peer, rep, srv.port, cfg)

    # -- W5: idle connections ------------------------------------------------------------

    def w5(self, peer: str, rep: int, n: int) -> None:
        cfg = self.sizes["W5"]
        with self.server(peer, "sink", "W5") as srv:
            time.sleep(0.3)
            before = srv.rss_kib()
            socks: list[Any] = []
            try:
                socks, t_open = loadgen.open_connections(
                    srv.port, n, window=cfg["window"], expect_id=is_ours(peer), timeout=120)
                t_server = self.wait_conns(srv, n, timeout=60)
                time.sleep(0.5)
                after = srv.rss_kib()
            finally:
                loadgen.close_all(socks)
            self.record("W5", f"N={n}", peer, rep, {
                "kib_per_conn": (after - before) / n,
                "open_s": t_open,
                "server_seen_extra_s": t_server,
                "rss_before_mib": before / 1024,
                "rss_after_mib": after / 1024,
            })

    # -- W6: game server --------------------------------------------------------------------

    def w6(self, peer: str, rep: int) -> None:
        cfg = self.sizes["W6"]
        n = cfg["clients"]
        with self.server(peer, "sink", "W6") as srv:
            socks: list[Any] = []
            try:
                socks, _ = loadgen.open_connections(srv.port, n, expect_id=is_ours(peer),
                                                    timeout=120)
                self.wait_conns(srv, n)
                srv.send("EXPECT 0")
                srv.ask("COUNT", "COUNT")
                cpu0 = srv.cpu_seconds()
                c0 = self_cpu_seconds()
                w0 = time.monotonic()
                srv.send(f"GAME {cfg['hz']} {cfg['secs']} {cfg['state_size']}")
                g = self.game_load(socks, cfg)
                cpu = srv.cpu_seconds() - cpu0
                wall = time.monotonic() - w0
                client_cpu = g.get("cpu_s", self_cpu_seconds() - c0)
                gd = srv.expect("GAMEDONE", 60)
                game_s = time.monotonic() - w0
                ticks = int(gd[1])
                # inputs still in flight: wait (bounded) for the count to settle
                deadline = time.monotonic() + 5
                while True:
                    got = int(srv.ask("COUNT", "COUNT")[1])
                    if got >= g["inputs_sent"] or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
            finally:
                loadgen.close_all(socks)
            self.record("W6", f"{n} clients", peer, rep, {
                "cpu_pct": cpu / wall * 100,
                "client_cpu_pct": client_cpu / wall * 100,
                "p50_ms": g["p50_ns"] / 1e6,
                "p99_ms": g["p99_ns"] / 1e6,
                "max_ms": g["max_ns"] / 1e6,
                "due_p99_ms": g.get("due_p99_ns", float("nan")) / 1e6,
                "due_max_ms": g.get("due_max_ns", float("nan")) / 1e6,
                "game_s": game_s,
                "states_lost": ticks * n - g["states_received"],
                "inputs_lost": g["inputs_sent"] - got,
                "ticks": ticks,
                "inputs_sent": g["inputs_sent"],
                "states_received": g["states_received"],
                "inputs_blocked": g.get("inputs_blocked", 0),
                "other_frames": g.get("other_frames", 0),
                "client": "C" if self.game_bin else "python",
            })

    def game_load(self, socks: list[Any], cfg: dict[str, Any]) -> dict[str, Any]:
        """Run the W6 clients: the C epoll client on the open sockets when it could be
        built, else the (slower) Python one in this process."""
        args = [str(cfg["hz"]), str(cfg["secs"]), str(cfg["in_size"]), str(cfg["state_size"]),
                str(cfg.get("grace", 10))]
        if self.game_bin is None:
            g = loadgen.game_clients(socks, cfg["hz"], cfg["secs"], cfg["in_size"],
                                     cfg["state_size"])
            lat = g.pop("lat_ns_sorted")
            g.update(p50_ns=percentile(lat, 50), p99_ns=percentile(lat, 99),
                     max_ns=lat[-1] if lat else 0)
            return g
        fds = [s.fileno() for s in socks]
        p = subprocess.run([str(self.game_bin), *args, *map(str, fds)], pass_fds=fds,
                           capture_output=True, text=True,
                           timeout=cfg["secs"] + 60)
        if p.returncode != 0:
            raise loadgen.LoadError(f"game client failed: {p.stderr.strip()[-300:]}")
        return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- summaries


def summarize_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in records:
        key = out.setdefault(r["workload"], {}).setdefault(r["variant"], {}).setdefault(
            r["peer"], {"ok": 0, "errors": [], "metrics": {}})
        if not r["ok"]:
            key["errors"].append(r["error"])
            continue
        key["ok"] += 1
        for m, v in r["metrics"].items():
            if isinstance(v, (int, float)):
                key["metrics"].setdefault(m, []).append(v)
    for wl in out.values():
        for var in wl.values():
            for peer in var.values():
                peer["metrics"] = {m: summarize(v) for m, v in peer["metrics"].items()}
    return out


def _repo_rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(BENCH_DIR.parent))
    except ValueError:
        return str(p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default=",".join(ALL_WORKLOADS))
    ap.add_argument("--peers", default=",".join(ALL_PEERS))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--out", default=None, help="JSON output (default results/<date>.json)")
    ap.add_argument("--md", default=None, help="markdown file whose results section is rewritten")
    ap.add_argument("--micro", default=None, help="micro.py JSON to include in the markdown")
    ap.add_argument("--ours-idle", default=None,
                    help="override the idle strategy of our server for every workload")
    ap.add_argument("--w2-conns", default=None,
                    help="W2: only these connection counts, e.g. 100 or 10,100")
    ap.add_argument("--w2-total", type=int, default=None,
                    help="W2: messages per run (default 300000)")
    ap.add_argument("--keep-logs", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    for w in workloads:
        if w not in ALL_WORKLOADS:
            ap.error(f"unknown workload {w}")
    peers_req = [p.strip() for p in args.peers.split(",") if p.strip()]
    for p in peers_req:
        if p not in ALL_PEERS:
            ap.error(f"unknown peer {p}")
    notes: list[str] = []
    peers = available_peers(peers_req, notes)
    for n in notes:
        log(n)
    nofile = raise_nofile()
    sizes = QUICK if args.quick else FULL
    if args.w2_conns or args.w2_total:
        w2 = dict(sizes["W2"])
        if args.w2_conns:
            w2["conns"] = w2["own_conns"] = [int(c) for c in args.w2_conns.split(",")]
        if args.w2_total:
            w2["total"] = args.w2_total
        sizes = {**sizes, "W2": w2}
    if "W5" in workloads:
        top = max(sizes["W5"]["conns"])
        if top + 200 > nofile:
            fit = [c for c in sizes["W5"]["conns"] if c + 200 <= nofile] or [nofile - 200]
            notes.append(f"W5: open-file limit {nofile} allows only {fit}")
            sizes = {**sizes, "W5": {**sizes["W5"], "conns": fit}}

    date = dt.datetime.now().strftime("%Y-%m-%d")
    out = Path(args.out) if args.out else BENCH_DIR / "results" / f"{date}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="gws-bench-"))
    snap = snapshot_package(tmp)
    if snap is not None:
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(snap), *filter(None, [os.environ.get("PYTHONPATH")])])
    runner = Runner(args, tmp, sizes)
    machine_info_start = machine_info()
    started = time.monotonic()
    try:
        if "lwsc" in peers:
            try:
                runner.lws_bin = build_lws(tmp)
            except Exception as e:
                notes.append(f"lwsc skipped: build failed ({e})")
                peers.remove("lwsc")
        if "W6" in workloads:
            try:
                runner.game_bin = build_game_client(tmp)
            except Exception as e:
                notes.append(f"W6: C game client not built ({e}); using the Python one")
        log(f"peers {peers}, workloads {workloads}, reps {args.reps}, "
            f"{'quick' if args.quick else 'full'} sizes; logs in {tmp}")
        for w in workloads:
            log(f"== {w}")
            skipped = [p for p in peers if not runs(p, w)]
            if skipped:
                note = (f"{w}: not run for {', '.join(skipped)} (it runs only "
                        + "; ".join(f"{p} {', '.join(sorted(PEER_WORKLOADS[p]))}"
                                    for p in skipped) + ")")
                notes.append(note)
                log(note)
            for rep in range(args.reps):
                order = peers[rep % len(peers):] + peers[: rep % len(peers)]
                order = [p for p in order if runs(p, w)]
                if w == "W1":
                    for p in order:
                        runner.guarded(w, ["loadgen", "own-client"], p, rep,
                                       lambda p=p, rep=rep: runner.w1(p, rep))
                elif w == "W2":
                    own = sizes["W2"].get("own_conns", sizes["W2"]["conns"])
                    for c in sizes["W2"]["conns"]:
                        for p in order:
                            variants = [f"C={c}"]
                            if p != "lwsc" and c in own:
                                variants.append(f"own-client C={c}")
                            runner.guarded(w, variants, p, rep,
                                           lambda p=p, c=c, rep=rep: runner.w2(p, rep, c))
                elif w == "W3":
                    for p in order:
                        runner.guarded(w, [f"{sizes['W3']['clients']} clients"], p, rep,
                                       lambda p=p, rep=rep: runner.w3(p, rep))
                elif w == "W4":
                    for p in order:
                        runner.guarded(w, ["loadgen", "own-client"], p, rep,
                                       lambda p=p, rep=rep: runner.w4(p, rep))
                elif w == "W5":
                    for c in sizes["W5"]["conns"]:
                        for p in order:
                            runner.guarded(w, [f"N={c}"], p, rep,
                                           lambda p=p, c=c, rep=rep: runner.w5(p, rep, c))
                elif w == "W6":
                    for p in order:
                        runner.guarded(w, [f"{sizes['W6']['clients']} clients"], p, rep,
                                       lambda p=p, rep=rep: runner.w6(p, rep))
    finally:
        meta = machine_info_start
        meta["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        if snap is not None:
            meta["package_fingerprint"] = package_fingerprint(snap / "godot_websocket")
            if package_fingerprint() != meta["package_fingerprint"]:
                notes.append("the installed package was rebuilt during the run; this run "
                             "used the copy taken at its start")
        result = {
            "meta": {**meta, "command": " ".join([Path(sys.executable).name,
                                                            *sys.argv]),
                     "duration_s": round(time.monotonic() - started, 1),
                     "quick": args.quick, "reps": args.reps, "peers": peers,
                     "workloads": workloads, "notes": notes,
                     "ours_idle": {w: (args.ours_idle or OURS_IDLE[w]) for w in workloads}},
            "sizes": {w: sizes[w] for w in workloads},
            "records": runner.records,
            "summary": summarize_records(runner.records),
        }
        out.write_text(json.dumps(result, indent=1))
        log(f"wrote {out} ({result['meta']['duration_s']} s)")
        if not args.keep_logs:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.md:
        import report

        micro = json.loads(Path(args.micro).read_text()) if args.micro else None
        report.write_markdown(Path(args.md), result, micro, _repo_rel(out),
                              _repo_rel(Path(args.micro)) if args.micro else "")
        log(f"updated {args.md}")
    failed = [r for r in runner.records if not r["ok"]]
    if failed:
        log(f"{len(failed)} measurement(s) failed")
    return 0 if runner.records and len(failed) < len(runner.records) else 1


if __name__ == "__main__":
    sys.exit(main())
