"""Helpers for full-mode pipeline tests: per-test topic, group and key prefix, a producer of
ticks, an in-process bridge worker (as `python -m commands.bridge` runs it), and a check
that the API's hub has subscribed a channel in Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

import httpx
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from models.db import make_engine, make_session_factory, session_scope
from models.instrument_file import InstrumentRow
from models.types import utcnow
from settings import Settings
from streaming.log import LogProducer
from streaming.log.kafka import KafkaTickLog
from streaming.redis_client import cluster_name
from streaming.runtime import Runtime, open_runtime, start_bridge
from streaming.tick import Tick
from tests.api.conftest import Api
from tests.utils.server import RunningServer, running_server
from trading.instruments import upsert_instruments


def isolated(settings: Settings) -> Settings:
    """A fresh topic, consumer group and Redis prefix: no test sees another's ticks."""
    tag = secrets.token_hex(3)
    return settings.model_copy(
        update={
            "kafka_ticks_topic": f"{settings.kafka_ticks_topic}-{tag}",
            "kafka_bridge_group": f"{settings.kafka_bridge_group}-{tag}",
            "redis_key_prefix": f"{settings.redis_key_prefix}{tag}:",
        }
    )


def symbol_for(name: str) -> str:
    """A symbol no other test uses (candles are stored per symbol in the shared database)."""
    return f"{name}{secrets.token_hex(2).upper()}"


async def listed(
    settings: Settings,
    *symbols: str,
    exchange: str = "XNAS",
    currency: str = "USD",
    lot_size: Decimal = Decimal(1),
) -> None:
    """Register `symbols` as instruments (tick size 0.01): a subscription refuses a symbol
    no instrument has."""
    rows = [
        InstrumentRow(
            symbol,
            f"{symbol} Test",
            exchange,
            "Tests",
            None,
            currency,
            lot_size,
            Decimal("0.01"),
            Decimal(100),
        )
        for symbol in symbols
    ]
    engine = make_engine(settings)
    try:
        async with session_scope(make_session_factory(engine)) as session:
            await upsert_instruments(session, rows)
    finally:
        await engine.dispose()


def make_tick(
    symbol: str, sequence: int, price: str = "100", volume: str = "10", at: datetime | None = None
) -> Tick:
    p = Decimal(price)
    now = at or utcnow()
    spread = Decimal("0.01")
    return Tick(symbol, p, p - spread, p + spread, Decimal(volume), sequence, now, now)


async def create_topic(settings: Settings, partitions: int = 3) -> None:
    """The test's topic, with the settings' replication factor and min.insync.replicas."""
    assert settings.kafka_bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        topic = NewTopic(
            settings.kafka_ticks_topic,
            num_partitions=partitions,
            replication_factor=settings.kafka_replication_factor,
            topic_configs={"min.insync.replicas": str(settings.kafka_min_insync_replicas)},
        )
        await admin.create_topics([topic])
    finally:
        await admin.close()


@asynccontextmanager
async def tick_producer(settings: Settings) -> AsyncIterator[LogProducer]:
    assert settings.kafka_bootstrap_servers
    log = KafkaTickLog(settings.kafka_bootstrap_servers, topic=settings.kafka_ticks_topic)
    producer = log.producer()
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()
        await log.close()


async def send(producer: LogProducer, *ticks: Tick) -> None:
    """Produce `ticks` in order (numbered as given) and wait until Kafka acknowledged each."""
    results = await producer.send_batch([(t.symbol.encode(), t.to_json()) for t in ticks])
    errors = [error for error in results if error is not None]
    assert not errors, f"{len(errors)} of {len(ticks)} ticks not acknowledged: {errors[0]!r}"


@asynccontextmanager
async def bridge_worker(settings: Settings) -> AsyncIterator[Runtime]:
    """A bridge worker with its own runtime, as its own process would have."""
    async with open_runtime(settings) as runtime:
        start_bridge(runtime)
        yield runtime


async def wait_subscribed(settings: Settings, *channels: str, seconds: float = 30) -> None:
    """Until the hub's Redis connection subscribes every channel (pub/sub is not replayed)."""
    assert settings.redis_url
    if settings.redis_cluster:
        await wait_shard_subscribed(settings, *channels, seconds=seconds)
        return
    redis = Redis.from_url(settings.redis_url)
    names = [settings.redis_key_prefix + c for c in channels]
    try:
        async with asyncio.timeout(seconds):
            while True:
                counts = await redis.pubsub_numsub(*names)
                if all(count > 0 for _name, count in counts):
                    return
                await asyncio.sleep(0.02)
    finally:
        await redis.aclose()


async def wait_shard_subscribed(settings: Settings, *channels: str, seconds: float) -> None:
    """`wait_subscribed` on Redis Cluster: each channel's sharded subscription, asked of the
    primary of its slot."""
    assert settings.redis_url
    redis = RedisCluster.from_url(settings.redis_url)
    names = [settings.redis_key_prefix + cluster_name(c) for c in channels]
    try:
        async with asyncio.timeout(seconds):
            await redis.initialize()
            for name in names:
                owner = redis.get_node_from_key(name)
                while True:
                    counts = await redis.execute_command(
                        "PUBSUB SHARDNUMSUB", name, target_nodes=owner
                    )
                    if all(count > 0 for _name, count in counts):
                        break
                    await asyncio.sleep(0.02)
    finally:
        await redis.aclose()


async def eventually(check: Callable[[], bool], seconds: float = 30, step: float = 0.05) -> None:
    """Wait until `check()` holds (for counters updated just after what a test observed, or
    work behind a Kafka group join). `seconds` is a deadline on the clock, generous because a
    loaded machine is slow, not a measure: the wait ends as soon as `check()` holds."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {seconds}s: {check}")
        await asyncio.sleep(step)


@dataclass
class LiveMarket:
    """Full mode with one listed symbol: an API server, a client of its HTTP API, and a
    runtime standing for the bridge's process (each test starts its bridge)."""

    settings: Settings
    server: RunningServer
    api: Api
    worker: Runtime
    symbol: str


Market = TypeVar("Market", bound=LiveMarket)


@asynccontextmanager
async def live_market(
    full_settings: Settings, prefix: str, kind: type[Market]
) -> AsyncIterator[Market]:
    """A `kind` of `LiveMarket` on its own topic and channels, its symbol `prefix`-named."""
    settings = isolated(full_settings)
    await create_topic(settings)
    symbol = symbol_for(prefix)
    async with (
        running_server(settings) as server,
        httpx.AsyncClient(base_url=server.http, timeout=60) as client,
        open_runtime(settings) as worker,
    ):
        await listed(settings, symbol)
        yield kind(settings, server, Api(client), worker, symbol)
