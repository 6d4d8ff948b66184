"""The ``godot-websocket`` command line, run for real as subprocesses on 127.0.0.1.

Every command runs as ``python -m godot_websocket ...`` with short durations and
OS-chosen ports (``--port 0``; the tests read the port from the ``listening on`` line).
``serve`` is exercised against the ``connect`` command and against a
``WebSocketMultiplayerPeer`` client living in the test process. The literal parser and
the packet describer, which need no network, are also tested in-process.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from godot_websocket import WebSocketMultiplayerPeer
from godot_websocket.__main__ import main
from godot_websocket.cli.describe import describe_packet, format_value
from godot_websocket.cli.literal import LiteralError, parse_value
from godot_websocket.variant import Color, NodePath, StringName, Vector2, Vector3, encode_variant

CLI = [sys.executable, "-m", "godot_websocket"]
PROCESS_TIMEOUT = 30.0
LISTENING = re.compile(r"listening on (wss?)://127\.0\.0\.1:(\d+)")


def run_cli(*args: str, timeout: float = PROCESS_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run one command to its end."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit code 2, and exactly one ``godot-websocket: error:`` line on stderr."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("godot-websocket: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


class CLIProcess:
    """A long-running command (``serve``, ``connect``) whose stdout is read line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stderr = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait for an output line matching ``pattern`` (regex search)."""
        regex = re.compile(pattern)
        for line in self.lines:
            match = regex.search(line)
            if match:
                return match
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            self.lines.append(item)
            match = regex.search(item)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the process to end; collect the rest of its output."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        while True:
            try:
                rest = self._queue.get_nowait()
            except queue.Empty:
                break
            if rest is not None:
                self.lines.append(rest)
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        return code

    def interrupt(self, timeout: float = 10.0) -> int:
        """Send SIGINT (Ctrl-C) and wait for the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        """Make sure the process is gone (test teardown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def serve() -> Iterator[Any]:
    """Factory: start ``serve`` on 127.0.0.1 with a free port; returns (process, url)."""
    started: list[CLIProcess] = []

    def start(*args: str) -> tuple[CLIProcess, str]:
        proc = CLIProcess("serve", "--port", "0", "--bind", "127.0.0.1", *args)
        started.append(proc)
        match = proc.expect(LISTENING.pattern)
        return proc, f"{match.group(1)}://127.0.0.1:{match.group(2)}"

    yield start
    for proc in started:
        proc.stop()


def poll_until(predicate: Any, peer: WebSocketMultiplayerPeer, timeout: float = 5.0) -> Any:
    """Poll ``peer`` until ``predicate()`` is truthy or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        peer.poll()
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.001)


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def connect_library_client(url: str) -> WebSocketMultiplayerPeer:
    client = WebSocketMultiplayerPeer()
    assert client.create_client(url) == 0
    assert poll_until(
        lambda: client.get_connection_status() == WebSocketMultiplayerPeer.CONNECTION_CONNECTED,
        client,
    )
    return client


def receive(client: WebSocketMultiplayerPeer, count: int, timeout: float = 5.0) -> list[bytes]:
    packets: list[bytes] = []

    def got_them() -> bool:
        while client.get_available_packet_count():
            packets.append(client.get_packet())
        return len(packets) >= count

    poll_until(got_them, client, timeout=timeout)
    return packets


# -- help -------------------------------------------------------------------------------


def test_help_of_every_command_via_the_console_entry_point() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "usage: godot-websocket" in proc.stdout
    for command in ("demo", "serve", "connect", "bench"):
        assert command in proc.stdout


@pytest.mark.parametrize("command", ["demo", "serve", "connect", "bench"])
def test_help_of_each_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert f"usage: godot-websocket {command}" in text
    assert "examples:" in text


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("godot-websocket")
    if not script.exists():
        pytest.skip("console script not installed next to this interpreter")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert proc.stdout.startswith("godot-websocket ")


def test_usage_errors_are_one_line() -> None:
    assert_one_line_error(run_cli("bogus"), "invalid choice")
    assert_one_line_error(run_cli("demo", "--clients", "0"), "--clients")


# -- demo ---------------------------------------------------------------------------------


def test_demo_short_run() -> None:
    proc = run_cli("demo", "--clients", "8", "--rate", "20", "--duration", "1.5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    # not a terminal: plain progress lines, no cursor control
    assert "\x1b[" not in out and "\r" not in out
    assert re.search(r"^\[\s*1\.\d+s\] play\s+peers 8/8", out, re.M), out
    assert "bots connected 8/8 · errors 0" in out
    assert "result OK" in out
    for heading in ("sent", "received", "bytes", "p50", "p99"):
        assert heading in out
    total = re.search(r"^\s+total\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)", out, re.M)
    assert total is not None, out
    sent, received = (int(total.group(i).replace(",", "")) for i in (1, 2))
    assert sent == received > 100  # 8 bots * 20 Hz * 1.5 s = 240 states, + echoes, snapshots
    assert re.search(r"state round trip\s+\d", out)


# -- serve + connect ---------------------------------------------------------------------------


def test_serve_with_the_connect_command(serve: Any) -> None:
    server, url = serve("--decode")
    proc = run_cli(
        "connect",
        url,
        "--send-var",
        "Vector2(1, 2)",
        "--send-var",
        '{"name": "bob", "hp": 100, "tags": [&"a", ^"b/c"]}',
        "--send-hex",
        "03 de ad be ef",
        "--count",
        "3",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    match = re.search(r"connected to ws://127\.0\.0\.1:\d+/ as peer (\d+)", proc.stdout)
    assert match, proc.stdout
    peer_id = int(match.group(1))
    assert peer_id >= 2
    assert "recv 12 B  Vector2(1.0, 2.0)" in proc.stdout
    assert (
        'Dictionary {"name": "bob", "hp": 100, "tags": [StringName(\'a\'), NodePath(\'b/c\')]}'
        in (proc.stdout)
    )
    assert "recv 5 B  SceneMultiplayer RAW 4 B: de ad be ef" in proc.stdout

    server.expect(rf"\+ peer {peer_id} connected from 127\.0\.0\.1:\d+ \(1 connected\)")
    server.expect(rf"peer {peer_id}  12 B  Vector2\(1\.0, 2\.0\)")
    server.expect(rf"peer {peer_id}  5 B  SceneMultiplayer RAW 4 B: de ad be ef")
    server.expect(rf"- peer {peer_id} disconnected after")
    assert server.interrupt() == 0
    assert "Traceback" not in server.stderr
    assert "stopping (SIGINT)" in server.output
    assert re.search(r"stopped after .*1 connection\(s\), 3 packets in", server.output)


def test_serve_with_a_library_client_and_clean_sigint(serve: Any) -> None:
    server, url = serve("--decode", "--mode", "echo")
    client = connect_library_client(url)
    my_id = client.get_unique_id()
    server.expect(rf"\+ peer {my_id} connected from 127\.0\.0\.1:")

    state = {"pos": Vector3(1, 2, 3), "color": Color(1, 0, 0)}
    scene_packets = [
        bytes.fromhex("0701") + (77).to_bytes(4, "little"),  # SYS ADD_PEER 77
        bytes.fromhex("0703 00000000 03 0102"),  # SYS RELAY to 0 of RAW 01 02
        b"\x05" + (3).to_bytes(4, "little"),  # DESPAWN net 3
    ]
    for packet in [encode_variant(state), *scene_packets]:
        assert client.put_packet(packet) == 0
    echoed = receive(client, 4)
    assert echoed == [encode_variant(state), *scene_packets]

    server.expect(r"Dictionary \{\"pos\": Vector3\(1\.0, 2\.0, 3\.0\), \"color\": Color\(1\.0")
    server.expect(r"SceneMultiplayer SYS ADD_PEER 77")
    server.expect(r"SceneMultiplayer SYS RELAY peer 0: RAW 2 B: 01 02")
    server.expect(r"SceneMultiplayer DESPAWN net 3")

    # Ctrl-C with a client still connected: close frames, exit code 0, no traceback
    disconnected: list[int] = []
    client.peer_disconnected.connect(disconnected.append)
    assert server.interrupt() == 0
    assert server.stderr == ""
    assert f"- peer {my_id} disconnected" in server.output
    assert "stopping (SIGINT): closing 1 connection(s)" in server.output
    assert poll_until(lambda: disconnected == [1], client)
    client.close()


def test_serve_broadcast_and_sink_modes(serve: Any) -> None:
    _server, url = serve("--mode", "broadcast")
    a, b = connect_library_client(url), connect_library_client(url)
    assert a.put_packet(b"\x03hello") == 0
    assert receive(a, 1) == [b"\x03hello"]
    assert receive(b, 1) == [b"\x03hello"]
    a.close()
    b.close()

    _server, url = serve("--mode", "sink")
    c = connect_library_client(url)
    assert c.put_packet(b"\x03hello") == 0
    assert receive(c, 1, timeout=0.3) == []
    c.close()


def test_connect_fails_when_count_is_not_reached(serve: Any) -> None:
    _server, url = serve("--mode", "sink")
    proc = run_cli("connect", url, "--send-var", "1", "--count", "1", "--duration", "0.3")
    assert "as peer" in proc.stdout
    assert_one_line_error(proc, "received 0 of 1 packets")


def test_serve_and_connect_over_tls(serve: Any, tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file, cert_file, key_file = (tmp_path / n for n in ("ca.crt", "server.crt", "server.key"))
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))

    server, url = serve("--cert", str(cert_file), "--key", str(key_file), "--decode")
    assert url.startswith("wss://")
    proc = run_cli("connect", url, "--ca", str(ca_file), "--send-var", "[1, 2.5]", "--count", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "recv" in proc.stdout and "Array [1, 2.5]" in proc.stdout
    server.expect(r"Array \[1, 2\.5\]")

    # without the CA the certificate cannot be verified
    proc = run_cli("connect", url, "--timeout", "3")
    assert_one_line_error(proc, "cannot connect to wss://127.0.0.1")


# -- errors ------------------------------------------------------------------------------------


def test_serve_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = run_cli("serve", "--port", str(port), "--bind", "127.0.0.1")
    assert_one_line_error(proc, f"127.0.0.1:{port}", "in use")


def test_serve_bad_certificate_paths(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.crt")
    proc = run_cli("serve", "--port", "0", "--cert", missing, "--key", missing)
    assert_one_line_error(proc, "cannot read certificate file", "missing.crt")

    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    proc = run_cli("serve", "--port", "0", "--cert", str(not_pem), "--key", str(not_pem))
    assert_one_line_error(proc, "holds no PEM certificate")

    assert_one_line_error(run_cli("serve", "--cert", str(not_pem)), "--cert and --key")
    assert_one_line_error(run_cli("serve", "--bind", "localhost"), "invalid bind address")


def test_connect_unreachable_url() -> None:
    port = free_port()
    proc = run_cli("connect", f"ws://127.0.0.1:{port}", "--timeout", "3")
    assert_one_line_error(proc, f"cannot connect to ws://127.0.0.1:{port}/", "refused")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9080", "unsupported scheme"),
        ("ws://", "empty host"),
        ("ws://127.0.0.1:99999", "out of range"),
        ("ws://bad host:9080", "invalid host"),
    ],
)
def test_connect_malformed_url(url: str, reason: str) -> None:
    assert_one_line_error(run_cli("connect", url), "malformed URL", reason)


def test_connect_to_a_server_that_sends_no_peer_id() -> None:
    ws_sync_server = pytest.importorskip("websockets.sync.server")

    def handler(ws: Any) -> None:
        for _message in ws:
            pass

    with ws_sync_server.serve(handler, "127.0.0.1", 0) as plain:
        port = plain.socket.getsockname()[1]
        thread = threading.Thread(target=plain.serve_forever, daemon=True)
        thread.start()
        try:
            proc = run_cli("connect", f"ws://127.0.0.1:{port}", "--timeout", "1")
        finally:
            plain.shutdown()
            thread.join(timeout=5)
    assert_one_line_error(proc, "sent no peer id within 1 s")


def test_connect_refuses_unsafe_expressions() -> None:
    proc = run_cli("connect", "ws://127.0.0.1:1", "--send-var", "__import__('os').getcwd()")
    assert_one_line_error(proc, "--send-var", "unknown constructor")


# -- bench ---------------------------------------------------------------------------------------


def test_bench_tiny_run_json() -> None:
    proc = run_cli("bench", "--duration", "0.15", "--clients", "2", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["errors"] == 0
    assert result["round_trip"]["round_trips"] > 0
    assert result["round_trip"]["p50_us"] > 0
    assert result["upload"]["packets"] > 0
    assert result["broadcast"]["deliveries"] > 0 and result["broadcast"]["clients"] == 2
    assert result["codec"]["states"] > 0


def test_bench_tiny_run_table() -> None:
    proc = run_cli("bench", "--duration", "0.1", "--clients", "2", "--size", "1000")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for fragment in ("round trip", "client → server", "server → 2 clients", "Variant", "result OK"):
        assert fragment in proc.stdout


# -- in-process: the value parser and the packet describer ---------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-7.5", -7.5),
        ('"hi"', "hi"),
        ("true", True),
        ("null", None),
        ("[1, [2]]", [1, [2]]),
        ('{"hp": 100}', {"hp": 100}),
        ("Vector2(1, 2)", Vector2(1, 2)),
        ('&"name"', StringName("name")),
        ('[^"a/b", &"x"]', [NodePath("a/b"), StringName("x")]),
        ("PackedByteArray([1, 2])", b"\x01\x02"),
        ("Color(1, 0, 0)", Color(1, 0, 0)),
    ],
)
def test_parse_value(text: str, value: Any) -> None:
    assert parse_value(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "open('x')",
        "x",
        "1 + 2",
        "Color.RED",
        "Vector2(x=1, y=2)",
        "[1, 2",
        "{[1]: 2}",
        "(lambda: 1)()",
        "[" * 500 + "]" * 500,
    ],
)
def test_parse_value_rejects(text: str) -> None:
    with pytest.raises(LiteralError):
        parse_value(text)


def test_describe_packets() -> None:
    assert describe_packet(encode_variant(42)) == "int 42"
    assert describe_packet(encode_variant("hi")) == 'String "hi"'
    assert describe_packet(encode_variant(Vector2(1, 2))) == "Vector2(1.0, 2.0)"
    assert describe_packet(encode_variant({"a": None})) == 'Dictionary {"a": null}'
    assert describe_packet(b"\x03\x01\x02") == "SceneMultiplayer RAW 2 B: 01 02"
    assert describe_packet(b"\x07\x02\x4d\x00\x00\x00") == "SceneMultiplayer SYS DEL_PEER 77"
    assert describe_packet(b"\x02\x01\x05\x00\x00\x00") == "SceneMultiplayer CONFIRM_PATH id 5 ok"
    simplify = b"\x01" + b"d41d8cd98f00b204e9800998ecf8427e" + b"\0" + b"\x01\0\0\0" + b"Main\0"
    assert describe_packet(simplify) == (
        'SceneMultiplayer SIMPLIFY_PATH id 1 path "Main" checksum d41d8cd98f00b204e9800998ecf8427e'
    )
    # rpc_id(1, <method 0>, 42, "x") in the full-path form: meta 0x20, node 0x80000000 | offset
    args = b"\x02" + b"\x02\x2a" + encode_variant("x")  # argc 2, compact int 42, String "x"
    offset = 1 + 4 + 1 + len(args)
    rpc = b"\x20" + (0x80000000 | offset).to_bytes(4, "little") + b"\x00" + args + b"Main\0"
    assert (
        describe_packet(rpc)
        == 'SceneMultiplayer REMOTE_CALL node path "Main" method #0 args (42, "x")'
    )
    assert describe_packet(b"\x0f\xff") == "bytes 0f ff"
    assert format_value([1.5, True, b"\x00"]) == "[1.5, true, b'\\x00']"


def test_main_returns_error_code_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("godot_websocket")
    before = (logger.propagate, logger.level, list(logger.handlers))
    assert main(["connect", "ws://"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("godot-websocket: error: malformed URL")
    # the CLI's logging set-up does not leak into the calling program
    assert (logger.propagate, logger.level, list(logger.handlers)) == before
