"""The in-process log of embedded mode: a bounded queue, so a slow bridge slows the feed."""

from __future__ import annotations

import asyncio
import itertools

from streaming.log import LogConsumer, LogProducer, LogRecord, OnRevoke


class MemoryTickLog:
    def __init__(self, capacity: int = 10_000) -> None:
        self._queue: asyncio.Queue[LogRecord] = asyncio.Queue(capacity)
        self._offsets = itertools.count()

    def producer(self) -> LogProducer:
        return _MemoryProducer(self)

    def consumer(self, group: str, on_revoke: OnRevoke | None = None) -> LogConsumer:
        return _MemoryConsumer(self)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def append(self, key: bytes, value: bytes) -> None:
        await self._queue.put(LogRecord(key, value, 0, next(self._offsets)))

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


class _MemoryProducer:
    def __init__(self, log: MemoryTickLog) -> None:
        self._log = log

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, key: bytes, value: bytes) -> None:
        await self._log.append(key, value)


class _MemoryConsumer:
    def __init__(self, log: MemoryTickLog) -> None:
        self._log = log

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def get_batch(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        return await self._log.take(max_records, timeout_ms)

    async def commit(self, offsets: dict[int, int] | None = None) -> None:
        return None  # an in-process queue: taken is gone

    async def lag(self) -> int:
        return self._log.pending
