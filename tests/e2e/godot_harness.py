"""Run real Godot 4 clients (the web build in headless Chromium) against any WebSocket server.

Pieces, each usable on its own:

* :func:`build_demo_pack` packs ``godot_demo/`` into a ``.pck`` with
  :mod:`godot_websocket.pck`.
* :class:`EngineHttpServer`, a small threaded HTTP server on 127.0.0.1 that serves the engine
  files, ``godot_client.html`` and the packs, and receives every line the engines print
  (the page POSTs them to ``/report/<client>``).
* :class:`Chromium`, one headless Chromium process with a fresh profile, driven over the
  DevTools protocol: each Godot client is a page in its own window.
* :class:`GodotBrowser` ties them together: :meth:`GodotBrowser.start_clients` opens N pages
  running the demo's ``main.tscn`` with command-line user arguments (``--url``,
  ``--scenario``, ...) and returns a :class:`GodotRun`; :meth:`GodotRun.wait` collects one
  :class:`ClientResult` per client.

The demo client prints ``E2E {json}`` records (see ``godot_demo/client.gd``); they are parsed
into :attr:`ClientResult.records`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import itertools
import json
import logging
import mimetypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "DEMO_DIR",
    "Chromium",
    "ClientResult",
    "EngineHttpServer",
    "GodotBrowser",
    "GodotRun",
    "HarnessError",
    "RunClients",
    "build_demo_pack",
    "expected_packet",
    "waiting_marker",
]

logger = logging.getLogger("godot_websocket.e2e")

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEMO_DIR = REPO_ROOT / "godot_demo"
PAGE_NAME = "godot_client.html"
PAGE_PATH = HERE / PAGE_NAME
RECORD_PREFIX = "E2E "
MAX_REPORT_BYTES = 4 << 20

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--mute-audio",
    # Every client page must keep running at full speed, whichever window is in front.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
"""Flags from shared/spec/godot-web-engine.md, plus no throttling and a DevTools port."""


def _load_packer() -> Any:
    """Import :mod:`godot_websocket.pck`, even when the package's compiled core is not built.

    The packer is pure Python; the harness needs only it, so a checkout whose C extension
    is not built yet can still run Godot against another server (e.g. the reference one).
    """
    try:
        return importlib.import_module("godot_websocket.pck")
    except ImportError:
        path = REPO_ROOT / "python" / "godot_websocket" / "pck.py"
        spec = importlib.util.spec_from_file_location("_godot_websocket_pck", path)
        if spec is None or spec.loader is None:
            raise
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


class HarnessError(RuntimeError):
    """The browser or the HTTP server could not be started or driven."""


def expected_packet(tag: str, index: int, size: int = 0) -> bytes:
    """The bytes that ``godot_demo/client.gd`` ``make_packet(index)`` sends for ``tag``.

    ``"<tag>:<index>"`` in UTF-8, then ``00 ff 80 <index & 0xff>``, then filler bytes
    ``(position * 7) & 0xff`` up to ``size``.
    """
    data = bytearray(f"{tag}:{index}".encode())
    data += bytes((0x00, 0xFF, 0x80, index & 0xFF))
    data += bytes((position * 7) & 0xFF for position in range(len(data), size))
    return bytes(data)


def waiting_marker(tag: str) -> bytes:
    """The packet a demo client sends when it starts waiting to be disconnected."""
    return f"{tag}:waiting".encode()


def build_demo_pack(project_dir: Path = DEMO_DIR) -> bytes:
    """Pack the Godot demo project (``godot_demo/``) into ``.pck`` bytes."""
    packer = _load_packer()
    return bytes(packer.build_pck(packer.collect_directory(project_dir)))


# --------------------------------------------------------------------------- results


@dataclass
class ClientResult:
    """Everything one Godot client did.

    ``lines`` are the engine's standard output lines and ``error_lines`` its error output
    (``printerr``, engine errors and warnings), each in order. ``records`` are the parsed
    ``E2E {json}`` lines (each a dict with at least ``event`` and ``tag``). ``exit_code`` is
    what the program quit with (``None`` if it never exited); ``timed_out`` is true when the
    harness gave up waiting. ``page_errors`` are problems of the page itself (the engine
    failed to load, a JavaScript error).
    """

    tag: str
    args: list[str]
    lines: list[str] = field(default_factory=list)
    error_lines: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None
    timed_out: bool = False
    page_errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def events(self, name: str) -> list[dict[str, Any]]:
        """All records whose ``event`` is ``name``, in order."""
        return [record for record in self.records if record.get("event") == name]

    def event(self, name: str) -> dict[str, Any]:
        """The one record named ``name``; fails with the whole log if there are 0 or 2+."""
        found = self.events(name)
        if len(found) != 1:
            raise AssertionError(
                f"expected exactly one {name!r} record, got {len(found)}\n{self.describe()}"
            )
        return found[0]

    @property
    def event_names(self) -> list[str]:
        """The ``event`` of every record, in order."""
        return [str(record.get("event")) for record in self.records]

    @property
    def unique_id(self) -> int | None:
        """The id the client got from the server (``connected`` record), or ``None``."""
        connected = self.events("connected")
        return int(connected[0]["id"]) if connected else None

    @property
    def packets(self) -> list[bytes]:
        """Payloads of the received packets, in order (those reported as hex)."""
        return [bytes.fromhex(record["hex"]) for record in self.events("packet") if "hex" in record]

    @property
    def ok(self) -> bool:
        """The client exited with code 0."""
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        """A readable dump of the run, for assertion messages."""
        head = (
            f"--- Godot client {self.tag!r}: exit={self.exit_code} timed_out={self.timed_out} "
            f"elapsed={self.elapsed:.1f}s args={self.args}"
        )
        body = [f"  out| {line}" for line in self.lines]
        body += [f"  err| {line}" for line in self.error_lines]
        body += [f"  page| {line}" for line in self.page_errors]
        return "\n".join([head, *body])


class RunClients(Protocol):
    """The type of :meth:`GodotBrowser.run_clients` (the ``godot_clients`` fixture)."""

    def __call__(
        self,
        url: str,
        scenario: str,
        count: int = 1,
        timeout: float = 30.0,
        *,
        args: Mapping[str, object] | None = None,
        per_client_args: Sequence[Mapping[str, object]] | None = None,
        tags: Sequence[str] | None = None,
        poll: Callable[[], object] | None = None,
    ) -> list[ClientResult]: ...


class _ClientState:
    """What the HTTP server has received so far for one client page."""

    def __init__(self, client_id: str, tag: str, args: list[str]) -> None:
        self.client_id = client_id
        self.tag = tag
        self.args = args
        self.started = time.monotonic()
        self.finished_at: float | None = None
        self.reports: list[tuple[int, str, str, int | None]] = []
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.target_id: str | None = None

    def add(self, seq: int, kind: str, text: str, code: int | None) -> None:
        with self.lock:
            self.reports.append((seq, kind, text, code))
            if kind in ("exit", "fatal") and not self.done.is_set():
                self.finished_at = time.monotonic()
                self.done.set()

    def result(self, timed_out: bool) -> ClientResult:
        with self.lock:
            reports = sorted(self.reports)
            finished = self.finished_at
        result = ClientResult(tag=self.tag, args=list(self.args), timed_out=timed_out)
        result.elapsed = (finished if finished is not None else time.monotonic()) - self.started
        for _seq, kind, text, code in reports:
            if kind == "out":
                for line in text.splitlines() or [""]:
                    result.lines.append(line)
                    if line.startswith(RECORD_PREFIX):
                        try:
                            record = json.loads(line[len(RECORD_PREFIX) :])
                        except ValueError:
                            result.page_errors.append(f"unparsable record: {line}")
                            continue
                        if isinstance(record, dict):
                            result.records.append(record)
            elif kind == "err":
                result.error_lines.extend(text.splitlines() or [""])
            elif kind == "exit":
                result.exit_code = code
            elif kind in ("fatal", "page_error"):
                result.page_errors.append(text)
        return result


# --------------------------------------------------------------------------- HTTP


class EngineHttpServer:
    """Serves the engine, the client page and packs on 127.0.0.1; collects client output.

    ``GET /<name>`` serves one of the registered files; ``POST /report/<client>`` takes a
    JSON report ``{"seq", "kind", "text", "code"}`` from a client page.
    """

    def __init__(self, engine_dir: Path) -> None:
        self._files: dict[str, Path | bytes] = {
            name.name: name for name in sorted(engine_dir.iterdir()) if name.is_file()
        }
        self._engine_files = frozenset(self._files)
        self._files[PAGE_NAME] = PAGE_PATH
        self._clients: dict[str, _ClientState] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="godot-e2e-http",
            daemon=True,
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_file(self, name: str, data: bytes | Path) -> None:
        """Serve ``data`` (bytes, or a file to read on each request) at ``/<name>``."""
        if "/" in name or name.startswith("."):
            raise ValueError(f"bad file name: {name!r}")
        self._files[name] = data

    def register_client(self, client_id: str, tag: str, args: list[str]) -> _ClientState:
        state = _ClientState(client_id, tag, args)
        with self._lock:
            self._clients[client_id] = state
        return state

    def forget_client(self, client_id: str) -> None:
        with self._lock:
            self._clients.pop(client_id, None)

    def _client(self, client_id: str) -> _ClientState | None:
        with self._lock:
            return self._clients.get(client_id)

    def close(self) -> None:
        """Stop serving and wait for the server thread (bounded)."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("http: " + format, *args)

            def _common_headers(self) -> None:
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.send_header("Cross-Origin-Resource-Policy", "same-origin")

            def do_GET(self) -> None:
                name = urllib.parse.urlsplit(self.path).path.lstrip("/")
                source = server._files.get(name)
                if source is None:
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                content_type = {
                    ".wasm": "application/wasm",
                    ".js": "text/javascript",
                    ".html": "text/html; charset=utf-8",
                    ".pck": "application/octet-stream",
                }.get(Path(name).suffix) or (
                    mimetypes.guess_type(name)[0] or "application/octet-stream"
                )
                size = len(source) if isinstance(source, bytes) else source.stat().st_size
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(size))
                # Engine files never change while the server runs: let Chromium cache them
                # (and its compiled WebAssembly); packs and the page are always fetched anew.
                cacheable = name in server._engine_files
                self.send_header("Cache-Control", "max-age=3600" if cacheable else "no-store")
                self._common_headers()
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    if isinstance(source, bytes):
                        self.wfile.write(source)
                    else:
                        with open(source, "rb") as handle:
                            shutil.copyfileobj(handle, self.wfile, 1 << 20)

            def do_POST(self) -> None:
                parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
                length = int(self.headers.get("Content-Length") or 0)
                if len(parts) != 2 or parts[0] != "report" or not 0 < length <= MAX_REPORT_BYTES:
                    self.send_error(HTTPStatus.BAD_REQUEST)
                    return
                body = self.rfile.read(length)
                state = server._client(urllib.parse.unquote(parts[1]))
                if state is None:
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                try:
                    report = json.loads(body)
                    code = report.get("code")
                    state.add(
                        int(report["seq"]),
                        str(report["kind"]),
                        str(report.get("text", "")),
                        None if code is None else int(code),
                    )
                except (ValueError, KeyError, TypeError, AttributeError):
                    self.send_error(HTTPStatus.BAD_REQUEST)
                    return
                self.send_response(HTTPStatus.NO_CONTENT)
                self.send_header("Content-Length", "0")
                self._common_headers()
                self.end_headers()

        return Handler


# --------------------------------------------------------------------------- Chromium


class Chromium:
    """One headless Chromium with a fresh profile, driven over the DevTools protocol.

    The process is started in its own process group and, at :meth:`close`, asked to quit
    over DevTools, then terminated and killed by that group's id if it lingers.
    """

    START_TIMEOUT = 30.0
    CDP_TIMEOUT = 15.0

    def __init__(self, binary: Path, extra_flags: Sequence[str] = ()) -> None:
        from websockets.sync.client import connect

        self._profile = Path(tempfile.mkdtemp(prefix="godot-e2e-chromium-"))
        self.log_path = self._profile / "chromium.log"
        self._log = open(self.log_path, "wb")
        command = [
            str(binary),
            *CHROMIUM_FLAGS,
            *extra_flags,
            f"--user-data-dir={self._profile / 'profile'}",
            "about:blank",
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._exit_stack = contextlib.ExitStack()
        try:
            port, path = self._wait_for_devtools()
            # A socket of our own: no proxy settings from the environment can get in the way.
            sock = socket.create_connection(("127.0.0.1", port), timeout=self.CDP_TIMEOUT)
            self._cdp = self._exit_stack.enter_context(
                connect(
                    f"ws://127.0.0.1:{port}{path}",
                    sock=sock,
                    compression=None,
                    max_size=None,
                    open_timeout=self.CDP_TIMEOUT,
                    ping_interval=None,
                )
            )
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def alive(self) -> bool:
        return self._process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait_for_devtools(self) -> tuple[int, str]:
        port_file = self._profile / "profile" / "DevToolsActivePort"
        deadline = time.monotonic() + self.START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive():
                raise HarnessError(
                    f"Chromium exited with {self._process.returncode} at start:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                lines = port_file.read_text().split()
                if len(lines) >= 2:
                    return int(lines[0]), lines[1]
            time.sleep(0.05)
        raise HarnessError(f"Chromium did not open DevTools in {self.START_TIMEOUT} s")

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command on the browser connection and return its result."""
        with self._lock:
            message_id = next(self._ids)
            self._cdp.send(json.dumps({"id": message_id, "method": method, "params": params}))
            deadline = time.monotonic() + self.CDP_TIMEOUT
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise HarnessError(f"DevTools command {method} timed out")
                reply = json.loads(self._cdp.recv(timeout=remaining))
                if reply.get("id") != message_id:
                    continue  # an event; none are subscribed, but be safe
                if "error" in reply:
                    raise HarnessError(f"DevTools {method} failed: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def open_page(self, url: str) -> str:
        """Open ``url`` in a new window (so it is never a throttled background tab)."""
        return str(self.command("Target.createTarget", url=url, newWindow=True)["targetId"])

    def close_page(self, target_id: str) -> None:
        with contextlib.suppress(HarnessError, OSError):
            self.command("Target.closeTarget", targetId=target_id)

    def close(self) -> None:
        """Quit the browser (bounded), kill it by process group if needed, remove the profile."""
        cdp = getattr(self, "_cdp", None)
        if cdp is not None and self.alive():
            with contextlib.suppress(Exception), self._lock:
                cdp.send(json.dumps({"id": next(self._ids), "method": "Browser.close"}))
        with contextlib.suppress(Exception):
            self._exit_stack.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGTERM)
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._process.wait(timeout=5)
        # Helper processes (renderers, zygote) share the group; make sure none survive.
        self._signal_group(signal.SIGKILL)
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)


# --------------------------------------------------------------------------- runs


class GodotRun:
    """Godot clients started together by :meth:`GodotBrowser.start_clients`."""

    def __init__(self, browser: GodotBrowser, states: list[_ClientState], timeout: float) -> None:
        self._browser = browser
        self._states = states
        self.deadline = time.monotonic() + timeout
        self._results: list[ClientResult] | None = None

    def done(self) -> bool:
        """True once every client has exited (or its page failed)."""
        return all(state.done.is_set() for state in self._states)

    def wait(self, poll: Callable[[], object] | None = None) -> list[ClientResult]:
        """Wait until every client has exited or the run's deadline passed; return results.

        ``poll``, if given, is called about every 10 ms while waiting (e.g. the ``poll``
        method of a server that is driven from this thread). Clients still running at the
        deadline are closed and reported with ``timed_out=True``.
        """
        if self._results is not None:
            return self._results
        try:
            while not self.done() and time.monotonic() < self.deadline:
                if poll is not None:
                    poll()
                    time.sleep(0.01)
                else:
                    pending = next(state for state in self._states if not state.done.is_set())
                    pending.done.wait(min(0.1, max(0.0, self.deadline - time.monotonic())))
                if not self._browser.chromium.alive():
                    logger.error("Chromium died:\n%s", self._browser.chromium.log_tail())
                    break
        finally:
            self._results = [
                state.result(timed_out=not state.done.is_set()) for state in self._states
            ]
            self._browser._finish(self._states)
        return self._results


class GodotBrowser:
    """One Chromium and one HTTP server that run Godot demo clients on demand."""

    def __init__(self, engine_dir: Path, chromium_binary: Path, pack: bytes) -> None:
        self.http = EngineHttpServer(engine_dir)
        self.http.add_file("demo.pck", pack)
        self.pack_sha256 = hashlib.sha256(pack).hexdigest()
        self._serial = itertools.count()
        try:
            self.chromium = Chromium(chromium_binary)
        except BaseException:
            self.http.close()
            raise

    def close(self) -> None:
        try:
            self.chromium.close()
        finally:
            self.http.close()

    def __enter__(self) -> GodotBrowser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start_clients(
        self,
        url: str,
        scenario: str,
        count: int = 1,
        timeout: float = 30.0,
        *,
        args: Mapping[str, object] | None = None,
        per_client_args: Sequence[Mapping[str, object]] | None = None,
        tags: Sequence[str] | None = None,
        pack: str = "demo.pck",
    ) -> GodotRun:
        """Open ``count`` pages, each running the demo with these user arguments.

        Each client gets ``--url=<url> --scenario=<scenario> --tag=<tag> --timeout=<s>``
        plus ``args`` (``{"send": 5}`` becomes ``--send=5``) and its own entry of
        ``per_client_args``. Tags default to ``c0``, ``c1``, ... The GDScript timeout
        defaults to 70 % of ``timeout`` (the rest is left for the engine to boot) and can be
        overridden with ``args={"timeout": seconds}``.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        if per_client_args is not None and len(per_client_args) != count:
            raise ValueError("per_client_args needs one mapping per client")
        if tags is not None and len(tags) != count:
            raise ValueError("tags needs one tag per client")
        states: list[_ClientState] = []
        for index in range(count):
            tag = tags[index] if tags is not None else f"c{index}"
            options: dict[str, object] = {
                "url": url,
                "scenario": scenario,
                "tag": tag,
                "timeout": round(max(2.0, timeout * 0.7), 1),
            }
            options.update(args or {})
            if per_client_args is not None:
                options.update(per_client_args[index])
            user_args = [f"--{key}={value}" for key, value in options.items()]
            client_id = f"{next(self._serial)}-{tag}"
            state = self.http.register_client(client_id, tag, user_args)
            query = urllib.parse.urlencode(
                {"client": client_id, "pack": pack, "args": json.dumps(user_args)}
            )
            try:
                state.target_id = self.chromium.open_page(
                    f"{self.http.base_url}/{PAGE_NAME}?{query}"
                )
            except BaseException:
                self._finish([*states, state])
                raise
            states.append(state)
        return GodotRun(self, states, timeout)

    def run_clients(
        self,
        url: str,
        scenario: str,
        count: int = 1,
        timeout: float = 30.0,
        *,
        args: Mapping[str, object] | None = None,
        per_client_args: Sequence[Mapping[str, object]] | None = None,
        tags: Sequence[str] | None = None,
        poll: Callable[[], object] | None = None,
    ) -> list[ClientResult]:
        """:meth:`start_clients`, then :meth:`GodotRun.wait`."""
        run = self.start_clients(
            url,
            scenario,
            count,
            timeout,
            args=args,
            per_client_args=per_client_args,
            tags=tags,
        )
        return run.wait(poll)

    def _finish(self, states: Sequence[_ClientState]) -> None:
        for state in states:
            if state.target_id is not None:
                self.chromium.close_page(state.target_id)
                state.target_id = None
            self.http.forget_client(state.client_id)


# --------------------------------------------------------------------------- by hand


def main(argv: Sequence[str] | None = None) -> int:
    """Run demo clients against a server from the command line (see README.md)."""
    import argparse

    from godot_engine import ensure_engine, find_chromium

    parser = argparse.ArgumentParser(
        prog="python tests/e2e/godot_harness.py",
        description="Run godot_demo clients (Godot 4 web build, headless Chromium) against a "
        "WebSocket server, or only serve the page for a browser of your own (--serve).",
    )
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:9080", help="server URL")
    parser.add_argument("scenario", nargs="?", default="basic", help="demo scenario")
    parser.add_argument("--count", type=int, default=1, help="clients to run at once")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole run")
    parser.add_argument(
        "--arg", action="append", default=[], metavar="NAME=VALUE", help="extra user argument"
    )
    parser.add_argument("--serve", action="store_true", help="serve the page, run no browser")
    parser.add_argument("--serve-seconds", type=float, default=600.0, help="how long to serve")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every output line")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    pack = build_demo_pack()
    engine = ensure_engine()
    extra = dict(item.split("=", 1) for item in options.arg)
    if options.serve:
        http = EngineHttpServer(engine)
        http.add_file("demo.pck", pack)
        user_args = [f"--url={options.url}", f"--scenario={options.scenario}"]
        user_args += [f"--{key}={value}" for key, value in extra.items()]
        http.register_client("by-hand", "by-hand", user_args)
        query = urllib.parse.urlencode({"client": "by-hand", "args": json.dumps(user_args)})
        logger.info(
            "open %s/%s?%s (output in the browser console); Ctrl-C stops",
            http.base_url,
            PAGE_NAME,
            query,
        )
        try:
            time.sleep(options.serve_seconds)
        except KeyboardInterrupt:
            return 0
        finally:
            http.close()
    with GodotBrowser(engine, find_chromium(), pack) as browser:
        results = browser.run_clients(
            options.url, options.scenario, options.count, options.timeout, args=extra
        )
    for result in results:
        if options.verbose:
            logger.info("%s", result.describe())
        for record in result.records:
            logger.info("%s %s", result.tag, json.dumps(record, sort_keys=True))
        logger.info(
            "%s: exit code %s%s",
            result.tag,
            result.exit_code,
            " (timed out)" if result.timed_out else "",
        )
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
