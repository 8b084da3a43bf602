"""One way to build a Redis client: a bounded pool that waits for a free connection, and
retries with backoff on lost connections.

redis-py's default pool opens a connection per concurrent command up to 100, fails the 101st
at once ("Too many connections"), and keeps every connection it opened for the life of the
process: a burst of 2,000 subscribers each reading the cache failed most of them, and left 100
idle connections behind. Here a client holds at most `max_connections`, and a command that
finds them all busy waits its turn (up to `timeout_seconds`) instead of failing. Each
connection carries its client's name (`CLIENT SETNAME`: `<prefix>cache`, `<prefix>pubsub`), so
`CLIENT LIST` tells whose it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from settings import Settings


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
    )
    return Redis.from_pool(pool)  # closing the client closes its pool
