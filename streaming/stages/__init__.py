"""The bridge's per-batch stages: each applies a batch of fresh ticks, in log order.

The bridge runs them one after the other and commits the log offsets only after the last one,
so every stage must be harmless to repeat: after a crash a batch is applied again. Today:
quotes (cache + publish) and candles (fold, persist, publish). Price alerts and limit-order
matching plug in as two more stages with the same shape.
"""

from __future__ import annotations

from typing import Protocol

from streaming.tick import Tick


class Stage(Protocol):
    name: str

    async def apply(self, ticks: list[Tick]) -> None:
        """Apply fresh ticks (already deduplicated by sequence); raise to have it retried."""
        ...

    def forget(self) -> None:
        """Drop in-memory state: the worker's partitions were revoked."""
        ...
