"""The cache contract: one test body per behaviour over the memory and the Redis cache (the
`cache` fixture of conftest), and what only the Redis cache does."""

from __future__ import annotations

import asyncio

import pytest

from streaming.cache import Cache
from streaming.cache.redis import RedisCache
from streaming.redis_client import PoolLimits


async def test_values_are_set_read_overwritten_and_deleted(cache: Cache) -> None:
    await cache.ping()
    assert await cache.get("a") is None, "never set"
    await cache.set("a", b"1")
    await cache.set("a", b"2")
    await cache.set("raw", bytes(range(256)))
    assert await cache.get("a") == b"2", "the last set wins"
    assert await cache.get("raw") == bytes(range(256)), "values are bytes, kept exactly"
    await cache.delete("a", "raw", "never-set")
    await cache.delete()
    assert await cache.get("a") is None
    assert await cache.get("raw") is None


async def test_get_many_answers_in_the_order_asked_with_none_for_missing(cache: Cache) -> None:
    await cache.set_many({"a": b"1", "b": b"2"})
    await cache.set_many({})
    assert await cache.get_many(["b", "missing", "a", "b"]) == [b"2", None, b"1", b"2"]
    assert await cache.get_many([]) == []
    await cache.set_many({"a": b"3"})
    assert await cache.get_many(["a", "b"]) == [b"3", b"2"], "set_many overwrites"


async def test_a_value_set_with_a_ttl_expires_and_a_later_set_keeps_it(cache: Cache) -> None:
    for key in ("expires", "set-again", "set-many-again"):
        await cache.set(key, b"old", ttl_seconds=1)
    await cache.set("set-again", b"new")
    await cache.set_many({"set-many-again": b"new"})
    await cache.set("kept", b"v")
    assert await cache.get("expires") == b"old", "not yet"
    await asyncio.sleep(1.3)
    assert await cache.get_many(["expires", "set-again", "set-many-again", "kept"]) == [
        None,
        b"new",
        b"new",
        b"v",
    ]


async def test_a_counter_counts_atomically_within_its_window_then_restarts(cache: Cache) -> None:
    first = await cache.increment("attempts", ttl_seconds=1)
    assert first.value == 1
    assert 0 < first.expires_in_seconds <= 1
    counts = await asyncio.gather(*(cache.increment("attempts", 1) for _ in range(20)))
    assert sorted(count.value for count in counts) == list(range(2, 22)), "none lost or doubled"
    assert all(0 < count.expires_in_seconds <= 1 for count in counts), "the window is not moved"
    assert (await cache.increment("other", 60)).value == 1, "each key counts alone"
    await asyncio.sleep(1.2)
    restarted = await cache.increment("attempts", ttl_seconds=60)
    assert restarted.value == 1, "the window ended: counting starts again"
    assert 59 < restarted.expires_in_seconds <= 60
    await cache.delete("other")
    assert (await cache.increment("other", 60)).value == 1, "a deleted counter starts again"


@pytest.mark.parametrize("cache", ["redis"], indirect=True)
async def test_redis_cache_is_shared_by_prefix(cache: Cache) -> None:
    """Redis only: the memory cache lives and dies with its process (embedded mode has one),
    while every process of full mode with the same key prefix shares the Redis cache, and a
    different prefix (another deployment on the same Redis) sees none of it."""
    assert isinstance(cache, RedisCache)
    await cache.set("shared", b"1")
    prefix = cache._prefix
    url = cache._url
    same, other = RedisCache(url, prefix=prefix), RedisCache(url, prefix=prefix + "other:")
    await same.connect()
    await other.connect()
    try:
        assert await same.get("shared") == b"1"
        assert await other.get("shared") is None
        assert await cache.redis.get(prefix + "shared") == b"1", "stored under the prefix"
    finally:
        await same.close()
        await other.close()


@pytest.mark.parametrize("cache", ["redis"], indirect=True)
async def test_redis_commands_beyond_the_pool_wait_their_turn(cache: Cache) -> None:
    """Redis only: 300 commands at once on a pool of two connections (REDIS_MAX_CONNECTIONS=2)
    all answer, none fails with "Too many connections", and no more than two are opened; the
    200 `get_many` among them share their reads."""
    assert isinstance(cache, RedisCache)
    prefix = cache._prefix + "pool:"
    small = RedisCache(cache._url, prefix=prefix, limits=PoolLimits(2, 30.0))
    await small.connect()
    try:
        stored = {f"q{i}": str(i).encode() for i in range(20)}
        await small.set_many(stored)
        asked = [[f"q{(i + j) % 25}" for j in range(10)] for i in range(200)]  # some missing
        reads = asyncio.gather(*(small.get_many(keys) for keys in asked))
        counts = asyncio.gather(*(small.increment("n", 60) for _ in range(100)))
        answers, counted = await asyncio.gather(reads, counts)
        names = [client["name"] for client in await small.redis.client_list()]
    finally:
        await small.close()
    assert answers == [[stored.get(key) for key in keys] for keys in asked]
    assert sorted(count.value for count in counted) == list(range(1, 101))
    assert 1 <= names.count(prefix + "cache") <= 2
