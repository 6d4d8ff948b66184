"""create_server / create_client: check order and error codes (spec §1.2), bind addresses,
ports in use, server restart on the same port."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from godot_websocket import Error, TLSOptions, WebSocketMultiplayerPeer, WebSocketPeer
from mp_helpers import (
    CONNECTED,
    CONNECTING,
    DISCONNECTED,
    Events,
    connect_clients,
    has_ipv6_loopback,
    make_server,
    pump,
    pump_for,
    url_of,
)

W = WebSocketMultiplayerPeer
needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")


def assert_idle(p: W) -> None:
    assert p.get_connection_status() == DISCONNECTED
    assert p.get_unique_id() == 0
    assert p.is_server() is False
    assert p.get_peer_ids() == []
    assert p.get_local_port() == 0


def gw_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "godot_websocket"]


# ------------------------------------------------------------------ create_server


def test_create_server_twice_is_already_in_use(caplog: pytest.LogCaptureFixture) -> None:
    server, port = make_server()
    try:
        with caplog.at_level(logging.ERROR, logger="godot_websocket"):
            assert server.create_server(0) == Error.ERR_ALREADY_IN_USE
            # check 1 comes before the TLS check (2)
            assert server.create_server(0, "*", TLSOptions.client()) == Error.ERR_ALREADY_IN_USE
            assert server.create_client(url_of(port)) == Error.ERR_ALREADY_IN_USE
        assert len(gw_logs(caplog)) == 3
        # the running server is untouched
        assert server.get_connection_status() == CONNECTED and server.get_unique_id() == 1
        assert server.get_local_port() == port
        clients = connect_clients(server, port, 1)
        clients[0].close()
    finally:
        server.close()


def test_create_on_a_connecting_client_is_already_in_use(raw_ws_server) -> None:
    silent = raw_ws_server()
    client = W()
    assert client.create_client(silent.url) == Error.OK
    assert client.get_connection_status() == CONNECTING
    assert client.create_server(0) == Error.ERR_ALREADY_IN_USE
    assert client.create_client(silent.url) == Error.ERR_ALREADY_IN_USE
    assert client.create_client(silent.url, TLSOptions.server(None, None)) == \
        Error.ERR_ALREADY_IN_USE
    assert client.get_connection_status() == CONNECTING and client.get_peer_ids() == [1]
    client.close()


@pytest.mark.parametrize("options", [TLSOptions.client(), TLSOptions.client_unsafe(),
                                     TLSOptions.client(None, "example.com")],
                         ids=["client", "client_unsafe", "client_override"])
def test_create_server_with_client_tls_options(options: TLSOptions,
                                               caplog: pytest.LogCaptureFixture) -> None:
    p = W()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert p.create_server(0, "127.0.0.1", options) == Error.ERR_INVALID_PARAMETER
    assert gw_logs(caplog)
    assert_idle(p)


@pytest.mark.parametrize("address", ["localhost", "abc", "1.2.3", "1.2.3.4.5", "256.1.1.1",
                                     "", " 127.0.0.1", "127.0.0.1:80", "::g", "[::1]"])
def test_create_server_invalid_bind_address(address: str) -> None:
    p = W()
    assert p.create_server(0, address) == Error.ERR_INVALID_PARAMETER
    assert_idle(p)


def test_tls_check_comes_before_bind_address_check() -> None:
    p = W()
    # both wrong: the TLS options are reported (check 2 before check 4)
    assert p.create_server(0, "localhost", TLSOptions.client()) == Error.ERR_INVALID_PARAMETER
    assert_idle(p)


@pytest.mark.parametrize("port", [-1, 65536, 100000])
def test_create_server_port_out_of_range(port: int) -> None:
    """Deliberate difference: Godot wraps the port to 16 bits; we refuse it."""
    p = W()
    assert p.create_server(port) == Error.ERR_INVALID_PARAMETER
    assert_idle(p)


def test_create_server_on_ipv4_loopback() -> None:
    server, port = make_server(0, "127.0.0.1")
    try:
        assert server.get_connection_status() == CONNECTED and server.is_server()
        assert server.get_unique_id() == 1 and 0 < port < 65536
        (client,) = connect_clients(server, port, 1)
        cid = client.get_unique_id()
        assert server.get_peer_address(cid) == "127.0.0.1"
        client.close()  # (its unique id reads 0 from here on)
        if has_ipv6_loopback():
            v6 = W()
            v6.create_client(url_of(port, "::1"))
            assert pump([server, v6], lambda: v6.get_connection_status() == DISCONNECTED)
            # the v6 attempt fails at once: the server may not have seen the close yet
            assert server.get_peer_ids() in ([], [cid])
    finally:
        server.close()


@needs_ipv6
def test_create_server_on_ipv6_loopback() -> None:
    server, port = make_server(0, "::1")
    try:
        (client,) = connect_clients(server, port, 1, host="::1")
        cid = client.get_unique_id()
        assert server.get_peer_address(cid) == "::1"
        assert client.get_peer_address(1) == "::1" and client.get_peer_port(1) == port
        v4 = W()
        v4.create_client(url_of(port))
        ev = Events(v4)
        assert pump([server, v4], lambda: v4.get_connection_status() == DISCONNECTED)
        assert ev.log == []
        client.close()
    finally:
        server.close()


def test_create_server_on_any_address_is_reachable_over_ipv4_and_ipv6() -> None:
    server, port = make_server(0, "*")
    try:
        (c4,) = connect_clients(server, port, 1, host="127.0.0.1")
        assert server.get_peer_address(c4.get_unique_id()) == "127.0.0.1"  # not ::ffff:...
        peers = [c4]
        if has_ipv6_loopback():
            (c6,) = connect_clients(server, port, 1, host="::1")
            assert server.get_peer_address(c6.get_unique_id()) == "::1"
            peers.append(c6)
        assert sorted(server.get_peer_ids()) == sorted(c.get_unique_id() for c in peers)
        for c in peers:
            c.close()
    finally:
        server.close()


def test_create_server_on_ipv4_any() -> None:
    server, port = make_server(0, "0.0.0.0")
    try:
        (c,) = connect_clients(server, port, 1)
        c.close()
    finally:
        server.close()


def test_create_server_on_port_zero_picks_a_free_port() -> None:
    a, pa = make_server(0)
    b, pb = make_server(0)
    try:
        assert pa > 0 and pb > 0 and pa != pb
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("bind", ["127.0.0.1", "*"])
def test_port_used_by_another_socket(bind: str, caplog: pytest.LogCaptureFixture) -> None:
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen()
    port = other.getsockname()[1]
    try:
        p = W()
        with caplog.at_level(logging.ERROR, logger="godot_websocket"):
            assert p.create_server(port, bind) == Error.ERR_ALREADY_IN_USE
        assert gw_logs(caplog)
        assert_idle(p)
    finally:
        other.close()


@pytest.mark.parametrize("first,second", [("*", "*"), ("127.0.0.1", "127.0.0.1"),
                                          ("*", "127.0.0.1"), ("127.0.0.1", "*")])
def test_port_used_by_another_server(first: str, second: str) -> None:
    server, port = make_server(0, first)
    try:
        p = W()
        assert p.create_server(port, second) == Error.ERR_ALREADY_IN_USE
        assert_idle(p)
        # the first server still owns the port and works
        (c,) = connect_clients(server, port, 1)
        c.close()
    finally:
        server.close()


def test_bind_to_an_address_that_is_not_local() -> None:
    p = W()
    assert p.create_server(0, "192.0.2.1") == Error.ERR_ALREADY_IN_USE  # TEST-NET-1
    assert_idle(p)


def test_closed_server_stops_listening() -> None:
    server, port = make_server()
    server.close()
    assert_idle(server)
    s = socket.socket()
    s.settimeout(2)
    try:
        with pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", port))
    finally:
        s.close()


@pytest.mark.parametrize("bind", ["127.0.0.1", "*"])
def test_server_restart_on_the_same_port(bind: str) -> None:
    server, port = make_server(0, bind)
    old = connect_clients(server, port, 3)
    old_events = [Events(c) for c in old]
    server.close()
    assert_idle(server)
    # the same object, the same port, at once
    assert server.create_server(port, bind) == Error.OK
    assert server.get_local_port() == port and server.get_unique_id() == 1
    try:
        assert pump(old, lambda: all(c.get_connection_status() == DISCONNECTED for c in old))
        assert all(e.log == [("disconnected", 1)] for e in old_events)
        new = connect_clients(server, port, 3)
        assert sorted(server.get_peer_ids()) == sorted(c.get_unique_id() for c in new)
        # and a fresh object on the port of a closed one
        server.close()
        again = W()
        assert again.create_server(port, bind) == Error.OK
        (c,) = connect_clients(again, port, 1)
        c.close()
        again.close()
        for c in new:
            c.close()
    finally:
        server.close()


def test_failed_create_server_leaves_peer_usable() -> None:
    p = W()
    assert p.create_server(0, "nope") == Error.ERR_INVALID_PARAMETER
    assert p.create_server(0, "127.0.0.1") == Error.OK
    try:
        (c,) = connect_clients(p, p.get_local_port(), 1)
        c.close()
    finally:
        p.close()


# ------------------------------------------------------------------ create_client


def test_create_client_with_server_tls_options(caplog: pytest.LogCaptureFixture) -> None:
    p = W()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert p.create_client("ws://127.0.0.1:1", TLSOptions.server(None, None)) == \
            Error.ERR_INVALID_PARAMETER
        # even with a bad URL: the TLS check (2) comes before connect_to_url (4)
        assert p.create_client("", TLSOptions.server(None, None)) == Error.ERR_INVALID_PARAMETER
    assert gw_logs(caplog)
    assert_idle(p)
    assert p.get_peer(1) is None


@pytest.mark.parametrize("url", [
    "", "http://127.0.0.1:9080", "ftp://127.0.0.1", "ws://", "ws://:80", "ws://[::1",
    "ws://127.0.0.1:0", "ws://127.0.0.1:65536", "ws://127.0.0.1:abc", "ws://a:b:c",
    "ws://127.0.0.1:", "ws://127.0.0.1:-1",
])
def test_create_client_bad_url(url: str) -> None:
    p = W()
    assert p.create_client(url) == Error.ERR_INVALID_PARAMETER
    assert_idle(p)
    assert p.get_peer(1) is None
    assert p.put_packet(b"x") == Error.ERR_UNCONFIGURED


def test_create_client_success_state() -> None:
    server, port = make_server()
    p = W()
    try:
        assert p.create_client(url_of(port)) == Error.OK
        assert p.get_connection_status() == CONNECTING
        assert p.get_unique_id() == 0 and p.is_server() is False
        ws = p.get_peer(1)
        assert isinstance(ws, WebSocketPeer)
        assert ws.get_requested_url() == url_of(port)
        assert pump([server, p], lambda: p.get_connection_status() == CONNECTED)
        assert p.get_peer(1) is ws
    finally:
        p.close()
        server.close()


def test_create_client_tls_options_ignored_for_ws() -> None:
    server, port = make_server()
    p = W()
    try:
        assert p.create_client(url_of(port), TLSOptions.client()) == Error.OK
        assert pump([server, p], lambda: p.get_connection_status() == CONNECTED)
    finally:
        p.close()
        server.close()


def test_create_client_url_without_scheme_defaults_to_ws() -> None:
    server, port = make_server()
    p = W()
    try:
        assert p.create_client(f"127.0.0.1:{port}/some/path") == Error.OK
        assert pump([server, p], lambda: p.get_connection_status() == CONNECTED)
        cid = p.get_unique_id()
        assert server.get_peer(cid).get_requested_url() == \
            f"ws://127.0.0.1:{port}/some/path"
    finally:
        p.close()
        server.close()


def test_create_client_to_closed_port_ends_disconnected_without_signals(free_port: int) -> None:
    p = W()
    ev = Events(p)
    err = p.create_client(url_of(free_port))
    assert err in (Error.OK, Error.FAILED)
    assert pump(p, lambda: p.get_connection_status() == DISCONNECTED)
    assert ev.log == []
    assert_idle(p)


def test_wss_client_to_plain_server_fails_silently() -> None:
    server, port = make_server()
    sev = Events(server)
    p = W()
    ev = Events(p)
    try:
        assert p.create_client(f"wss://127.0.0.1:{port}", TLSOptions.client_unsafe()) == Error.OK
        assert pump([server, p], lambda: p.get_connection_status() == DISCONNECTED)
        pump_for([server], 0.1)
        assert ev.log == [] and sev.log == []
    finally:
        p.close()
        server.close()


def test_client_can_be_reused_after_close() -> None:
    server, port = make_server()
    p = W()
    try:
        ids = []
        for _ in range(3):
            assert p.create_client(url_of(port)) == Error.OK
            assert pump([server, p], lambda: p.get_connection_status() == CONNECTED)
            ids.append(p.get_unique_id())
            p.close()
            assert_idle(p)
        assert len(set(ids)) == 3
        assert pump(server, lambda: server.get_peer_ids() == [])
    finally:
        server.close()


def test_server_object_can_become_a_client_after_close() -> None:
    a, _port_a = make_server()
    b, port_b = make_server()
    try:
        a.close()
        assert a.create_client(url_of(port_b)) == Error.OK
        assert pump([a, b], lambda: a.get_connection_status() == CONNECTED)
        assert a.is_server() is False and a.get_unique_id() >= 2
    finally:
        a.close()
        b.close()
    time.sleep(0)  # nothing pending
