"""The Redis cache of full mode: every key is namespaced by the configured prefix; concurrent
`get_many` calls share their MGETs (`streaming.coalesced`).

On Redis Cluster (`cluster=True`) keys are hash-tagged on their subject
(`streaming.redis_client.cluster_name`) and MGET/MSET/DEL go once per slot (redis-py's
`mget_nonatomic`/`mset_nonatomic`, its slot-splitting DEL): each key is still read or written
whole, but a `get_many` over several symbols is no longer one snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from streaming.cache import Count
from streaming.coalesced import CoalescedLookups
from streaming.redis_client import PoolLimits, cluster_name, make_redis, make_redis_cluster

# INCR and the first increment's expiry in one step: a crash between them cannot leave a
# counter that never expires. Answers the new value and the milliseconds left.
INCREMENT_WITH_EXPIRY = """
local value = redis.call('INCR', KEYS[1])
if value == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {value, redis.call('PTTL', KEYS[1])}
"""


class RedisCache:
    def __init__(
        self, url: str, *, prefix: str, limits: PoolLimits | None = None, cluster: bool = False
    ) -> None:
        if cluster and ("{" in prefix or "}" in prefix):
            raise ValueError("on Redis Cluster the key prefix must not contain braces")
        self._url = url
        self._prefix = prefix
        self._limits = limits or PoolLimits()
        self._cluster = cluster
        self._redis: Redis | RedisCluster | None = None
        self._increment: AsyncScript | None = None
        self._reads = CoalescedLookups(self._mget, name="cache-reads")

    @property
    def redis(self) -> Redis | RedisCluster:
        if self._redis is None:
            raise RuntimeError("RedisCache.connect() was not called")
        return self._redis

    async def connect(self) -> None:
        name = f"{self._prefix}cache"
        if self._cluster:
            self._redis = make_redis_cluster(self._url, self._limits, name)
        else:
            self._redis = make_redis(self._url, self._limits, name)
        self._increment = self._redis.register_script(INCREMENT_WITH_EXPIRY)

    async def close(self) -> None:
        await self._reads.close()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def ping(self) -> None:
        await self.redis.ping()

    def _name(self, key: str) -> str:
        """The key in Redis: prefixed, and on a cluster tagged on its subject."""
        return self._prefix + (cluster_name(key) if self._cluster else key)

    async def get(self, key: str) -> bytes | None:
        return cast(bytes | None, await self.redis.get(self._name(key)))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self._reads.get_many(keys)

    async def _mget(self, keys: list[str]) -> list[bytes | None]:
        redis = self.redis
        if isinstance(redis, RedisCluster):
            values = await redis.mget_nonatomic([self._name(key) for key in keys])
        else:
            values = await redis.mget([self._prefix + key for key in keys])
        return cast(list[bytes | None], values)

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        await self.redis.set(self._name(key), value, ex=ttl_seconds)

    async def set_many(self, items: dict[str, bytes]) -> None:
        if not items:
            return
        redis = self.redis
        if isinstance(redis, RedisCluster):
            await redis.mset_nonatomic({self._name(key): value for key, value in items.items()})
        else:
            await redis.mset({self._prefix + key: value for key, value in items.items()})

    async def delete(self, *keys: str) -> None:
        if keys:  # a cluster client runs one DEL per slot
            await self.redis.delete(*(self._name(key) for key in keys))

    async def increment(self, key: str, ttl_seconds: int) -> Count:
        if self._increment is None:
            raise RuntimeError("RedisCache.connect() was not called")
        value, left_ms = await self._increment(keys=[self._name(key)], args=[ttl_seconds * 1000])
        return Count(int(value), max(int(left_ms), 0) / 1000)
