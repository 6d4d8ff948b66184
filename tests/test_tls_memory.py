"""1,000 wss:// connections opened and closed leave the process' memory flat: nothing of
a TLS connection (SSL objects, buffers, verification state) outlives it."""

from __future__ import annotations

import gc
import os

import pytest

from godot_websocket import (
    CryptoKey,
    Error,
    TLSOptions,
    WebSocketMultiplayerPeer,
    WebSocketPeer,
    X509Certificate,
)
from mp_helpers import pump

trustme = pytest.importorskip("trustme")

BATCH = 50
WARMUP = 200
CONNECTIONS = 1000
# A leak of one SSL object (plus its read/write buffers) per connection is tens of KiB:
# 1,000 of them would be tens of MiB.
MAX_GROWTH = 6 * 1024 * 1024


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_and_close(server: WebSocketMultiplayerPeer, url: str, options: TLSOptions) -> None:
    """Open ``BATCH`` verified wss connections at once, then close them all."""
    peers = [WebSocketPeer() for _ in range(BATCH)]
    for p in peers:
        assert p.connect_to_url(url, options) == Error.OK
    assert pump((server, *peers), lambda: all(
        p.get_ready_state() == WebSocketPeer.STATE_OPEN for p in peers), 20.0)
    # the server has them all (the id message was queued to each)
    assert pump(server, lambda: len(server.get_peer_ids()) >= BATCH, 10.0)
    for p in peers:
        p.close(1000, "bye")
    assert pump((server, *peers), lambda: all(
        p.get_ready_state() == WebSocketPeer.STATE_CLOSED for p in peers)
        and not server.get_peer_ids(), 20.0)


def cycle(server: WebSocketMultiplayerPeer, url: str, options: TLSOptions, count: int) -> None:
    for _ in range(count // BATCH):
        open_and_close(server, url, options)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.skipif(bool(os.environ.get("GWS_SANITIZER")),
                    reason="sanitizer allocators keep freed memory (leaks are LSan's job there)")
def test_thousand_tls_connections_leave_memory_flat() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    key, cert, root = CryptoKey(), X509Certificate(), X509Certificate()
    assert key.load_from_string(leaf.private_key_pem.bytes().decode()) == Error.OK
    assert cert.load_from_string(leaf.cert_chain_pems[0].bytes().decode()) == Error.OK
    assert root.load_from_string(ca.cert_pem.bytes().decode()) == Error.OK
    server = WebSocketMultiplayerPeer()
    assert server.create_server(0, "127.0.0.1", TLSOptions.server(key, cert)) == Error.OK
    try:
        url = f"wss://localhost:{server.get_local_port()}/"
        options = TLSOptions.client(root)
        cycle(server, url, options, WARMUP)
        gc.collect()
        before = rss()
        cycle(server, url, options, CONNECTIONS)
        gc.collect()
        growth = rss() - before
        assert growth < MAX_GROWTH, f"RSS grew by {growth / 1e6:.1f} MB"
    finally:
        server.close()
