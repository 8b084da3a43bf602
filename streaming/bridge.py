"""The bridge worker: ticks from the log into the quote cache and onto pub/sub.

Per batch: parse (bad messages are counted and skipped), drop re-deliveries by per-symbol
sequence, write the latest quotes, publish every tick in order, then commit the log offsets.
A failure before the commit re-delivers the batch rather than losing it (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from streaming.cache import Cache
from streaming.channels import quote_channel, quote_key
from streaming.errors import BadTick
from streaming.log import LogRecord, TickLog
from streaming.pubsub import PubSub
from streaming.tick import Tick

log = logging.getLogger(__name__)


@dataclass
class BridgeStats:
    ticks: int = 0
    bad_ticks: int = 0
    duplicates: int = 0
    batches: int = 0


@dataclass
class Bridge:
    tick_log: TickLog
    group: str
    cache: Cache
    pubsub: PubSub
    batch_size: int = 1000
    stats: BridgeStats = field(default_factory=BridgeStats)
    _last_sequence: dict[str, int] = field(default_factory=dict)

    async def run(self) -> None:
        """Consume until cancelled; a fresh consumer each run, so a supervisor can restart it."""
        consumer = self.tick_log.consumer(self.group)
        await consumer.start()
        try:
            while True:
                records = await consumer.get_batch(self.batch_size, timeout_ms=200)
                if records:
                    await self._process_until_done(records)
                    await consumer.commit()
        finally:
            await consumer.stop()

    async def _process_until_done(self, records: list[LogRecord]) -> None:
        """Retry the whole batch until it is applied: a lost backend must not lose ticks."""
        backoff = 0.1
        while True:
            try:
                await self.process(records)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("bridge write failed (%r); retrying in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def process(self, records: list[LogRecord]) -> list[Tick]:
        """Apply one batch; returns the new ticks in log order."""
        ticks = [tick for record in records if (tick := self._parse(record)) is not None]
        fresh = await self._unseen(ticks)
        latest = {tick.symbol: tick for tick in fresh}
        await self.cache.set_many({quote_key(s): t.to_json() for s, t in latest.items()})
        for tick in fresh:
            await self.pubsub.publish(quote_channel(tick.symbol), tick.to_json())
        # Only now is the batch applied: a retry after a failure above must see it as new.
        for symbol, tick in latest.items():
            self._last_sequence[symbol] = tick.sequence
        self.stats.ticks += len(fresh)
        self.stats.duplicates += len(ticks) - len(fresh)
        self.stats.batches += 1
        return fresh

    def _parse(self, record: LogRecord) -> Tick | None:
        try:
            return Tick.from_json(record.value)
        except BadTick as error:
            self.stats.bad_ticks += 1
            log.warning("skipping bad tick at %d/%d: %s", record.partition, record.offset, error)
            return None

    async def _unseen(self, ticks: list[Tick]) -> list[Tick]:
        """Ticks above the last applied sequence of their symbol (re-deliveries dropped)."""
        unknown = sorted({t.symbol for t in ticks} - self._last_sequence.keys())
        if unknown:
            cached = await self.cache.get_many([quote_key(s) for s in unknown])
            for symbol, raw in zip(unknown, cached, strict=True):
                self._last_sequence[symbol] = Tick.from_json(raw).sequence if raw else -1
        seen = dict(self._last_sequence)
        fresh = []
        for tick in ticks:
            if tick.sequence > seen[tick.symbol]:
                seen[tick.symbol] = tick.sequence
                fresh.append(tick)
        return fresh


def main() -> None:
    """`python -m streaming.bridge`: one bridge worker of the consumer group."""
    from runtime import start_bridge
    from streaming.worker import run_worker

    run_worker(start_bridge)


if __name__ == "__main__":
    main()
