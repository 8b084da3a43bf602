"""Quote stage: the latest tick of each symbol into the cache (and its latest trade and, for a
feed with depth, its latest book, which `trades` and `book` open with and MARKET orders
walk), every tick onto its channel and into that channel's history (one atomic step per
tick: see `streaming.pubsub`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from streaming.cache import Cache
from streaming.channels import book_key, newest_tick_key, quote_channel, quote_key, trade_key
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
        latest = {}
        for tick, raw in encoded:
            latest[quote_key(tick.symbol)] = raw
            if tick.is_trade:
                latest[trade_key(tick.symbol)] = raw
            elif tick.book is not None:
                latest[book_key(tick.symbol)] = raw
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
