"""URL parsing (spec §4.7, Godot's ``String::parse_url``) and ``connect_to_url``'s checks (§4.3)."""

from __future__ import annotations

import pytest

from godot_websocket import Error, TLSOptions, WebSocketPeer
from godot_websocket.url import URLError, parse_url

# url -> (scheme, host, port, path)
VALID = [
    # schemes and defaults
    ("ws://example.com", ("ws://", "example.com", 80, "/")),
    ("wss://example.com", ("wss://", "example.com", 443, "/")),
    ("example.com", ("ws://", "example.com", 80, "/")),
    ("example.com:9080/chat", ("ws://", "example.com", 9080, "/chat")),
    ("WS://Example.COM/Chat", ("ws://", "example.com", 80, "/Chat")),
    ("WsS://host", ("wss://", "host", 443, "/")),
    ("http://host/x", ("http://", "host", 80, "/x")),  # parsed; refused by connect_to_url
    ("a+b-c.d://host", ("a+b-c.d://", "host", 80, "/")),
    ("://host", ("://", "host", 80, "/")),  # an empty scheme is still a scheme
    # ports
    ("ws://host:1", ("ws://", "host", 1, "/")),
    ("ws://host:65535", ("ws://", "host", 65535, "/")),
    ("ws://host:0080", ("ws://", "host", 80, "/")),
    ("ws://host:+8080", ("ws://", "host", 8080, "/")),  # String::is_valid_int accepts a sign
    ("wss://host:80", ("wss://", "host", 80, "/")),
    ("ws://host:443", ("ws://", "host", 443, "/")),
    # paths, queries, fragments
    ("ws://host/", ("ws://", "host", 80, "/")),
    ("ws://host/a/b?c=d&e=f", ("ws://", "host", 80, "/a/b?c=d&e=f")),
    ("ws://host:81/a?q#frag", ("ws://", "host", 81, "/a?q")),
    ("ws://host#frag/not/a/path", ("ws://", "host", 80, "/")),
    ("ws://host/p#", ("ws://", "host", 80, "/p")),
    ("ws://host?q=1", ("ws://", "host?q=1", 80, "/")),  # quirk: '?' without '/' stays in host
    ("ws://host/a:b@c", ("ws://", "host", 80, "/a:b@c")),  # '@' and ':' in the path are path
    # credentials
    ("ws://user:pass@host:9000/p", ("ws://", "host", 9000, "/p")),
    ("ws://user@host", ("ws://", "host", 80, "/")),
    ("ws://@host", ("ws://", "host", 80, "/")),
    ("ws://a@b@host", ("ws://", "b@host", 80, "/")),  # only up to the first '@' is stripped
    ("user:pass@host:7", ("ws://", "host", 7, "/")),
    # IPv6 literals (host without brackets)
    ("ws://[::1]", ("ws://", "::1", 80, "/")),
    ("ws://[::1]:8080/x", ("ws://", "::1", 8080, "/x")),
    ("wss://[FE80::1%25eth0]/", ("wss://", "fe80::1%25eth0", 443, "/")),
    ("ws://user@[::1]:9", ("ws://", "::1", 9, "/")),
    ("ws://[::1]junk", ("ws://", "::1", 80, "/")),  # text after ']' without ':' is ignored
    ("ws://[2001:db8::7]:65535", ("ws://", "2001:db8::7", 65535, "/")),
    # IPv4 and odd hosts
    ("ws://127.0.0.1:5/", ("ws://", "127.0.0.1", 5, "/")),
    ("ws://ÄBC.example/", ("ws://", "äbc.example", 80, "/")),
    # no valid scheme: "ws_x:" is not a scheme, so this is host "x" + path
    ("x/ws_x://y", ("ws://", "x", 80, "/ws_x://y")),
]

INVALID = [
    "ws://",  # empty host
    "ws:///path",
    "ws://:80",
    "ws://user@",
    "ws://user@:80/x",
    "ws://#frag",
    "/just/a/path",
    "ws://[]",  # empty IPv6 literal
    "ws://[::1",  # missing ']'
    "ws://[::1/x]",  # ']' only in the path
    "ws://::1",  # several ':' without brackets
    "ws://host:80:90",
    "ws://host:",  # empty port
    "ws://[::1]:",
    "ws://host:abc",
    "ws://host:8o",
    "ws://host: 80",
    "ws://host:0",
    "ws://host:-0",
    "ws://host:-80",
    "ws://host:+",
    "ws://host:65536",
    "ws://host:99999999999999999999",
    "ws://host:٨٠",  # non-ASCII digits
    "ws://[::1]:0",
    "ws://[::1]:x",
    "ws_x://host",  # not a scheme (underscore), so "ws_x:" is host + empty port
]


@pytest.mark.parametrize(("url", "expected"), VALID)
def test_parse_url_valid(url: str, expected: tuple[str, str, int, str]) -> None:
    p = parse_url(url)
    assert (p.scheme, p.host, p.port, p.path) == expected


@pytest.mark.parametrize("url", INVALID)
def test_parse_url_invalid(url: str) -> None:
    with pytest.raises(URLError):
        parse_url(url)


@pytest.mark.parametrize(
    ("url", "header"),
    [
        ("ws://Host.example", "host.example"),
        ("ws://host:80", "host"),
        ("ws://host:443", "host:443"),
        ("wss://host:443", "host"),
        ("wss://host:80", "host:80"),
        ("ws://host:9080/x", "host:9080"),
        ("ws://user:pw@host:9/", "host:9"),
        # Godot writes IPv6 hosts without brackets ("::1:8080"); we write RFC 7230's form.
        ("ws://[::1]:8080", "[::1]:8080"),
        ("ws://[::1]", "[::1]"),
    ],
)
def test_host_header(url: str, header: str) -> None:
    assert parse_url(url).host_header() == header


# ------------------------------------------------------------- connect_to_url checks


@pytest.mark.parametrize("url", INVALID)
def test_connect_to_url_parse_errors(url: str) -> None:
    peer = WebSocketPeer()
    assert peer.connect_to_url(url) == Error.ERR_INVALID_PARAMETER
    assert peer.get_ready_state() == WebSocketPeer.STATE_CLOSED
    assert peer.get_requested_url() == ""


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/", "https://h", "ftp://h", "://h", "WSX://h", "ws+unix://h"]
)
def test_connect_to_url_bad_scheme(url: str) -> None:
    peer = WebSocketPeer()
    assert peer.connect_to_url(url) == Error.ERR_INVALID_PARAMETER
    assert peer.get_ready_state() == WebSocketPeer.STATE_CLOSED


def test_connect_to_url_empty() -> None:
    peer = WebSocketPeer()
    assert peer.connect_to_url("") == Error.ERR_INVALID_PARAMETER
    assert peer.get_ready_state() == WebSocketPeer.STATE_CLOSED


def test_connect_to_url_server_tls_options() -> None:
    peer = WebSocketPeer()
    opts = TLSOptions.server(None, None)
    assert peer.connect_to_url("wss://127.0.0.1:9/", opts) == Error.ERR_INVALID_PARAMETER
    assert peer.connect_to_url("ws://127.0.0.1:9/", opts) == Error.ERR_INVALID_PARAMETER
    assert peer.get_ready_state() == WebSocketPeer.STATE_CLOSED


def test_connect_to_url_success_states(free_port: int) -> None:
    peer = WebSocketPeer()
    url = f"ws://127.0.0.1:{free_port}/a?b#c"
    assert peer.connect_to_url(url) == Error.OK
    assert peer.get_ready_state() == WebSocketPeer.STATE_CONNECTING
    assert peer.get_requested_url() == url
    # TLS options on a ws:// URL are accepted and ignored.
    peer2 = WebSocketPeer()
    assert peer2.connect_to_url(f"127.0.0.1:{free_port}", TLSOptions.client_unsafe()) == Error.OK
    assert peer2.get_ready_state() == WebSocketPeer.STATE_CONNECTING
    peer.close()
    peer2.close()


def test_connect_to_url_check_order_while_connecting(raw_ws_server) -> None:
    # A server that accepts TCP and never answers the upgrade: the peer stays CONNECTING.
    srv = raw_ws_server(handshake=False)
    peer = WebSocketPeer()
    assert peer.connect_to_url(srv.url) == Error.OK
    assert peer.get_ready_state() == WebSocketPeer.STATE_CONNECTING
    # 1. empty URL beats the state check; 2. server TLS options too
    assert peer.connect_to_url("") == Error.ERR_INVALID_PARAMETER
    assert (
        peer.connect_to_url(srv.url, TLSOptions.server(None, None))
        == Error.ERR_INVALID_PARAMETER
    )
    # 3. the state check beats URL parsing and scheme checks
    assert peer.connect_to_url("ws://[::1") == Error.ERR_ALREADY_IN_USE
    assert peer.connect_to_url("http://x") == Error.ERR_ALREADY_IN_USE
    assert peer.connect_to_url(srv.url) == Error.ERR_ALREADY_IN_USE
    # nothing of that disturbed the pending connection
    assert peer.get_ready_state() == WebSocketPeer.STATE_CONNECTING
    assert peer.get_requested_url() == srv.url
    peer.close()
    assert peer.get_ready_state() == WebSocketPeer.STATE_CLOSED


def test_connect_to_url_resets_before_parsing(ws_server, poll_until) -> None:
    # Godot clears the peer (close code, reason, requested URL, selected protocol) as soon
    # as the state check passes, even when the URL then turns out to be invalid.
    def closer(conn) -> None:
        conn.close(4000, "done")

    srv = ws_server(closer)
    peer = WebSocketPeer()
    assert peer.connect_to_url(srv.url) == Error.OK
    assert poll_until(lambda: peer.get_ready_state() == WebSocketPeer.STATE_CLOSED, peer)
    assert (peer.get_close_code(), peer.get_close_reason()) == (4000, "done")
    assert peer.connect_to_url("ws://host:0") == Error.ERR_INVALID_PARAMETER
    assert peer.get_close_code() == -1
    assert peer.get_close_reason() == ""
    assert peer.get_requested_url() == ""
    assert peer.get_ready_state() == WebSocketPeer.STATE_CLOSED


def test_connect_to_url_wrong_types() -> None:
    peer = WebSocketPeer()
    with pytest.raises(TypeError):
        peer.connect_to_url(b"ws://h")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        peer.connect_to_url(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        peer.connect_to_url("ws://h", "not options")  # type: ignore[arg-type]
