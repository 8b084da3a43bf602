"""Candle stage: fold trades (not quote, book or status updates) into the forming bars,
cache and publish them at once; upsert the changed bars to the database on flush (one
transaction per flush interval).

Stored bars are loaded the first time a bar is touched, so a restarted worker continues it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.db import SessionFactory, session_scope
from streaming.cache import Cache
from streaming.candle_store import BarKey, load_bars, upsert_bars
from streaming.candles import Bar, CandleBook
from streaming.channels import candle_channel, candle_key
from streaming.metrics import CANDLES_WRITTEN, PUBLISHES
from streaming.pubsub import PubSub
from streaming.tick import Tick


@dataclass
class CandleStage:
    sessions: SessionFactory
    cache: Cache
    pubsub: PubSub
    book: CandleBook = field(default_factory=CandleBook)
    name: str = "candles"
    _unwritten: dict[BarKey, Bar] = field(default_factory=dict)

    async def apply(self, ticks: list[Tick]) -> None:
        ticks = [tick for tick in ticks if tick.is_trade]
        if not ticks:
            return
        saved = self.book.snapshot()
        try:
            await self._apply(ticks)
        except BaseException:
            self.book.restore(saved)  # the retry must fold these ticks again
            raise

    async def _apply(self, ticks: list[Tick]) -> None:
        wanted = self.book.wanted(ticks)
        if wanted:  # once per bar: the first tick of each new interval
            async with session_scope(self.sessions) as session:
                self.book.load(await load_bars(session, wanted))
        changed = self.book.apply(ticks)
        if not changed:
            return
        encoded = [(bar, bar.to_json()) for bar in changed]
        forming = {}
        for bar, raw in encoded:  # a bar closed within this batch is not the snapshot any more
            if self.book.forming(bar.symbol, bar.interval) == bar:
                forming[candle_key(bar.symbol, bar.interval.value)] = raw
        await self.cache.set_many(forming)
        await self.pubsub.publish_many(
            [(candle_channel(b.symbol, b.interval.value), raw) for b, raw in encoded]
        )
        PUBLISHES.labels("candle").inc(len(changed))
        for bar in changed:
            self._unwritten[bar.key] = bar

    async def flush(self) -> None:
        if not self._unwritten:
            return
        bars = list(self._unwritten.values())
        async with session_scope(self.sessions) as session:
            await upsert_bars(session, bars)
        self._unwritten.clear()
        CANDLES_WRITTEN.inc(len(bars))

    def forget(self) -> None:
        self.book.forget()
        self._unwritten.clear()
