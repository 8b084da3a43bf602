"""Counting a live connection by its transport for as long as it is open
(`trado_live_connections{transport}`), whichever path serves it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Gauge

from streaming.metrics import LIVE_CONNECTIONS


def live_connections(transport: str) -> Gauge:
    """The gauge of `transport`'s open connections (for a connection without one block)."""
    return LIVE_CONNECTIONS.labels(transport)


@contextmanager
def counted(transport: str) -> Iterator[None]:
    gauge = live_connections(transport)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()
