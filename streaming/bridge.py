"""The bridge worker: ticks from the log through the stages, in two lanes.

The live lane (the quote stage: latest quote, publish, history; Redis only) runs on each
batch as soon as it is fetched, so live prices never wait on PostgreSQL. Each batch's fresh
ticks then join the durable lane's backlog, which a task of its own works through once per
`flush_interval` seconds: `apply` of every durable stage (candles, alerts, matching) to all
the ticks pending, `flush` of each (database writes), the applied sequence per symbol (the
watermark), then the Kafka offsets commit. A database outage therefore delays only candles,
alerts and fills: the durable lane retries with backoff while the live lane goes on, and
catches up afterwards.
Its backlog is bounded (`max_backlog_ticks`): past it the worker stops fetching until the
backlog shrinks, so memory stays bounded through a long outage.

Parse errors are counted and skipped; re-deliveries are dropped by per-symbol sequence.
A failure before the commit re-delivers the work since the last one rather than losing it
(at-least-once); each stage is harmless to repeat (the quote history skips positions it
holds, so subscribers never see a tick twice), and the watermark lets a restarted worker drop
what was fully applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial

from tenacity import AsyncRetrying

from streaming import metrics
from streaming.cache import Cache
from streaming.cancellation import raise_if_cancelled
from streaming.channels import applied_key
from streaming.errors import BackendUnavailable, BadTick
from streaming.log import LogConsumer, LogRecord, TickLog
from streaming.pubsub import PubSub
from streaming.retry import retried, retrying
from streaming.stages import Enricher, Stage
from streaming.stages.quotes import QuoteStage
from streaming.tick import Tick

log = logging.getLogger(__name__)

REVOKE_FLUSH_SECONDS = 10.0


def _live_lane_retrying() -> AsyncRetrying:
    return retrying("bridge live lane", failures=metrics.BRIDGE_RETRIES)


@dataclass
class BridgeStats:
    ticks: int = 0
    bad_ticks: int = 0
    duplicates: int = 0
    batches: int = 0
    flushes: int = 0


@dataclass(frozen=True, slots=True)
class PendingBatch:
    """A batch the live lane applied and the durable lane has not: its fresh ticks and the
    next offset of each partition it came from (committable once the batch is flushed)."""

    ticks: list[Tick]
    offsets: dict[int, int]


@dataclass
class Bridge:
    tick_log: TickLog
    group: str
    cache: Cache
    pubsub: PubSub
    stages: Sequence[Stage] = ()  # the durable lane, in order
    live_stages: Sequence[Stage] = ()  # the live lane (default: the quote stage)
    enrichers: Sequence[Enricher] = ()  # before every stage (day statistics, halts)
    batch_size: int = 1000
    flush_interval: float = 0.1
    max_backlog_ticks: int = 200_000
    stats: BridgeStats = field(default_factory=BridgeStats)
    _last_sequence: dict[str, int] = field(default_factory=dict)
    _backlog: deque[PendingBatch] = field(default_factory=deque)
    _backlog_ticks: int = 0
    _unflushed: dict[str, int] = field(default_factory=dict)
    _consumed: dict[int, int] = field(default_factory=dict)  # partition -> next offset
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # the durable lane's state
    _work: asyncio.Event = field(default_factory=asyncio.Event)  # a batch joined the backlog
    _room: asyncio.Event = field(default_factory=asyncio.Event)  # the backlog has room

    def __post_init__(self) -> None:
        if not self.live_stages:
            self.live_stages = (QuoteStage(self.cache, self.pubsub),)
        self._room.set()

    @property
    def pending(self) -> int:
        """Symbols with ticks not yet durable (0: everything is flushed)."""
        return len(self._unflushed) + len(self._backlog)

    @property
    def uncommitted(self) -> int:
        """Partitions with processed offsets not committed yet (0: a restart repeats nothing)."""
        return len(self._consumed) + len(self._backlog)

    @property
    def backlog_ticks(self) -> int:
        """Ticks the live lane applied that the durable lane has not yet."""
        return self._backlog_ticks

    async def run(self) -> None:
        """Consume until cancelled; a fresh consumer each run, so a supervisor can restart it.
        Both lanes run as tasks: the first to fail (or a dying process) ends the run."""
        self.forget()  # a restart may resume partitions another worker moved on meanwhile

        async def revoked() -> None:
            await self._revoked(consumer)

        consumer = self.tick_log.consumer(self.group, on_revoke=revoked)
        await consumer.start()
        lanes = [
            asyncio.create_task(self._live_lane(consumer), name="bridge-live"),
            asyncio.create_task(self._durable_lane(consumer), name="bridge-durable"),
        ]
        try:
            done, _ = await asyncio.wait(lanes, return_when=asyncio.FIRST_COMPLETED)
            for lane in done:
                lane.result()
        except asyncio.CancelledError:
            await self._stop(lanes)
            await self._last_commit(consumer)  # a graceful stop; a crash commits nothing
            raise
        finally:
            await self._stop(lanes)
            await consumer.stop()

    @staticmethod
    async def _stop(lanes: list[asyncio.Task[None]]) -> None:
        """Cancel both lanes and wait for them (their outcome was read already, if any)."""
        for lane in lanes:
            lane.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)

    async def _live_lane(self, consumer: LogConsumer) -> None:
        wait_ms = min(max(int(self.flush_interval * 1000), 1), 200)
        while True:
            raise_if_cancelled()  # a cancel lost inside `take` (see `streaming.cancellation`)
            await self._room.wait()
            records = await consumer.get_batch(self.batch_size, timeout_ms=wait_ms)
            if records:  # (fetched before a rebalance, a batch may be applied twice)
                await retried(partial(self.take, records), _live_lane_retrying)

    async def _durable_lane(self, consumer: LogConsumer) -> None:
        """A round at most every `flush_interval`: every batch pending by then through the
        durable stages at once, their flush, the commit. (Its cost is mostly per round:
        applied per live batch, the candle stage cost a busy bridge far more CPU, for bars no
        chart needs more often than ten times a second.)"""
        loop = asyncio.get_running_loop()
        next_round = loop.time()
        while True:
            raise_if_cancelled()  # a cancel lost in a flush or commit
            # Pause first, then look for work: batches taken meanwhile wake no one.
            await asyncio.sleep(max(next_round - loop.time(), 0))
            with suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval or None):
                    await self._work.wait()
            next_round = loop.time() + self.flush_interval
            self._work.clear()
            due: dict[int, int] = {}
            async for attempt in retrying("bridge durable lane", failures=metrics.BRIDGE_RETRIES):
                with attempt:
                    async with self._lock:
                        await self.apply_backlog()
                        if self._consumed:
                            await self.flush()
                            due = dict(self._consumed)
            if due:  # outside the lock: a commit may wait for a rebalance, which waits
                await self._commit(consumer, due)  # for `_revoked`, which takes the lock
                metrics.CONSUMER_LAG.set(await consumer.lag())

    async def _last_commit(self, consumer: LogConsumer) -> None:
        """Best effort on the way out: what is not committed is delivered again anyway."""
        try:
            async with asyncio.timeout(5):
                async with self._lock:
                    await self.apply_backlog()
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
        (so the next owner does not repeat it), then forget what another worker will own.
        Within a time limit: during a database outage the next owner repeats it instead."""
        async with self._lock:
            try:
                async with asyncio.timeout(REVOKE_FLUSH_SECONDS):
                    await self.apply_backlog()
                    if self._consumed:
                        await self.flush()
                        await self._commit(consumer, dict(self._consumed))
            except Exception as error:
                log.warning(
                    "revoked before the work was durable (%r); it is delivered again", error
                )
            self.forget()

    def forget(self) -> None:
        """Drop in-memory state that another worker may have made stale (nothing unflushed
        is lost: its offsets were not committed, so it is delivered again)."""
        self._last_sequence.clear()
        self._unflushed.clear()
        self._consumed.clear()
        self._backlog.clear()
        self._set_backlog(0)
        for enricher in self.enrichers:
            enricher.forget()
        for stage in (*self.live_stages, *self.stages):
            stage.forget()

    async def process(self, records: list[LogRecord]) -> list[Tick]:
        """Both lanes at once for one batch (no flush); returns the new ticks in log order."""
        fresh = await self.take(records)
        await self.apply_backlog()
        return fresh

    async def take(self, records: list[LogRecord]) -> list[Tick]:
        """The live lane for one batch: parse, drop re-deliveries, apply the live stages,
        then hand the fresh ticks to the durable lane. Returns them in log order."""
        started = time.perf_counter()
        ticks = [tick for record in records if (tick := self._parse(record)) is not None]
        fresh = await self._unseen(ticks)
        if fresh:
            metrics.observe_tick_age("consumed", fresh[-1].received_ts)
        for enricher in self.enrichers:
            fresh = await enricher.enrich(fresh)
        for stage in self.live_stages:
            await stage.apply(fresh)
        if fresh:
            metrics.observe_tick_age("published", fresh[-1].received_ts)
        for enricher in self.enrichers:
            enricher.commit()
        # Only now is the batch applied: a retry after a failure above must see it as new.
        self._last_sequence.update({tick.symbol: tick.sequence for tick in fresh})
        offsets: dict[int, int] = {}
        for record in records:
            offsets[record.partition] = max(offsets.get(record.partition, 0), record.offset + 1)
        self._backlog.append(PendingBatch(fresh, offsets))
        self._set_backlog(self._backlog_ticks + len(fresh))
        self._work.set()
        self.stats.ticks += len(fresh)
        self.stats.duplicates += len(ticks) - len(fresh)
        self.stats.batches += 1
        metrics.TICKS_CONSUMED.inc(len(fresh))
        metrics.DUPLICATE_TICKS.inc(len(ticks) - len(fresh))
        metrics.BRIDGE_BATCH_SECONDS.observe(time.perf_counter() - started)
        return fresh

    async def apply_backlog(self) -> None:
        """The durable lane: apply every pending batch to every durable stage, as one list in
        log order (a stage's cost is mostly per call: a candle bar changed by several of the
        ticks is cached and published once). The batches leave the backlog only once every
        stage applied them (a retry repeats them); the live lane may add more meanwhile."""
        pending = list(self._backlog)
        if not pending:
            return
        ticks = [tick for batch in pending for tick in batch.ticks]
        for stage in self.stages:
            await stage.apply(ticks)
        for batch in pending:
            self._backlog.popleft()
            for partition, offset in batch.offsets.items():
                self._consumed[partition] = max(self._consumed.get(partition, 0), offset)
        self._set_backlog(self._backlog_ticks - len(ticks))
        self._unflushed.update({tick.symbol: tick.sequence for tick in ticks})

    def _set_backlog(self, ticks: int) -> None:
        self._backlog_ticks = ticks
        metrics.BRIDGE_BACKLOG.set(ticks)
        if ticks < self.max_backlog_ticks:
            self._room.set()
        else:
            self._room.clear()

    async def flush(self) -> None:
        """Make every stage's work durable, then record the applied sequences (the watermark
        a restarted worker starts from). The caller commits the offsets after this."""
        for stage in (*self.live_stages, *self.stages):
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
