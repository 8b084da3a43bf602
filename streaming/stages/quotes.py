"""Quote stage: the latest tick of each symbol into the cache, every tick onto its channel."""

from __future__ import annotations

from dataclasses import dataclass

from streaming.cache import Cache
from streaming.channels import quote_channel, quote_key
from streaming.metrics import PUBLISHES
from streaming.pubsub import PubSub
from streaming.tick import Tick


@dataclass
class QuoteStage:
    cache: Cache
    pubsub: PubSub
    name: str = "quotes"

    async def apply(self, ticks: list[Tick]) -> None:
        if not ticks:
            return
        latest = {tick.symbol: tick for tick in ticks}
        await self.cache.set_many({quote_key(s): t.to_json() for s, t in latest.items()})
        await self.pubsub.publish_many([(quote_channel(t.symbol), t.to_json()) for t in ticks])
        PUBLISHES.labels("quote").inc(len(ticks))

    async def flush(self) -> None:
        return None  # the cache write in `apply` is all there is

    def forget(self) -> None:
        return None
