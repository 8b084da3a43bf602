"""Market feeds: each produces `Tick`s into a sink (in practice, the tick log)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from streaming.tick import Tick

TickSink = Callable[[Tick], Awaitable[None]]


class Feed(Protocol):
    async def run(self, sink: TickSink) -> None:
        """Produce ticks into `sink` until cancelled."""
        ...
