"""The bridge worker: ticks from the log through the stages (quotes, candles, ...).

Per batch: parse (bad messages are counted and skipped), drop re-deliveries by per-symbol
sequence, `apply` every stage in order (cache and publish: the live path). Every
`flush_interval` seconds: `flush` every stage (database writes), record the applied sequence
per symbol (the watermark), then commit the log offsets. A failure before the commit
re-delivers the work since the last one rather than losing it (at-least-once); each stage is
harmless to repeat, and the watermark lets a restarted worker drop what was fully applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from streaming import metrics
from streaming.cache import Cache
from streaming.channels import applied_key
from streaming.errors import BackendUnavailable, BadTick
from streaming.log import LogConsumer, LogRecord, TickLog
from streaming.pubsub import PubSub
from streaming.stages import Stage
from streaming.stages.quotes import QuoteStage
from streaming.tick import Tick

log = logging.getLogger(__name__)


@dataclass
class BridgeStats:
    ticks: int = 0
    bad_ticks: int = 0
    duplicates: int = 0
    batches: int = 0
    flushes: int = 0


@dataclass
class Bridge:
    tick_log: TickLog
    group: str
    cache: Cache
    pubsub: PubSub
    stages: Sequence[Stage] = ()
    batch_size: int = 1000
    flush_interval: float = 0.1
    stats: BridgeStats = field(default_factory=BridgeStats)
    _last_sequence: dict[str, int] = field(default_factory=dict)
    _unflushed: dict[str, int] = field(default_factory=dict)
    _consumed: dict[int, int] = field(default_factory=dict)  # partition -> next offset
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        if not self.stages:
            self.stages = (QuoteStage(self.cache, self.pubsub),)

    @property
    def pending(self) -> int:
        """Symbols with ticks applied since the last flush (0: everything is committed)."""
        return len(self._unflushed)

    @property
    def uncommitted(self) -> int:
        """Partitions with processed offsets not committed yet (0: a restart repeats nothing)."""
        return len(self._consumed)

    async def run(self) -> None:
        """Consume until cancelled; a fresh consumer each run, so a supervisor can restart it."""
        self.forget()  # a restart may resume partitions another worker moved on meanwhile

        async def revoked() -> None:
            await self._revoked(consumer)

        consumer = self.tick_log.consumer(self.group, on_revoke=revoked)
        await consumer.start()
        wait_ms = max(int(self.flush_interval * 1000), 1)
        last_flush = time.monotonic()
        try:
            while True:
                records = await consumer.get_batch(self.batch_size, timeout_ms=min(wait_ms, 200))
                due: dict[int, int] = {}
                async with self._lock:
                    if records:  # (fetched before a rebalance, a batch may be applied twice)
                        await self._retry_until_done(self.process, records)
                    if self._consumed and time.monotonic() - last_flush >= self.flush_interval:
                        await self._retry_until_done(self.flush)
                        due = dict(self._consumed)
                        last_flush = time.monotonic()
                if due:  # outside the lock: a commit may wait for a rebalance, which waits
                    await self._commit(consumer, due)  # for `_revoked`, which takes the lock
                    metrics.CONSUMER_LAG.set(await consumer.lag())
        except asyncio.CancelledError:
            await self._last_commit(consumer)  # a graceful stop; a crash commits nothing
            raise
        finally:
            await consumer.stop()

    async def _last_commit(self, consumer: LogConsumer) -> None:
        """Best effort on the way out: what is not committed is delivered again anyway."""
        try:
            async with asyncio.timeout(5):
                async with self._lock:
                    if self._consumed:
                        await self.flush()
                        await self._commit(consumer, dict(self._consumed))
        except Exception as error:
            log.warning("final flush skipped (%r); the next worker repeats it", error)

    async def _commit(self, consumer: LogConsumer, offsets: dict[int, int]) -> None:
        """Commit exactly the offsets processed and flushed (a batch returned by the log but
        not yet processed is never committed). A failed commit is retried with the next one."""
        try:
            await consumer.commit(offsets)
        except BackendUnavailable as error:
            log.warning("offset commit failed (%s); the next commit covers it", error)
            return
        for partition, offset in offsets.items():
            if self._consumed.get(partition) == offset:
                del self._consumed[partition]

    async def _revoked(self, consumer: LogConsumer) -> None:
        """Partitions are being taken away: make the work done so far durable and commit it
        (so the next owner does not repeat it), then forget what another worker will own."""
        async with self._lock:
            if self._consumed:
                await self._retry_until_done(self.flush)
                await self._commit(consumer, dict(self._consumed))
            self.forget()

    def forget(self) -> None:
        """Drop in-memory state that another worker may have made stale (nothing unflushed
        is lost: its offsets were not committed, so it is delivered again)."""
        self._last_sequence.clear()
        self._unflushed.clear()
        self._consumed.clear()
        for stage in self.stages:
            stage.forget()

    async def _retry_until_done(
        self, work: Callable[..., Awaitable[object]], *args: list[LogRecord]
    ) -> None:
        """Retry until it succeeds: a lost backend must not lose ticks."""
        backoff = 0.1
        while True:
            try:
                await work(*args)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                metrics.BRIDGE_RETRIES.inc()
                log.warning("bridge write failed (%r); retrying in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def process(self, records: list[LogRecord]) -> list[Tick]:
        """Apply one batch to every stage; returns the new ticks in log order."""
        started = time.perf_counter()
        ticks = [tick for record in records if (tick := self._parse(record)) is not None]
        fresh = await self._unseen(ticks)
        for stage in self.stages:
            await stage.apply(fresh)
        # Only now is the batch applied: a retry after a failure above must see it as new.
        latest = {tick.symbol: tick.sequence for tick in fresh}
        self._last_sequence.update(latest)
        self._unflushed.update(latest)
        for record in records:
            self._consumed[record.partition] = max(
                self._consumed.get(record.partition, 0), record.offset + 1
            )
        self.stats.ticks += len(fresh)
        self.stats.duplicates += len(ticks) - len(fresh)
        self.stats.batches += 1
        metrics.TICKS_CONSUMED.inc(len(fresh))
        metrics.DUPLICATE_TICKS.inc(len(ticks) - len(fresh))
        metrics.BRIDGE_BATCH_SECONDS.observe(time.perf_counter() - started)
        return fresh

    async def flush(self) -> None:
        """Make every stage's work durable, then record the applied sequences (the watermark
        a restarted worker starts from). The caller commits the offsets after this."""
        for stage in self.stages:
            await stage.flush()
        if self._unflushed:
            await self.cache.set_many(
                {applied_key(s): str(q).encode() for s, q in self._unflushed.items()}
            )
            self._unflushed.clear()
        self.stats.flushes += 1

    def _parse(self, record: LogRecord) -> Tick | None:
        try:
            return Tick.from_json(record.value)
        except BadTick as error:
            self.stats.bad_ticks += 1
            metrics.BAD_TICKS.inc()
            log.warning("skipping bad tick at %d/%d: %s", record.partition, record.offset, error)
            return None

    async def _unseen(self, ticks: list[Tick]) -> list[Tick]:
        """Ticks above the last applied sequence of their symbol (re-deliveries dropped)."""
        unknown = sorted({t.symbol for t in ticks} - self._last_sequence.keys())
        if unknown:
            stored = await self.cache.get_many([applied_key(s) for s in unknown])
            for symbol, raw in zip(unknown, stored, strict=True):
                self._last_sequence[symbol] = int(raw) if raw else -1
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
