"""The Redis cache of full mode: every key is namespaced by the configured prefix; concurrent
`get_many` calls share their MGETs (`streaming.coalesced`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from streaming.cache import Count
from streaming.coalesced import CoalescedLookups
from streaming.redis_client import PoolLimits, make_redis

# INCR and the first increment's expiry in one step: a crash between them cannot leave a
# counter that never expires. Answers the new value and the milliseconds left.
INCREMENT_WITH_EXPIRY = """
local value = redis.call('INCR', KEYS[1])
if value == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {value, redis.call('PTTL', KEYS[1])}
"""


class RedisCache:
    def __init__(self, url: str, *, prefix: str, limits: PoolLimits | None = None) -> None:
        self._url = url
        self._prefix = prefix
        self._limits = limits or PoolLimits()
        self._redis: Redis | None = None
        self._increment: AsyncScript | None = None
        self._reads = CoalescedLookups(self._mget, name="cache-reads")

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("RedisCache.connect() was not called")
        return self._redis

    async def connect(self) -> None:
        self._redis = make_redis(self._url, self._limits, f"{self._prefix}cache")
        self._increment = self._redis.register_script(INCREMENT_WITH_EXPIRY)

    async def close(self) -> None:
        await self._reads.close()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def ping(self) -> None:
        await self.redis.ping()

    async def get(self, key: str) -> bytes | None:
        return cast(bytes | None, await self.redis.get(self._prefix + key))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self._reads.get_many(keys)

    async def _mget(self, keys: list[str]) -> list[bytes | None]:
        values = await self.redis.mget([self._prefix + key for key in keys])
        return cast(list[bytes | None], values)

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        await self.redis.set(self._prefix + key, value, ex=ttl_seconds)

    async def set_many(self, items: dict[str, bytes]) -> None:
        if items:
            await self.redis.mset({self._prefix + key: value for key, value in items.items()})

    async def delete(self, *keys: str) -> None:
        if keys:
            await self.redis.delete(*(self._prefix + key for key in keys))

    async def increment(self, key: str, ttl_seconds: int) -> Count:
        if self._increment is None:
            raise RuntimeError("RedisCache.connect() was not called")
        value, left_ms = await self._increment(keys=[self._prefix + key], args=[ttl_seconds * 1000])
        return Count(int(value), max(int(left_ms), 0) / 1000)
