"""The bridge's stages: each applies batches of fresh ticks, in log order.

The bridge runs `apply` of every stage, in order, for each batch (the live, latency-bound
part: cache and publish), and every `BRIDGE_FLUSH_INTERVAL_MS` calls `flush` of every stage
(the durable part: database writes), then records the applied sequences and commits the log
offsets. A crash anywhere re-delivers everything since the last commit, so every stage must
be harmless to repeat. The stages: quotes (cache + publish), candles (fold and publish; upsert
on flush), alerts (note on apply; on flush fire once, commit, publish) and matching (note on
apply; on flush fill the crossed limit orders): the database work runs per flush, not per batch.
"""

from __future__ import annotations

from typing import Protocol

from streaming.tick import Tick


class Stage(Protocol):
    name: str

    async def apply(self, ticks: list[Tick]) -> None:
        """Apply fresh ticks (already deduplicated by sequence); raise to have it retried."""
        ...

    async def flush(self) -> None:
        """Make what `apply` did durable (before the offsets are committed); raise to retry."""
        ...

    def forget(self) -> None:
        """Drop in-memory state: the worker's partitions were revoked."""
        ...


class Enricher(Protocol):
    """What the live lane adds to each tick before any stage sees it (day statistics, halt
    state): `enrich` returns the ticks as published and stages its new state; the bridge calls
    `commit` once the live stages applied the batch, so a retried batch is enriched once."""

    async def enrich(self, ticks: list[Tick]) -> list[Tick]: ...

    def commit(self) -> None: ...

    def forget(self) -> None: ...
