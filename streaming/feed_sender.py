"""Between a feed and the tick log: nothing a feed produces is lost silently.

The feed's sink (`FeedSender.offer`) puts ticks in a bounded buffer of unsent ticks. When the
buffer is full, a live feed (simulator, provider) drops its OLDEST unsent tick, keeping the
freshest market, and counts it in `trado_feed_send_failures_total`; a replay waits instead
(backpressure, never a drop). One sender task takes up to `batch_size` ticks, numbers each
with its symbol's next sequence at the moment it hands them to the producer (a dropped tick
never had a number, so each symbol's sequences in the log stay contiguous), waits for every
acknowledgement and re-sends the unacknowledged ones in order, with capped exponential backoff
and jitter, for as long as it runs. `trado_feed_ticks_total` counts acknowledged ticks only.

On stop the sender flushes for up to `stop_timeout` seconds; whatever is still unacknowledged
then is counted as failed and logged once. During an outage the log stays quiet: one warning
when acknowledgements stall (then one every `STALL_REPEAT_SECONDS`), one per failed attempt,
one when the buffer starts dropping, and one "recovered" line with the outage's figures.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

from tenacity import AsyncRetrying, wait_random_exponential

from streaming import metrics
from streaming.cancellation import raise_if_cancelled
from streaming.feed_resume import ResumeLookup, ResumePoint
from streaming.log import LogProducer
from streaming.retry import retried, retrying
from streaming.tick import Tick

log = logging.getLogger(__name__)

STALL_WARNING_SECONDS = 5.0
STALL_REPEAT_SECONDS = 30.0


class Overflow(StrEnum):
    DROP_OLDEST = "drop-oldest"  # live feeds: the freshest market matters most
    WAIT = "wait"  # replay: the feed waits for room, nothing is dropped


class Unacknowledged(Exception):
    """Some records of an attempt were not acknowledged (they are re-sent)."""

    def __init__(self, count: int, error: BaseException) -> None:
        super().__init__(f"{count} ticks not acknowledged: {error!r}")


@dataclass(frozen=True, slots=True)
class Pacing:
    """How a sender batches and gives up: records per send, seconds a stop may flush for,
    the longest wait between attempts at a log that is away."""

    batch_size: int = 1000
    stop_timeout: float = 3.5
    max_backoff: float = 5.0


class FeedSender:
    def __init__(
        self,
        producer: LogProducer,
        feed: str,
        *,
        resume: ResumeLookup,
        overflow: Overflow,
        capacity: int,
        known: Mapping[str, ResumePoint] | None = None,
        pacing: Pacing = Pacing(),
    ) -> None:
        self.feed = feed
        self._producer = producer
        self._resume = resume
        self._overflow = overflow
        self._capacity = capacity
        self._batch_size = pacing.batch_size
        self._stop_timeout = pacing.stop_timeout
        self._wait = wait_random_exponential(multiplier=0.2, max=pacing.max_backoff)
        self._last_sequence = {s: p.sequence for s, p in (known or {}).items()}
        self._buffer: deque[Tick] = deque()
        self._pending: list[tuple[bytes, bytes]] = []  # numbered, not yet acknowledged
        self._in_hand = 0  # taken from the buffer and not yet acknowledged
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._outage = _Outage(feed)
        self._drops = _Drops(feed, capacity)
        self._acknowledged = metrics.FEED_TICKS.labels(feed)
        self._failures = metrics.FEED_SEND_FAILURES.labels(feed)
        self._retries = metrics.FEED_SEND_RETRIES.labels(feed)
        self._buffered = metrics.FEED_BUFFERED.labels(feed)
        self.acknowledged = 0  # this sender's own figures, for its last log line
        self.failed = 0

    @property
    def held(self) -> int:
        """Ticks not yet acknowledged: buffered or in hand."""
        return len(self._buffer) + self._in_hand

    async def __aenter__(self) -> FeedSender:
        self._buffered.set_function(lambda: self.held)
        self._task = asyncio.create_task(self._run(), name=f"{self.feed}-sender")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """A feed that ended (a replay) waits until the log has everything; a cancelled or
        failed one flushes for up to `stop_timeout` seconds."""
        try:
            if exc_type is None:
                await self._until_idle()
            else:
                with suppress(TimeoutError):
                    async with asyncio.timeout(self._stop_timeout):
                        await self._until_idle()
        finally:
            await self._stop_task()
            self._give_up()
            self._buffered.set_function(lambda: 0)
            log.info(
                "%s sender stopped: %d ticks acknowledged, %d failed",
                self.feed,
                self.acknowledged,
                self.failed,
            )

    async def offer(self, tick: Tick) -> None:
        """The feed's sink: buffer `tick` (its sequence is ignored: the sender numbers it)."""
        self._check_running()
        while len(self._buffer) >= self._capacity:
            if self._overflow is Overflow.DROP_OLDEST:
                self._buffer.popleft()
                self._failures.inc()
                self.failed += 1
                self._drops.dropped()
                break
            self._room.clear()
            await self._room.wait()
            self._check_running()
        self._buffer.append(tick)
        self._idle.clear()
        self._ready.set()

    def _check_running(self) -> None:
        if self._task is None:
            raise RuntimeError("FeedSender used outside `async with`")
        if self._task.done():
            error = None if self._task.cancelled() else self._task.exception()
            raise RuntimeError(f"the {self.feed} sender stopped") from error

    async def _until_idle(self) -> None:
        assert self._task is not None
        idle = asyncio.ensure_future(self._idle.wait())
        try:
            await asyncio.wait({idle, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
        if self._task.done() and not self._task.cancelled():
            self._task.result()  # the sender failed: say why

    async def _stop_task(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    def _give_up(self) -> None:
        left = self.held
        if left:
            self._failures.inc(left)
            self.failed += left
            log.warning(
                "%s stopped with %d ticks the log never acknowledged (counted in "
                "trado_feed_send_failures_total)",
                self.feed,
                left,
            )
        self._buffer.clear()
        self._pending.clear()
        self._in_hand = 0

    async def _run(self) -> None:
        while True:
            if not self._buffer:
                self._idle.set()
                self._ready.clear()
                await self._ready.wait()
            ticks = self._take()
            await self._number_from_log({t.symbol for t in ticks})
            self._pending = [self._stamp(tick) for tick in ticks]
            await self._deliver()
            self._drops.maybe_over(len(self._buffer))
            raise_if_cancelled()  # a cancel lost in a write (see `streaming.cancellation`)

    def _take(self) -> list[Tick]:
        count = min(self._batch_size, len(self._buffer))
        ticks = [self._buffer.popleft() for _ in range(count)]
        self._in_hand = count
        self._room.set()
        return ticks

    def _stamp(self, tick: Tick) -> tuple[bytes, bytes]:
        sequence = self._last_sequence[tick.symbol] + 1
        self._last_sequence[tick.symbol] = sequence
        return tick.symbol.encode(), tick.numbered(sequence).to_json()

    async def _number_from_log(self, symbols: set[str]) -> None:
        """Resume points of symbols not seen yet (a replay's, a provider's new symbol)."""
        unknown = symbols - self._last_sequence.keys()
        if not unknown:
            return
        found: dict[str, ResumePoint] = {}
        async for attempt in self._retrying(Exception):
            with attempt:
                found = await self._resume(unknown)
        for symbol in unknown:
            point = found.get(symbol)
            self._last_sequence[symbol] = point.sequence if point else 0

    async def _deliver(self) -> None:
        """`_attempt` until every record is acknowledged (tenacity only once one failed: a
        loop per batch cost more than the rest of the sender's work on it)."""
        await retried(self._attempt, lambda: self._retrying(Unacknowledged))
        self._outage.recovered(self.held)

    async def _attempt(self) -> None:
        results = await self._send_watched(self._pending)
        failed = [(r, e) for r, e in zip(self._pending, results, strict=True) if e is not None]
        acknowledged = len(self._pending) - len(failed)
        if acknowledged and results[-1] is None:  # the batch's newest, once a batch
            newest = Tick.from_json(self._pending[-1][1])
            metrics.observe_tick_age("logged", newest.received_ts)
        self._acknowledged.inc(acknowledged)
        self.acknowledged += acknowledged
        self._in_hand -= acknowledged
        self._pending = [record for record, _ in failed]
        if failed:
            raise Unacknowledged(len(failed), failed[0][1])

    async def _send_watched(self, records: list[tuple[bytes, bytes]]) -> list[BaseException | None]:
        """`send_batch`, noting an outage when acknowledgements take more than a few seconds
        (an idempotent Kafka producer retries by itself while Kafka is down)."""
        sending = asyncio.ensure_future(self._producer.send_batch(records))
        try:
            while not (await asyncio.wait({sending}, timeout=STALL_WARNING_SECONDS))[0]:
                self._outage.stalled(len(records), self.held)
            return sending.result()
        finally:
            if not sending.done():
                sending.cancel()
                with suppress(asyncio.CancelledError):
                    await sending

    def _retrying(self, retry_on: type[Exception]) -> AsyncRetrying:
        return retrying(
            self.feed,
            retry_on=retry_on,
            failures=self._retries,
            wait=self._wait,
            report=self._before_retry,
        )

    def _before_retry(self, error: BaseException, attempt: int, delay: float) -> None:
        self._outage.failed(f"{error} (attempt {attempt}, again in {delay:.1f}s)")


class _Outage:
    """Logs an outage at its start, sparsely while it lasts, and once when it is over."""

    def __init__(self, feed: str) -> None:
        self._feed = feed
        self._since: float | None = None
        self._last_stall_line = 0.0

    def failed(self, what: str) -> None:
        self._since = self._since or time.monotonic()
        log.warning("%s: sending to the log failed: %s", self._feed, what)

    def stalled(self, records: int, held: int) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = now - STALL_WARNING_SECONDS
        elif now - self._last_stall_line < STALL_REPEAT_SECONDS:
            return
        self._last_stall_line = now
        log.warning(
            "%s: the log has not acknowledged %d ticks for %.0fs; buffering (%d held)",
            self._feed,
            records,
            now - self._since,
            held,
        )

    def recovered(self, held: int) -> None:
        if self._since is not None:
            log.warning(
                "%s: the log acknowledges again: recovered after %.1fs, %d ticks buffered",
                self._feed,
                time.monotonic() - self._since,
                held,
            )
            self._since = None
            self._last_stall_line = 0.0


class _Drops:
    """One line when a full buffer starts dropping, one with the count once it has room."""

    def __init__(self, feed: str, capacity: int) -> None:
        self._feed = feed
        self._capacity = capacity
        self._count = 0

    def dropped(self) -> None:
        if not self._count:
            log.warning(
                "%s: buffer full (%d ticks): dropping the oldest unsent ticks",
                self._feed,
                self._capacity,
            )
        self._count += 1

    def maybe_over(self, buffered: int) -> None:
        """After a delivery: the burst is over once the buffer is at most half full."""
        if self._count and buffered <= self._capacity // 2:
            log.warning(
                "%s: dropped %d oldest unsent ticks while the buffer was full",
                self._feed,
                self._count,
            )
            self._count = 0
