"""One way to build a Redis client: a bounded pool that waits for a free connection, and
retries with backoff on lost connections.

redis-py's default pool opens a connection per concurrent command up to 100, fails the 101st
at once ("Too many connections"), and keeps every connection it opened for the life of the
process: a burst of 2,000 subscribers each reading the cache failed most of them, and left 100
idle connections behind. Here a client holds at most `max_connections`, and a command that
finds them all busy waits its turn (up to `timeout_seconds`) instead of failing. Each
connection carries its client's name (`CLIENT SETNAME`: `<prefix>cache`, `<prefix>pubsub`), so
`CLIENT LIST` tells whose it is.

On Redis Cluster (`REDIS_CLUSTER=true`) the client is a `RedisCluster`, which routes each
command to the primary of its key's slot and finds the new primary after a failover. A multi-key
command or script must keep its keys in one slot, so there every name is hash-tagged on its
subject (`cluster_name`): everything of one symbol (its cache keys, its channels, their
history streams) lives in one slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from settings import Settings
from streaming.redis_packing import packing_options


@dataclass(frozen=True, slots=True)
class PoolLimits:
    max_connections: int = 16
    timeout_seconds: float = 5.0  # the longest a command waits for a free connection

    @classmethod
    def of(cls, settings: Settings) -> PoolLimits:
        return cls(settings.redis_max_connections, settings.redis_pool_timeout_seconds)


def make_redis(url: str, limits: PoolLimits, name: str) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=limits.max_connections,
        timeout=limits.timeout_seconds,
        client_name=name,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        retry_on_error=[ConnectionError, TimeoutError],
        **packing_options(url),
    )
    return Redis.from_pool(pool)  # closing the client closes its pool


def make_redis_cluster(url: str, limits: PoolLimits, name: str) -> WaitingRedisCluster:
    """A Redis Cluster client from any node's URL (it learns the others). Full coverage is not
    required, so a shard's failover does not stop the others' traffic."""
    client = WaitingRedisCluster.from_url(
        url,
        limits=limits,
        # each node's pool: the commands and the pipelines that may run at once (each holds
        # one connection per node), and the pub/sub's connection to the node
        max_connections=2 * limits.max_connections + 1,
        client_name=name,
        socket_connect_timeout=2,
        socket_timeout=5,
        require_full_coverage=False,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    return cast(WaitingRedisCluster, client)  # from_url makes an instance of its class


class WaitingRedisCluster(RedisCluster):
    """A `RedisCluster` whose commands wait for a free connection as `make_redis`'s do.

    redis-py's cluster client has no blocking pool: the command that finds a node's pool full
    fails at once (MaxConnectionsError). Here at most `limits.max_connections` commands, and
    as many pipelines (`mget_nonatomic`, `mset_nonatomic`, `pipeline_turn`), run at once;
    the next waits its turn, up to `limits.timeout_seconds`. Two separate counts, so a
    pipeline that falls back to single commands never waits for itself.
    """

    def __init__(self, *args: Any, limits: PoolLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._commands = asyncio.Semaphore(limits.max_connections)
        self._pipelines = asyncio.Semaphore(limits.max_connections)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with _turn(self._commands, self._limits):
            if self._initialize:
                # Learn the topology before the command, once for all who wait (it locks):
                # concurrent first commands that each found it missing broke one another's
                # connections (redis-py 8.1; tests/replicated/test_redis_cluster.py).
                await self.initialize()
            return await super().execute_command(*args, **kwargs)

    async def mget_nonatomic(self, keys: Any, *args: Any) -> list[Any | None]:  # type: ignore[override]
        async with _turn(self._pipelines, self._limits):
            return await super().mget_nonatomic(keys, *args)

    async def mset_nonatomic(self, mapping: Any) -> list[bool]:  # type: ignore[override]
        async with _turn(self._pipelines, self._limits):
            return await super().mset_nonatomic(mapping)

    def pipeline_turn(self) -> AbstractAsyncContextManager[None]:
        """Hold while building and executing a `pipeline()`."""
        return _turn(self._pipelines, self._limits)


@asynccontextmanager
async def _turn(turns: asyncio.Semaphore, limits: PoolLimits) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(limits.timeout_seconds):
            await turns.acquire()
    except TimeoutError:
        raise ConnectionError("No connection available.") from None  # as BlockingConnectionPool
    try:
        yield
    finally:
        turns.release()


@lru_cache(maxsize=65_536)
def cluster_name(name: str) -> str:
    """A name as Redis Cluster stores it: `kind:subject[:detail]` (`streaming.channels`) becomes
    `kind:{subject}[:detail]`, so Redis hashes only the subject and every key and channel of
    one subject (`quote:{AAPL}`, `trade:{AAPL}`, `candle:{AAPL}:1m`, the history stream of
    `quote:{AAPL}`) shares a slot. A name without a colon stays as it is."""
    kind, colon, rest = name.partition(":")
    if not colon:
        return name
    subject, colon, detail = rest.partition(":")
    return f"{kind}:{{{subject}}}{colon}{detail}"
