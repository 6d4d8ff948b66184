"""Starting servers and clients with errors a person can act on.

The library follows Godot and answers failures with an ``Error`` code and a log line;
these helpers turn them into one :class:`~._common.CLIError` that names the cause
("Address already in use", "Connection refused", "malformed URL ...").
"""

from __future__ import annotations

import socket
import string
import time

from ..error import Error, error_string
from ..tls import TLSOptions
from ..url import URLError, parse_url
from ..websocket_multiplayer_peer import WebSocketMultiplayerPeer
from ..websocket_peer import WebSocketPeer
from ._common import IDLE_SLEEP, CLIError, StopFlag, last_library_message

__all__ = ["check_url", "connect_client", "local_url", "start_server"]

_HOST_CHARS = frozenset(string.ascii_letters + string.digits + "-._~%:")
_CONNECTED = WebSocketMultiplayerPeer.CONNECTION_CONNECTED
_DISCONNECTED = WebSocketMultiplayerPeer.CONNECTION_DISCONNECTED


def _os_reason(family: int, address: tuple[str, int], bind: bool) -> str:
    """What the OS says when we bind to / connect to ``address`` ourselves ("" if it works)."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            if bind:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
            else:
                sock.settimeout(2.0)
                sock.connect(address)
    except OSError as e:
        return e.strerror or str(e)
    return ""


def start_server(port: int, bind: str, tls: TLSOptions | None) -> WebSocketMultiplayerPeer:
    """A listening server, or :class:`CLIError` saying why not."""
    peer = WebSocketMultiplayerPeer()
    last_library_message()
    err = peer.create_server(port, bind, tls)
    if err == Error.OK:
        return peer
    if err == Error.ERR_INVALID_PARAMETER:
        raise CLIError(f"invalid bind address {bind!r} (use '*' or an IP address)")
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    host = "" if bind == "*" else bind
    reason = _os_reason(family, (host, port), bind=True) or error_string(err)
    where = f"[{bind}]:{port}" if ":" in bind else f"{bind}:{port}"
    raise CLIError(f"cannot listen on {where}: {reason}")


def local_url(peer: WebSocketMultiplayerPeer, bind: str, tls: bool) -> str:
    """The URL a client on this machine would use to reach ``peer``."""
    host = "127.0.0.1" if bind in ("*", "0.0.0.0") else bind
    if host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'wss' if tls else 'ws'}://{host}:{peer.get_local_port()}"


def check_url(url: str) -> str:
    """Validate ``url`` as Godot would (scheme defaults to ``ws://``); return it normalised."""
    try:
        parsed = parse_url(url)
    except URLError as e:
        raise CLIError(f"malformed URL {url!r}: {e}") from None
    if parsed.scheme not in ("ws://", "wss://"):
        raise CLIError(
            f"malformed URL {url!r}: unsupported scheme {parsed.scheme!r} (use ws:// or wss://)"
        )
    if not set(parsed.host) <= _HOST_CHARS:
        raise CLIError(f"malformed URL {url!r}: invalid host {parsed.host!r}")
    return parsed.scheme + parsed.host_header() + parsed.path


def _failure_reason(url: str, ws: WebSocketPeer | None) -> str:
    message = last_library_message()
    parsed = parse_url(url)
    family = socket.AF_INET6 if parsed.is_ipv6 else socket.AF_INET
    if parsed.is_ip_literal():
        reason = _os_reason(family, (parsed.host, parsed.port), bind=False)
        if reason:
            return reason
    else:
        try:
            socket.getaddrinfo(parsed.host, parsed.port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            return f"cannot resolve {parsed.host!r} ({e.strerror})"
    if ws is not None and ws.get_close_code() > 0:
        extra = f" {ws.get_close_reason()!r}" if ws.get_close_reason() else ""
        return f"the server closed the connection (code {ws.get_close_code()}{extra})"
    if message.startswith("Connection failed: "):
        message = message[len("Connection failed: ") :]
    if parsed.tls:
        return f"TLS handshake failed ({message or 'no details'})"
    return message or "connection failed"


def connect_client(
    url: str, tls: TLSOptions | None, timeout: float, stop: StopFlag
) -> WebSocketMultiplayerPeer | None:
    """A client connected to ``url`` and holding its peer id; ``None`` if ``stop`` was set."""
    peer = WebSocketMultiplayerPeer()
    peer.set_handshake_timeout(timeout)
    last_library_message()
    err = peer.create_client(url, tls)
    if err != Error.OK:
        reason = last_library_message() or error_string(err)
        raise CLIError(f"cannot connect to {url}: {reason}")
    ws = peer.get_peer(1)
    deadline = time.monotonic() + timeout + 0.25
    while not stop.stop:
        peer.poll()
        status = peer.get_connection_status()
        if status == _CONNECTED:
            return peer
        if status == _DISCONNECTED:
            raise CLIError(f"cannot connect to {url}: {_failure_reason(url, ws)}")
        if time.monotonic() > deadline:
            opened = ws is not None and ws.get_ready_state() == WebSocketPeer.STATE_OPEN
            peer.close()
            if opened:
                raise CLIError(
                    f"{url} accepted the WebSocket but sent no peer id within {timeout:g} s "
                    "(not a Godot multiplayer server?)"
                )
            raise CLIError(f"cannot connect to {url}: no answer within {timeout:g} s")
        time.sleep(IDLE_SLEEP)
    peer.close()
    return None
