"""wss:// end to end (spec §4.8): our server with the python ``websockets`` package as a
verifying client and the reverse, the verification table (system store, custom chain,
common_name_override, client_unsafe), intermediate CAs, SNI, failures (close code -1 and
a log line that says why), bad server material, and the handshake timeout over TLS.

Certificates are made on the fly with ``trustme`` (and with our own ``Crypto``)."""

from __future__ import annotations

import datetime
import logging
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from godot_websocket import (
    Crypto,
    CryptoKey,
    Error,
    TLSOptions,
    WebSocketMultiplayerPeer,
    WebSocketPeer,
    X509Certificate,
)
from mp_helpers import CONNECTED, DISCONNECTED, has_ipv6_loopback, pump, pump_for

trustme = pytest.importorskip("trustme")
pytest.importorskip("websockets")

TIMEOUT = 10.0  # generous: sanitizer builds are slow; waits end as soon as they can
OPEN = WebSocketPeer.STATE_OPEN
CLOSED = WebSocketPeer.STATE_CLOSED


# ----------------------------------------------------------------- certificates


class PKI:
    """A root CA, an intermediate CA below it, leaves, and an unrelated CA."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.inter = self.ca.create_child_ca()
        self.leaf = self.inter.issue_cert("127.0.0.1", "localhost", "::1")
        self.game = self.ca.issue_cert("game.example")  # valid only for that name
        self.other_ca = trustme.CA()


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


def pem(blob: Any) -> str:
    return str(blob.bytes().decode())


def x509(*texts: str) -> X509Certificate:
    cert = X509Certificate()
    assert cert.load_from_string("".join(texts)) == Error.OK
    return cert


def root_of(ca: Any) -> X509Certificate:
    return x509(pem(ca.cert_pem))


def server_options(leaf: Any, full_chain: bool = True) -> TLSOptions:
    key = CryptoKey()
    assert key.load_from_string(pem(leaf.private_key_pem)) == Error.OK
    blobs = leaf.cert_chain_pems if full_chain else leaf.cert_chain_pems[:1]
    return TLSOptions.server(key, x509(*(pem(b) for b in blobs)))


def gw_messages(caplog: pytest.LogCaptureFixture, level: int = logging.ERROR) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "godot_websocket" and r.levelno >= level]


# ----------------------------------------------------------------- peers


@pytest.fixture
def servers() -> Iterator[list[WebSocketMultiplayerPeer]]:
    made: list[WebSocketMultiplayerPeer] = []
    yield made
    for s in made:
        s.close()


@pytest.fixture
def start_server(servers: list[WebSocketMultiplayerPeer]) -> Any:
    """``start_server(options, bind="127.0.0.1", **properties) -> (server, port)``."""

    def make(options: TLSOptions, bind: str = "127.0.0.1",
             **props: Any) -> tuple[WebSocketMultiplayerPeer, int]:
        server = WebSocketMultiplayerPeer()
        for name, value in props.items():
            setattr(server, name, value)
        assert server.create_server(0, bind, options) == Error.OK
        servers.append(server)
        return server, server.get_local_port()

    return make


def open_peer(url: str, options: TLSOptions | None, others: Any = ()) -> WebSocketPeer:
    """A WebSocketPeer connected to ``url``, polled until it is OPEN or CLOSED."""
    peer = WebSocketPeer()
    assert peer.connect_to_url(url, options) == Error.OK
    others = (others,) if hasattr(others, "poll") else tuple(others)
    assert pump((peer, *others),
                lambda: peer.get_ready_state() in (OPEN, CLOSED), TIMEOUT)
    return peer


def assert_refused(peer: WebSocketPeer, caplog: pytest.LogCaptureFixture, why: str) -> None:
    """Verification failed: CLOSED, close code -1, and a log line saying why."""
    assert peer.get_ready_state() == CLOSED
    assert peer.get_close_code() == -1
    lines = gw_messages(caplog)
    assert any("certificate was refused" in m and why in m for m in lines), lines


class PyServer:
    """A python ``websockets`` wss:// echo server that records the SNI of each client."""

    def __init__(self, factory: Any, leaf: Any) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(ctx)
        self.sni: list[str | None] = []
        ctx.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
        self.server = factory(ssl=ctx)
        self.port = self.server.port

    def url(self, host: str = "127.0.0.1") -> str:
        return f"wss://{host}:{self.port}/"


@pytest.fixture
def py_server(ws_server: Any) -> Any:
    """``py_server(leaf) -> PyServer`` (echo)."""
    return lambda leaf: PyServer(ws_server, leaf)


def echo_once(peer: WebSocketPeer, text: str = "hello") -> None:
    assert peer.send_text(text) == Error.OK
    assert pump(peer, peer.get_available_packet_count, TIMEOUT)
    assert peer.get_packet() == text.encode()


# ----------------------------------------------------------------- our server, python client


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_python_client_verifies_our_server(pki: PKI, start_server: Any, ws_connect: Any,
                                           host: str) -> None:
    server, port = start_server(server_options(pki.leaf))
    ctx = ssl.create_default_context()  # verifies chain and host name
    pki.ca.configure_trust(ctx)         # trusts only the root: the server sends the chain
    conn = ws_connect(f"wss://{host}:{port}/", ssl=ctx)
    assert pump(server, server.get_peer_ids, TIMEOUT)
    peer_id = server.get_peer_ids()[0]
    assert conn.recv(timeout=TIMEOUT) == peer_id.to_bytes(4, "little")
    # packets both ways (4.x protocol: raw payloads)
    conn.send(b"ping")
    assert pump(server, server.get_available_packet_count, TIMEOUT)
    assert server.get_packet() == b"ping"
    server.set_target_peer(peer_id)
    assert server.put_packet(b"pong") == Error.OK
    server.poll()
    assert conn.recv(timeout=TIMEOUT) == b"pong"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
                         ids=["tls1.2", "tls1.3"])
def test_our_server_issues_no_session_tickets(pki: PKI, start_server: Any, ws_connect: Any,
                                              version: ssl.TLSVersion) -> None:
    """As Godot's server (mbedTLS without ticket callbacks).  Also what keeps python
    websockets' sync client safe: a TLS 1.3 ticket read on its receiving thread while the
    connecting thread writes the upgrade request lost the request now and then."""
    server, port = start_server(server_options(pki.leaf))
    ctx = ssl.create_default_context()
    pki.ca.configure_trust(ctx)
    ctx.minimum_version = ctx.maximum_version = version
    conn = ws_connect(f"wss://127.0.0.1:{port}/", ssl=ctx)
    assert pump(server, server.get_peer_ids, TIMEOUT)
    conn.recv(timeout=TIMEOUT)  # the peer id: anything sent after the handshake is in
    assert conn.socket.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                     ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    assert conn.socket.session is not None and not conn.socket.session.has_ticket


def test_python_client_refuses_a_server_without_its_intermediate(
        pki: PKI, start_server: Any, ws_connect: Any) -> None:
    _server, port = start_server(server_options(pki.leaf, full_chain=False))
    ctx = ssl.create_default_context()
    pki.ca.configure_trust(ctx)
    with pytest.raises(ssl.SSLCertVerificationError):
        ws_connect(f"wss://127.0.0.1:{port}/", ssl=ctx)


# ----------------------------------------------------------------- our client, python server


def test_our_client_verifies_python_server(pki: PKI, py_server: Any) -> None:
    srv = py_server(pki.leaf)
    peer = open_peer(srv.url("localhost"), TLSOptions.client(root_of(pki.ca)))
    assert peer.get_ready_state() == OPEN
    echo_once(peer)
    assert srv.sni == ["localhost"]  # SNI: the URL host
    peer.close()


def test_no_sni_for_ip_literals(pki: PKI, py_server: Any) -> None:
    srv = py_server(pki.leaf)
    peer = open_peer(srv.url("127.0.0.1"), TLSOptions.client(root_of(pki.ca)))
    assert peer.get_ready_state() == OPEN
    assert srv.sni == [None]  # RFC 6066: IP literals are not sent as SNI
    peer.close()


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_literal_is_checked_against_ip_addresses(pki: PKI, start_server: Any) -> None:
    server, port = start_server(server_options(pki.leaf), bind="::1")
    peer = open_peer(f"wss://[::1]:{port}/", TLSOptions.client(root_of(pki.ca)), server)
    assert peer.get_ready_state() == OPEN
    peer.close()


def test_default_options_use_the_system_store(
        pki: PKI, py_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    # trustme's CA is in no system store: null options and client() both refuse it
    srv = py_server(pki.leaf)
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        for options in (None, TLSOptions.client()):
            peer = open_peer(srv.url(), options)
            assert_refused(peer, caplog, "unable to get local issuer certificate")


# A separate process per run: OpenSSL reads SSL_CERT_FILE when a client context loads the
# system store, and libwebsockets 4.1 mishandles several lws contexts in one process
# (each one re-allocates a global OpenSSL ex_data index), so no second Context here.
SYSTEM_STORE_CLIENT = """
import sys, time
from godot_websocket import Error, TLSOptions, WebSocketPeer, X509Certificate
url, kind = sys.argv[1], sys.argv[2]
if kind == "none":
    options = None
elif kind == "client":
    options = TLSOptions.client()
else:
    chain = X509Certificate()
    assert chain.load(kind) == Error.OK
    options = TLSOptions.client(chain)
peer = WebSocketPeer()
assert peer.connect_to_url(url, options) == Error.OK
deadline = time.monotonic() + 10
while peer.get_ready_state() == WebSocketPeer.STATE_CONNECTING and time.monotonic() < deadline:
    peer.poll()
    time.sleep(0.002)
if peer.get_ready_state() == WebSocketPeer.STATE_OPEN:
    peer.send_text("hi")
    while not peer.get_available_packet_count() and time.monotonic() < deadline:
        peer.poll()
        time.sleep(0.002)
    print("OPEN", peer.get_packet())
else:
    print("CLOSED", peer.get_close_code())
"""


def run_system_store_client(url: str, kind: str, ca_file: Path, tmp_path: Path) -> str:
    env = dict(os.environ, SSL_CERT_FILE=str(ca_file), SSL_CERT_DIR=str(tmp_path / "none"))
    proc = subprocess.run([sys.executable, "-c", SYSTEM_STORE_CLIENT, url, kind], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", ["none", "client"])
def test_system_store_is_openssls_default(pki: PKI, py_server: Any, tmp_path: Path,
                                          kind: str) -> None:
    # OpenSSL's default verify paths honour SSL_CERT_FILE / SSL_CERT_DIR: pointed at our
    # CA, the default options (null and client()) trust it.
    ca_file = tmp_path / "ca.pem"
    pki.ca.cert_pem.write_to_path(str(ca_file))
    srv = py_server(pki.leaf)
    out = run_system_store_client(srv.url("localhost"), kind, ca_file, tmp_path)
    assert "OPEN b'hi'" in out


def test_custom_chain_replaces_the_system_store(pki: PKI, py_server: Any,
                                                tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    pki.ca.cert_pem.write_to_path(str(ca_file))  # the "system store" trusts the server
    other = tmp_path / "other.pem"
    pki.other_ca.cert_pem.write_to_path(str(other))
    srv = py_server(pki.leaf)
    out = run_system_store_client(srv.url("localhost"), str(other), ca_file, tmp_path)
    assert "CLOSED -1" in out
    assert "unable to get local issuer certificate" in out


# ----------------------------------------------------------------- host names


def test_host_name_mismatch_fails_and_override_fixes_it(
        pki: PKI, py_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    srv = py_server(pki.game)  # valid for game.example only
    root = root_of(pki.ca)
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        peer = open_peer(srv.url("127.0.0.1"), TLSOptions.client(root))
        assert_refused(peer, caplog, 'not valid for "127.0.0.1"')
        caplog.clear()
        peer = open_peer(srv.url("localhost"), TLSOptions.client(root))
        assert_refused(peer, caplog, 'not valid for "localhost"')
    peer = open_peer(srv.url("127.0.0.1"), TLSOptions.client(root, "game.example"))
    assert peer.get_ready_state() == OPEN
    echo_once(peer)
    assert srv.sni[-1] == "game.example"  # the override is also the SNI
    peer.close()


def test_override_replaces_the_url_host(pki: PKI, py_server: Any,
                                        caplog: pytest.LogCaptureFixture) -> None:
    srv = py_server(pki.leaf)  # valid for 127.0.0.1 and localhost, not game.example
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        peer = open_peer(srv.url("localhost"), TLSOptions.client(root_of(pki.ca),
                                                                 "game.example"))
    assert_refused(peer, caplog, 'not valid for "game.example"')


def test_override_does_not_skip_chain_verification(
        pki: PKI, py_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    srv = py_server(pki.game)
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        peer = open_peer(srv.url(), TLSOptions.client(None, "game.example"))
    assert_refused(peer, caplog, "unable to get local issuer certificate")


def test_wildcard_names(pki: PKI, py_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    srv = py_server(pki.ca.issue_cert("*.example.test"))
    root = root_of(pki.ca)
    peer = open_peer(srv.url(), TLSOptions.client(root, "a.example.test"))
    assert peer.get_ready_state() == OPEN
    peer.close()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        # a wildcard covers exactly one label
        peer = open_peer(srv.url(), TLSOptions.client(root, "a.b.example.test"))
    assert_refused(peer, caplog, "not valid for")


# ----------------------------------------------------------------- client_unsafe, self-signed


@pytest.fixture(scope="module")
def self_signed() -> tuple[CryptoKey, X509Certificate]:
    """Made as a Godot project would: Crypto.generate_rsa + generate_self_signed_certificate."""
    crypto = Crypto()
    key = crypto.generate_rsa(2048)
    assert key is not None
    cert = crypto.generate_self_signed_certificate(key, "CN=myserver,O=me,C=IT")
    assert cert is not None
    return key, cert


def test_client_unsafe_connects_to_a_self_signed_server(
        self_signed: tuple[CryptoKey, X509Certificate], start_server: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    key, cert = self_signed
    server, port = start_server(TLSOptions.server(key, cert))
    url = f"wss://127.0.0.1:{port}/"
    peer = open_peer(url, TLSOptions.client_unsafe(), server)
    assert peer.get_ready_state() == OPEN
    peer.close()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        # verifying clients refuse it: unknown issuer, then (trusted) wrong name
        peer = open_peer(url, TLSOptions.client(), server)
        assert_refused(peer, caplog, "self-signed certificate")
        caplog.clear()
        peer = open_peer(url, TLSOptions.client(cert), server)
        assert_refused(peer, caplog, 'not valid for "127.0.0.1"')
    # Godot's idiom for self-signed servers: trust the certificate, name its CN
    peer = open_peer(url, TLSOptions.client(cert, "myserver"), server)
    assert peer.get_ready_state() == OPEN
    peer.close()


def test_local_development_certificate(start_server: Any, ws_connect: Any,
                                      tmp_path: Path) -> None:
    # the README's recipe: a self-signed certificate with alt names, trusted as is
    crypto = Crypto()
    key = crypto.generate_rsa(2048)
    assert key is not None
    cert = crypto.generate_self_signed_certificate(key, "CN=localhost",
                                                   alt_names=["localhost", "127.0.0.1"])
    assert cert is not None
    assert key.save(str(tmp_path / "dev.key")) == Error.OK
    assert cert.save(str(tmp_path / "dev.crt")) == Error.OK
    server, port = start_server(TLSOptions.server(key, cert))
    for host in ("localhost", "127.0.0.1"):
        peer = open_peer(f"wss://{host}:{port}/", TLSOptions.client(cert), server)
        assert peer.get_ready_state() == OPEN
        peer.close()
    # python's ssl (as strict as browsers about names) accepts it too
    ctx = ssl.create_default_context(cafile=str(tmp_path / "dev.crt"))
    conn = ws_connect(f"wss://localhost:{port}/", ssl=ctx)
    assert pump(server, server.get_peer_ids, TIMEOUT)
    assert len(conn.recv(timeout=TIMEOUT)) == 4


def test_client_unsafe_with_a_chain_verifies_the_chain_but_not_the_name(
        pki: PKI, py_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    srv = py_server(pki.game)
    peer = open_peer(srv.url(), TLSOptions.client_unsafe(root_of(pki.ca)))
    assert peer.get_ready_state() == OPEN
    peer.close()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        peer = open_peer(srv.url(), TLSOptions.client_unsafe(root_of(pki.other_ca)))
    assert_refused(peer, caplog, "unable to get local issuer certificate")


def test_expired_certificate(pki: PKI, py_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    srv = py_server(pki.ca.issue_cert("127.0.0.1", not_before=past - datetime.timedelta(1),
                                      not_after=past))
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        peer = open_peer(srv.url(), TLSOptions.client(root_of(pki.ca)))
    assert_refused(peer, caplog, "certificate has expired")
    peer = open_peer(srv.url(), TLSOptions.client_unsafe())
    assert peer.get_ready_state() == OPEN
    peer.close()


# ----------------------------------------------------------------- intermediate CAs


def test_intermediate_chain(pki: PKI, start_server: Any,
                            caplog: pytest.LogCaptureFixture) -> None:
    full, _ = start_server(server_options(pki.leaf, full_chain=True))
    leaf_only, _ = start_server(server_options(pki.leaf, full_chain=False))
    root, inter = pem(pki.ca.cert_pem), pem(pki.inter.cert_pem)

    def state(server: WebSocketMultiplayerPeer, trusted: X509Certificate) -> int:
        peer = open_peer(f"wss://localhost:{server.get_local_port()}/",
                         TLSOptions.client(trusted), server)
        result = peer.get_ready_state()
        peer.close()
        return int(result)

    # the server sends leaf + intermediate: the root alone is enough
    assert state(full, x509(root)) == OPEN
    # every certificate of a trusted chain is a trust anchor (as in mbedtls)
    assert state(full, x509(inter)) == OPEN
    assert state(leaf_only, x509(inter)) == OPEN
    assert state(leaf_only, x509(inter, root)) == OPEN
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        # the server sends the leaf only: the intermediate is missing
        assert state(leaf_only, x509(root)) == CLOSED
    assert any("unable to get local issuer certificate" in m for m in gw_messages(caplog))


# ----------------------------------------------------------------- multiplayer


def test_multiplayer_over_wss(pki: PKI, start_server: Any) -> None:
    server, port = start_server(server_options(pki.leaf))
    client = WebSocketMultiplayerPeer()
    try:
        assert client.create_client(f"wss://localhost:{port}",
                                    TLSOptions.client(root_of(pki.ca))) == Error.OK
        assert pump((server, client), lambda: client.get_connection_status() == CONNECTED
                    and server.get_peer_ids(), TIMEOUT)
        assert client.get_unique_id() == server.get_peer_ids()[0]
        client.set_target_peer(1)
        assert client.put_packet(b"over tls") == Error.OK
        assert pump((server, client), server.get_available_packet_count, TIMEOUT)
        assert server.get_packet() == b"over tls"
    finally:
        client.close()


def test_multiplayer_client_refused_certificate(
        pki: PKI, start_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    server, port = start_server(server_options(pki.game))
    client = WebSocketMultiplayerPeer()
    connected: list[int] = []
    client.peer_connected.connect(connected.append)
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        assert client.create_client(f"wss://127.0.0.1:{port}",
                                    TLSOptions.client(root_of(pki.ca))) == Error.OK
        assert pump((server, client),
                    lambda: client.get_connection_status() == DISCONNECTED, TIMEOUT)
    assert connected == [] and client.get_unique_id() == 0
    assert any('not valid for "127.0.0.1"' in m for m in gw_messages(caplog))
    pump_for(server, 0.05)
    assert server.get_peer_ids() == []


def test_tls_options_of_the_wrong_side(pki: PKI, caplog: pytest.LogCaptureFixture) -> None:
    peer = WebSocketMultiplayerPeer()
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        for options in (TLSOptions.client(), TLSOptions.client_unsafe(),
                        TLSOptions.client(root_of(pki.ca), "x")):
            assert peer.create_server(0, "127.0.0.1", options) == Error.ERR_INVALID_PARAMETER
        assert peer.create_client("wss://127.0.0.1:1", server_options(pki.leaf)) == \
            Error.ERR_INVALID_PARAMETER
        assert WebSocketPeer().connect_to_url("wss://127.0.0.1:1",
                                              TLSOptions.server(None, None)) == \
            Error.ERR_INVALID_PARAMETER
    assert len(gw_messages(caplog)) == 5
    assert peer.get_connection_status() == DISCONNECTED


# ----------------------------------------------------------------- bad server material


def bad_server_options(pki: PKI) -> list[TLSOptions]:
    key = CryptoKey()
    key.load_from_string(pem(pki.game.private_key_pem))  # not the leaf's key
    cert = x509(*(pem(b) for b in pki.leaf.cert_chain_pems))
    good_key = CryptoKey()
    good_key.load_from_string(pem(pki.leaf.private_key_pem))
    return [TLSOptions.server(None, None), TLSOptions.server(key, cert),
            TLSOptions.server(good_key, None), TLSOptions.server(None, cert)]


@pytest.mark.parametrize("which", ["none", "mismatch", "no_cert", "no_key"])
def test_bad_server_material_fails_each_handshake(
        pki: PKI, which: str, start_server: Any, ws_connect: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    options = bad_server_options(pki)[["none", "mismatch", "no_cert", "no_key"].index(which)]
    with caplog.at_level(logging.ERROR, logger="godot_websocket"):
        # as in Godot: create_server succeeds; here it also says what is wrong
        server, port = start_server(options)
        server.poll()
    assert any("TLS server" in m and "every connection will fail" in m
               for m in gw_messages(caplog))
    ctx = ssl.create_default_context()
    pki.ca.configure_trust(ctx)
    with pytest.raises((ssl.SSLError, OSError)):
        ws_connect(f"wss://127.0.0.1:{port}/", ssl=ctx)
    pump_for(server, 0.05)
    assert server.get_peer_ids() == []
    assert server.get_connection_status() == CONNECTED


def test_plain_ws_client_on_a_wss_server_is_dropped(pki: PKI, start_server: Any) -> None:
    server, port = start_server(server_options(pki.leaf))
    peer = open_peer(f"ws://127.0.0.1:{port}/", None, server)
    assert peer.get_ready_state() == CLOSED and peer.get_close_code() == -1
    assert server.get_peer_ids() == []


# ----------------------------------------------------------------- handshake timeout


def test_tcp_client_that_sends_nothing_is_dropped_on_time(pki: PKI, start_server: Any) -> None:
    server, port = start_server(server_options(pki.leaf), handshake_timeout=0.5)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.setblocking(False)
        start = time.monotonic()
        dropped: list[float] = []

        def gone() -> bool:
            try:
                if s.recv(4096) == b"":
                    dropped.append(time.monotonic() - start)
            except BlockingIOError:
                pass
            except ConnectionResetError:
                dropped.append(time.monotonic() - start)
            return bool(dropped)

        assert pump(server, gone, TIMEOUT, interval=0.01)
    # the TLS handshake counts against handshake_timeout (0.5 s)
    assert 0.45 <= dropped[0] < 2.0, dropped


def test_client_tls_handshake_counts_against_handshake_timeout(
        caplog: pytest.LogCaptureFixture) -> None:
    # a TCP server that accepts and never says a word: the TLS handshake never ends
    with socket.create_server(("127.0.0.1", 0)) as silent:
        client = WebSocketMultiplayerPeer()
        client.handshake_timeout = 0.5
        port = silent.getsockname()[1]
        assert client.create_client(f"wss://127.0.0.1:{port}",
                                    TLSOptions.client_unsafe()) == Error.OK
        start = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="godot_websocket"):
            assert pump(client, lambda: client.get_connection_status() == DISCONNECTED,
                        TIMEOUT, interval=0.01)
        assert 0.45 <= time.monotonic() - start < 2.0
        assert any("handshake_timeout" in m for m in gw_messages(caplog, logging.WARNING))
