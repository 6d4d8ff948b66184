"""Bounded poll loops shared by conftest.py and mp_helpers.py (a plain module: the e2e tests
have a conftest of their own, so helpers are not imported from conftest)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

# Sanitizer builds (GWS_SANITIZER, set by .ci/sanitize) run several times slower.
DEFAULT_TIMEOUT = 20.0 if os.environ.get("GWS_SANITIZER") else 5.0


def poll_until(
    predicate: Callable[[], Any],
    peers: Any = (),
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.001,
) -> Any:
    """Call ``poll()`` on every peer, then ``predicate()``, until it is truthy or time is up.

    ``peers`` is one object with a ``poll()`` method or an iterable of them. Returns the
    last value of ``predicate()`` (so ``assert poll_until(...)`` fails on timeout).
    """
    peers = (peers,) if hasattr(peers, "poll") else tuple(peers)
    deadline = time.monotonic() + timeout
    while True:
        for p in peers:
            p.poll()
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
