"""The in-process log of embedded mode: a bounded queue, so a slow bridge slows the feed.

It also remembers the last value per key (the log's "tail", as a restarted feed reads it from
Kafka); it lives as long as the process, so across a restart only the database remains.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Collection

from streaming.log import LogConsumer, LogProducer, LogRecord, OnRevoke


class MemoryTickLog:
    def __init__(self, capacity: int = 10_000) -> None:
        self._queue: asyncio.Queue[LogRecord] = asyncio.Queue(capacity)
        self._offsets = itertools.count()
        self._last: dict[bytes, bytes] = {}

    def producer(self) -> LogProducer:
        return _MemoryProducer(self)

    # The TickLog interface: one in-process queue has a single consumer, so no group and
    # no partitions to revoke.
    def consumer(self, group: str, on_revoke: OnRevoke | None = None) -> LogConsumer:  # noqa: ARG002
        return _MemoryConsumer(self)

    async def last_ticks(self, symbols: Collection[str]) -> dict[str, bytes]:
        found = {symbol: self._last.get(symbol.encode()) for symbol in symbols}
        return {symbol: value for symbol, value in found.items() if value is not None}

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def append(self, key: bytes, value: bytes) -> None:
        await self._queue.put(LogRecord(key, value, 0, next(self._offsets)))
        self._last[key] = value

    async def take(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        try:
            async with asyncio.timeout(timeout_ms / 1000):  # not wait_for: it can swallow a cancel
                first = await self._queue.get()
        except TimeoutError:
            return []
        batch = [first]
        while len(batch) < max_records and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch


class _OnTheLog:
    """A producer's or consumer's end of the in-process log: nothing to start or stop."""

    def __init__(self, log: MemoryTickLog) -> None:
        self._log = log

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class _MemoryProducer(_OnTheLog):
    async def send_batch(self, records: list[tuple[bytes, bytes]]) -> list[BaseException | None]:
        for key, value in records:
            await self._log.append(key, value)  # waits while the queue is full (backpressure)
        return [None] * len(records)


class _MemoryConsumer(_OnTheLog):
    async def get_batch(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        return await self._log.take(max_records, timeout_ms)

    async def commit(self, offsets: dict[int, int] | None = None) -> None:  # noqa: ARG002 (LogConsumer)
        return None  # an in-process queue: taken is gone

    async def lag(self) -> int:
        return self._log.pending
