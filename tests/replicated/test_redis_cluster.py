"""The Redis backends on a Redis Cluster (`REDIS_CLUSTER=true`, three primaries and three
replicas of `scripts/replicated/redis.sh`): the cache's and the pub/sub's contract tests of
tests/test_backend_*.py, the same bodies, over the cluster; one symbol's names in one slot;
publish-with-history over symbols of every shard, atomic per channel and resumable; the hub on
sharded pub/sub; and a primary's kill -9: its replica takes over, the hub's subscriptions come
back, and what a replica had acknowledged before the kill is still in the history."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

from settings import Settings
from streaming.cache import Cache, make_cache
from streaming.cache.redis import RedisCache
from streaming.channels import (
    applied_key,
    book_key,
    candle_channel,
    candle_key,
    quote_channel,
    quote_key,
    trade_key,
)
from streaming.hub import Hub, Mailbox
from streaming.pubsub import Publication, PubSub, Retention, make_pubsub
from streaming.pubsub.redis import RedisPubSub
from streaming.redis_client import cluster_name
from tests.conftest import make_settings
from tests.test_backend_cache import (  # noqa: F401  (the same bodies, over the cluster)
    test_a_counter_counts_atomically_within_its_window_then_restarts,
    test_a_value_set_with_a_ttl_expires_and_a_later_set_keeps_it,
    test_get_many_answers_in_the_order_asked_with_none_for_missing,
    test_values_are_set_read_overwritten_and_deleted,
)
from tests.test_backend_pubsub import (  # noqa: F401
    received,
    subscribed,
    test_a_hub_round_trip,
    test_a_hub_working_through_a_backlog_lets_other_tasks_run,
    test_a_publish_reaches_a_subscriber_and_the_history_alike_once,
    test_a_slow_hub_subscriber_is_conflated_in_bounded_memory,
    test_history_holds_what_was_published_and_skips_repeats,
    test_history_is_capped_by_age,
    test_history_is_capped_by_count,
    test_only_subscribed_channels_are_delivered_in_order,  # quote:{A}, quote:{B}: one shard
)

ROOT = Path(__file__).resolve().parents[2]
REDIS_SH = ROOT / "scripts" / "replicated" / "redis.sh"
FIRST_PORT = int(os.environ.get("TRADO_REPLICATED_REDIS_PORT", "27001"))  # redis.sh's node 1
# symbols spread over the three shards (slots 0-5460, 5461-10922, 10923-16383 at creation)
SYMBOLS = [f"S{n}" for n in range(30)]


@pytest.fixture
def cluster_settings(replicated_env: dict[str, str]) -> Settings:
    assert replicated_env.get("REDIS_CLUSTER") == "true", "redis.sh did not write REDIS_CLUSTER"
    return make_settings(
        redis_url=replicated_env["REDIS_URL"],
        redis_cluster=True,
        redis_replica_wait_ms=int(replicated_env.get("REDIS_REPLICA_WAIT_MS", "0")),
        redis_key_prefix=f"test-cluster-{secrets.token_hex(3)}:",
    )


@pytest.fixture
async def cache(cluster_settings: Settings) -> AsyncIterator[Cache]:
    """Overrides conftest's `cache`: the Redis cache on the cluster, made by the app's factory."""
    made = make_cache(cluster_settings)
    assert isinstance(made, RedisCache)
    await made.connect()
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def pubsub(cluster_settings: Settings, retention: Retention) -> AsyncIterator[PubSub]:
    """Overrides conftest's `pubsub`: the Redis pub/sub on the cluster, the test's retention."""
    settings = cluster_settings.model_copy(
        update={
            "history_max_messages": retention.max_messages,
            "history_max_age_seconds": retention.max_age_seconds,
        }
    )
    made = make_pubsub(settings)
    assert isinstance(made, RedisPubSub)
    await made.connect()
    try:
        yield made
    finally:
        await made.close()


async def test_large_batches_reach_subscribers_and_history_in_order_per_channel(
    pubsub: PubSub,
) -> None:
    """tests/test_backend_pubsub.py's large batches, over channels of different shards: each
    channel's messages arrive once and in order; channels of different shards interleave in
    any order (each shard publishes on its own), which is all the delivery relies on."""
    channels = [quote_channel(s) for s in ("F", "G", "AAPL")]  # three shards
    listener = await subscribed(pubsub, *channels, "candle:F:1m")
    batch = [Publication(c, n, f"m{n}".encode()) for n in range(1, 151) for c in channels]
    await pubsub.publish_with_history(batch[:100])
    assert await pubsub.publish_with_history(batch) == 350, "a position already held is skipped"
    await pubsub.publish_many([("candle:F:1m", str(n).encode()) for n in range(450)])
    got: dict[str, list[bytes]] = {}
    async with asyncio.timeout(10):
        for channel, message in [await listener, *await received(pubsub, 450 + 450 - 1)]:
            got.setdefault(channel, []).append(message)
    for channel in channels:
        assert got[channel] == [f"m{n}".encode() for n in range(1, 151)]
        held = await pubsub.history(channel, 0)
        assert held is not None
        assert [p.position for p in held] == list(range(1, 151))
    assert got["candle:F:1m"] == [str(n).encode() for n in range(450)]


def owner_of(redis: RedisCluster, name: str) -> ClusterNode:
    """The primary of `name`'s slot, as the client knows it."""
    node = redis.get_node_from_key(name)
    assert node is not None
    return node


def redis_of(backend: PubSub | Cache) -> RedisCluster:
    assert isinstance(backend, RedisPubSub | RedisCache)
    redis = backend.redis
    assert isinstance(redis, RedisCluster), "REDIS_CLUSTER=true makes a cluster client"
    return redis


def test_names_are_tagged_on_their_subject() -> None:
    assert cluster_name("quote:AAPL") == "quote:{AAPL}"
    assert cluster_name("candle:AAPL:1m") == "candle:{AAPL}:1m"
    assert cluster_name("user:42") == "user:{42}"
    assert cluster_name("plain") == "plain"
    names = [
        quote_key("AAPL"),
        trade_key("AAPL"),
        book_key("AAPL"),
        applied_key("AAPL"),
        candle_key("AAPL", "1m"),
        quote_channel("AAPL"),
        candle_channel("AAPL", "1m"),
    ]
    slots = {key_slot(("trado:" + cluster_name(name)).encode()) for name in names}
    slots.add(key_slot(b"trado:history:" + cluster_name(quote_channel("AAPL")).encode()))
    assert slots == {key_slot(b"AAPL")}, "one symbol, one slot"


async def test_keys_in_redis_carry_the_tag(cache: Cache, pubsub: PubSub) -> None:
    assert isinstance(cache, RedisCache)
    await cache.set_many({quote_key(s): s.encode() for s in SYMBOLS})
    await pubsub.publish_with_history([Publication(quote_channel("AAPL"), 1, b"q")])
    redis = redis_of(cache)
    prefix = cache._prefix
    assert await redis.get(f"{prefix}quote:{{S7}}") == b"S7"
    assert await redis.exists(f"{prefix}history:quote:{{AAPL}}") == 1
    nodes = {owner_of(redis, f"{prefix}quote:{{{s}}}").name for s in SYMBOLS}
    assert len(nodes) == 3, "the symbols' keys spread over the three primaries"


async def test_publish_with_history_over_every_shard_is_atomic_per_channel_and_resumable(
    pubsub: PubSub,
) -> None:
    """A publisher writes 300 positions of 30 symbols (every shard) in batches spanning all
    of them; a subscriber joins halfway, then reads each channel's history since 0. Live
    messages and history together hold every position once per channel, in order: each
    append and its publish happened in one step (else a position could fall between the
    history read and the subscription), and a batch re-sent is skipped."""
    total = 300
    channels = [quote_channel(s) for s in SYMBOLS]
    batches = [
        [Publication(c, n, f"{c}/{n}".encode()) for n in range(start, start + 10) for c in channels]
        for start in range(1, total + 1, 10)
    ]
    live: dict[str, list[int]] = {c: [] for c in channels}
    subscribed = asyncio.Event()

    async def publish() -> None:
        for index, batch in enumerate(batches):
            assert await pubsub.publish_with_history(batch) == len(batch)
            if index == len(batches) // 2:
                await subscribed.wait()
            await asyncio.sleep(0)
        assert await pubsub.publish_with_history(batches[-1]) == 0, "a re-sent batch is skipped"

    async def listen() -> None:
        while not all(v and v[-1] == total for v in live.values()):
            channel, message = await pubsub.next_message()
            live[channel].append(int(message.split(b"/")[1]))

    listener = asyncio.create_task(listen())
    publisher = asyncio.create_task(publish())
    await asyncio.sleep(0.05)
    for channel in channels:
        await pubsub.subscribe(channel)
    subscribed.set()
    async with asyncio.timeout(30):
        await publisher
        histories = {c: await pubsub.history(c, 0) for c in channels}
        await listener
    for channel in channels:
        held = histories[channel]
        assert held is not None
        assert [p.position for p in held] == list(range(1, total + 1))
        first_live = live[channel][0]
        assert live[channel] == list(range(first_live, total + 1)), "live: in order, no gap"


async def test_the_hub_receives_sharded_messages(pubsub: PubSub) -> None:
    """The hub's subscriptions are SSUBSCRIBEs on the shard of each channel (none classic),
    and it receives channels of all three shards."""
    hub = Hub(pubsub)
    await hub.start()
    channels = [quote_channel(s) for s in SYMBOLS]
    try:
        async with hub.subscribe(channels, conflate=False) as mailbox:
            await pubsub.publish_with_history([Publication(c, 1, c.encode()) for c in channels])
            async with asyncio.timeout(5):
                got = {await mailbox.get() for _ in channels}
            assert got == {(c, c.encode()) for c in channels}
            redis = redis_of(pubsub)
            assert isinstance(pubsub, RedisPubSub)
            name = pubsub._channel_name(channels[0])
            owner = owner_of(redis, name)
            counts = await redis.execute_command("PUBSUB SHARDNUMSUB", name, target_nodes=owner)
            assert dict(counts) == {name.encode(): 1}, "one sharded subscription, at its shard"
            classic = await redis.execute_command("PUBSUB NUMSUB", name, target_nodes=owner)
            assert dict(classic) == {name.encode(): 0}, "no classic subscription"
    finally:
        await hub.stop()


async def publish_until_received(
    pubsub: PubSub, mailbox: Mailbox[bytes], channel: str, first: int
) -> tuple[list[int], int]:
    """A publisher that goes on through a failover, a position every 0.1 s (retrying a failed
    publish), until the hub delivers one: what the hub received, and the last position."""
    position = first
    got: list[int] = []
    while not got:
        try:
            await pubsub.publish_with_history([Publication(channel, position, b"%d" % position)])
            position += 1
        except Exception:  # a lost node, a slot without a primary yet: retry it
            pass
        await asyncio.sleep(0.1)
        got += [int(message) for _channel, message in mailbox.drain()]
    return got, position - 1


def redis_sh(*args: str) -> str:
    done = subprocess.run(
        [str(REDIS_SH), *args], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


async def test_a_primary_killed_fails_over_and_the_hub_resumes_with_history_intact(
    pubsub: PubSub,
) -> None:
    """kill -9 the primary of a symbol's slot: its replica takes over, the hub's sharded
    subscription comes back by itself, the publisher's next publications reach it, and every
    publication a replica had acknowledged before the kill is still in the history."""
    redis = redis_of(pubsub)
    await redis.initialize()  # the slot map, for `get_node_from_key`
    assert isinstance(pubsub, RedisPubSub)
    symbol = "AAPL"
    channel = quote_channel(symbol)
    owner = owner_of(redis, pubsub._channel_name(channel))
    primary = Redis(host=owner.host, port=int(owner.port))
    replica_info = (await primary.info("replication"))["slave0"]
    replica = Redis(host=replica_info["ip"], port=int(replica_info["port"]))
    node = int(owner.port) - FIRST_PORT + 1  # redis.sh's node number
    loop = asyncio.get_running_loop()
    hub = Hub(pubsub)
    await hub.start()
    try:
        async with hub.subscribe([channel], conflate=False) as mailbox:
            before = [Publication(channel, n, str(n).encode()) for n in range(1, 51)]
            assert await pubsub.publish_with_history(before) == 50
            async with asyncio.timeout(5):
                assert [int((await mailbox.get())[1]) for _ in range(50)] == list(range(1, 51))
            assert pubsub._replica_wait_ms > 0, "redis.sh asks for WAIT 1 (REDIS_REPLICA_WAIT_MS)"
            assert not pubsub._unreplicated, "WAIT 1: a replica acknowledged the 50"

            redis_sh("kill", str(node))
            killed_at = loop.time()
            async with asyncio.timeout(60):
                got, last = await publish_until_received(pubsub, mailbox, channel, first=51)
            silent = loop.time() - killed_at
            assert got == sorted(got), "in order"
            held = await pubsub.history(channel, 0)
            assert held is not None
            assert [p.position for p in held] == list(range(1, last + 1)), (
                "the history is intact: the 50 a replica acknowledged, and every later one"
            )
            assert silent < 20, f"the hub heard the channel again {silent:.1f}s after the kill"
            role = (await replica.info("replication"))["role"]
            assert role == "master", "the replica took over"
    finally:
        await hub.stop()
        await primary.aclose()
        await replica.aclose()
        redis_sh("start", str(node))  # back as a replica: the topology is whole again


async def test_a_replica_lost_does_not_stop_publishing(
    pubsub: PubSub, caplog: pytest.LogCaptureFixture
) -> None:
    """kill -9 the replica of a symbol's primary: publications go on, said once in the log.
    The first batch waits REDIS_REPLICA_WAIT_MS for the acknowledgement it cannot get; the
    primary then known to have no replica, the next ones do not wait (a failover leaves the
    promoted replica so too), until a replica is attached again: protected again."""
    redis = redis_of(pubsub)
    await redis.initialize()
    assert isinstance(pubsub, RedisPubSub)
    channel = quote_channel("AAPL")
    owner = owner_of(redis, pubsub._channel_name(channel))
    primary = Redis(host=owner.host, port=int(owner.port))
    try:
        replica_port = int((await primary.info("replication"))["slave0"]["port"])
    finally:
        await primary.aclose()
    node = replica_port - FIRST_PORT + 1
    redis_sh("kill", str(node))
    try:
        for position in (1, 2, 3):
            started = time.monotonic()
            assert await pubsub.publish_with_history([Publication(channel, position, b"x")]) == 1
            took = time.monotonic() - started
            if position > 1:
                assert took < pubsub._replica_wait_ms / 1000 / 2, f"batch {position}: {took:.3f}s"
        assert pubsub._unreplicated, "the cluster is known to be unprotected"
        warnings = [r for r in caplog.records if "reached no replica" in r.getMessage()]
        assert len(warnings) == 1, "said once"
        held = await pubsub.history(channel, 0)
        assert held is not None
        assert [p.position for p in held] == [1, 2, 3]
    finally:
        redis_sh("start", str(node))
    position = 4
    async with asyncio.timeout(60):  # the replica's full sync, then the next recheck
        while pubsub._unreplicated:
            await pubsub.publish_with_history([Publication(channel, position, b"x")])
            position += 1
            await asyncio.sleep(0.2)
