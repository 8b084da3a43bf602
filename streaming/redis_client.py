"""One way to build a Redis client: retries with backoff on lost connections, and a bounded
pool that makes a burst wait for a connection instead of failing or opening one per caller."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from settings import Settings


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """At most `connections` per client; a caller past them waits up to `wait_seconds` for
    one to come free (then a ConnectionError: Redis is as good as unavailable). redis-py's
    default pool instead fails every caller past 100 at once, which a thousand subscribers
    arriving together reach."""

    connections: int = 50
    wait_seconds: float = 5.0

    @classmethod
    def of(cls, settings: Settings) -> PoolLimits:
        return cls(settings.redis_max_connections, settings.redis_pool_wait_seconds)


def make_redis(url: str, limits: PoolLimits | None = None) -> Redis:
    limits = limits or PoolLimits()
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=limits.connections,
        timeout=limits.wait_seconds,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    return Redis.from_pool(pool)
