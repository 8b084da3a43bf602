"""The real Redis and Kafka backends: round trips through the same classes the app uses."""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest

from settings import Settings
from streaming.cache.redis import RedisCache
from streaming.hub import Hub
from streaming.log.kafka import KafkaTickLog
from streaming.pubsub.redis import RedisPubSub


async def test_kafka_produce_consume_round_trip(full_settings: Settings) -> None:
    assert full_settings.kafka_bootstrap_servers
    topic = f"{full_settings.kafka_ticks_topic}-roundtrip-{secrets.token_hex(3)}"
    log = KafkaTickLog(full_settings.kafka_bootstrap_servers, topic=topic)
    producer = log.producer()
    await producer.start()
    try:
        results = await producer.send_batch([(b"AAPL", f"tick {n}".encode()) for n in range(5)])
        assert results == [None] * 5, "every record acknowledged"
    finally:
        await producer.stop()

    consumer = log.consumer(f"roundtrip-{secrets.token_hex(3)}")
    await consumer.start()
    received: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(received) < 5:
                received += [r.value for r in await consumer.get_batch(100, timeout_ms=500)]
        await consumer.commit()
    finally:
        await consumer.stop()
        await log.close()
    assert received == [f"tick {n}".encode() for n in range(5)], "one key stays in order"


async def test_redis_cache_round_trip(full_settings: Settings) -> None:
    assert full_settings.redis_url
    cache = RedisCache(full_settings.redis_url, prefix=full_settings.redis_key_prefix)
    await cache.connect()
    try:
        await cache.set_many({"a": b"1", "b": b"2"})
        assert await cache.get_many(["a", "missing", "b"]) == [b"1", None, b"2"]
        await cache.delete("a")
        assert await cache.get("a") is None
    finally:
        await cache.close()


async def test_redis_pubsub_round_trip_through_the_hub(
    full_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    assert full_settings.redis_url
    pubsub = RedisPubSub(full_settings.redis_url, prefix=full_settings.redis_key_prefix)
    publisher = RedisPubSub(full_settings.redis_url, prefix=full_settings.redis_key_prefix)
    await pubsub.connect()
    await publisher.connect()
    hub = Hub(pubsub)
    await hub.start()
    await asyncio.sleep(0.3)  # the listener idles before the first subscriber arrives
    try:
        async with hub.subscribe(["quote:AAPL"], conflate=False) as mailbox:
            assert hub.channel_count == 1
            await publisher.publish("quote:AAPL", b"one")
            await publisher.publish("quote:MSFT", b"not mine")
            await publisher.publish("quote:AAPL", b"two")
            async with asyncio.timeout(5):
                assert await mailbox.get() == ("quote:AAPL", b"one")
                assert await mailbox.get() == ("quote:AAPL", b"two")
        assert hub.channel_count == 0, "the last subscriber leaving unsubscribes upstream"
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        await hub.stop()
        await pubsub.close()
        await publisher.close()
