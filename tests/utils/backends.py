"""The backends of the cache, the pub/sub and the tick log by id, and helpers for the tests
that run one body over each (the `cache`, `pubsub` and `tick_log` fixtures of conftest):
`memory` needs nothing, `redis` and `kafka` are the real services of `scripts/services.sh`."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar

from streaming.cache.memory import MemoryCache
from streaming.cache.redis import RedisCache
from streaming.log import LogConsumer, LogRecord
from streaming.log.kafka import KafkaTickLog
from streaming.log.memory import MemoryTickLog
from streaming.pubsub.memory import MemoryPubSub
from streaming.pubsub.redis import RedisPubSub

# what each backend id must make: a fixture that silently made the other one could not fail
CACHES: dict[str, type] = {"memory": MemoryCache, "redis": RedisCache}
PUBSUBS: dict[str, type] = {"memory": MemoryPubSub, "redis": RedisPubSub}
LOGS: dict[str, type] = {"memory": MemoryTickLog, "kafka": KafkaTickLog}


class Closable(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


@asynccontextmanager
async def opened(made: C, expected: type) -> AsyncIterator[C]:
    """`made` (what an app factory chose: it must be `expected`), connected for the block
    where it connects at all (the tick log does not), closed afterwards."""
    assert isinstance(made, expected), f"{made!r} is not a {expected.__name__}"
    connect = getattr(made, "connect", None)
    if connect is not None:
        await connect()
    try:
        yield made
    finally:
        await made.close()


class Startable(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


S = TypeVar("S", bound=Startable)


@asynccontextmanager
async def started(part: S) -> AsyncIterator[S]:
    """A log's producer or consumer, started for the block."""
    await part.start()
    try:
        yield part
    finally:
        await part.stop()


def new_group() -> str:
    return f"group-{secrets.token_hex(3)}"


async def read(consumer: LogConsumer, count: int, seconds: float = 30) -> list[LogRecord]:
    """Exactly `count` records (never more: each batch asks for what is still missing)."""
    records: list[LogRecord] = []
    async with asyncio.timeout(seconds):
        while len(records) < count:
            records += await consumer.get_batch(count - len(records), timeout_ms=500)
    return records
