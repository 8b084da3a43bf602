"""A small key-value cache: latest quotes, the instrument cache and rate-limit counters.

Two backends behind one protocol: memory (embedded mode) and Redis (full mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from settings import Settings


class Count(NamedTuple):
    """A counter just incremented: its value and the seconds until it expires (and restarts)."""

    value: int
    expires_in_seconds: float


class Cache(Protocol):
    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...
    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None: ...
    async def set_many(self, items: dict[str, bytes]) -> None: ...
    async def delete(self, *keys: str) -> None: ...

    async def increment(self, key: str, ttl_seconds: int) -> Count:
        """Add one to the counter `key` atomically; a new counter lives `ttl_seconds` from its
        first increment, and later increments do not extend it (a fixed window)."""
        ...


def make_cache(settings: Settings) -> Cache:
    if settings.redis_url:
        from streaming.cache.redis import RedisCache
        from streaming.redis_client import PoolLimits

        return RedisCache(
            settings.redis_url,
            prefix=settings.redis_key_prefix,
            limits=PoolLimits.of(settings),
            cluster=settings.redis_cluster,
        )
    from streaming.cache.memory import MemoryCache

    return MemoryCache()
