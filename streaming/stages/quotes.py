"""Quote stage: the latest tick of each symbol into the cache, every tick onto its channel
and into that channel's history (one atomic step per tick: see `streaming.pubsub`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from streaming.cache import Cache
from streaming.channels import newest_tick_key, quote_channel, quote_key
from streaming.metrics import PUBLISHES
from streaming.pubsub import Publication, PubSub
from streaming.tick import Tick


@dataclass
class QuoteStage:
    cache: Cache
    pubsub: PubSub
    name: str = "quotes"

    async def apply(self, ticks: list[Tick]) -> None:
        if not ticks:
            return
        encoded = [(tick, tick.to_json()) for tick in ticks]
        latest = {quote_key(tick.symbol): raw for tick, raw in encoded}
        latest[newest_tick_key()] = f"{time.time():.3f}".encode()  # for /readyz (same write)
        await self.cache.set_many(latest)
        published = await self.pubsub.publish_with_history(
            [Publication(quote_channel(t.symbol), t.sequence, raw) for t, raw in encoded]
        )
        PUBLISHES.labels("quote").inc(published)

    async def flush(self) -> None:
        return None  # the cache write in `apply` is all there is

    def forget(self) -> None:
        return None
