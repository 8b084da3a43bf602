"""Counting a live connection by its transport for as long as it is open
(`trado_live_connections{transport}`), whichever path serves it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from streaming.metrics import LIVE_CONNECTIONS


@contextmanager
def counted(transport: str) -> Iterator[None]:
    gauge = LIVE_CONNECTIONS.labels(transport)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()
