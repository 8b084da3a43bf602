"""Full mode under stress and failure, with the real services: a stalled WebSocket client,
Redis restarted mid-stream, a bridge crashing between its writes and its commit, and two bridge
workers sharing the partitions."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import murmur2
from redis.asyncio import Redis
from sqlmodel import select
from websockets.asyncio.client import connect

from models.db import session_scope
from models.tables import Candle
from models.types import utcnow
from settings import Settings
from streaming import metrics
from streaming.pubsub import Publication
from streaming.pubsub.redis import RedisPubSub
from streaming.runtime import make_bridge, open_runtime
from streaming.stages.candles import CandleStage
from streaming.tick import Tick
from tests.utils.graphql_ws import PROTOCOL, GraphQLWS, graphql_ws, legacy_graphql_ws
from tests.utils.live import (
    bridge_worker,
    create_topic,
    eventually,
    isolated,
    listed,
    make_tick,
    send,
    symbol_for,
    tick_producer,
    wait_subscribed,
)
from tests.utils.redis_server import PrivateRedis
from tests.utils.server import running_server
from tests.utils.tcp_cut import TcpCut

QUOTES = "subscription ($s: [String!]!) { quotes(symbols: $s) { symbol sequence } }"
# About 1 kB a message: with small socket buffers, a stalled client's fill in a few hundred.
HEAVY_QUOTES = (
    "subscription ($s: [String!]!) { quotes(symbols: $s) { symbol sequence "
    + " ".join(f"p{n}: price b{n}: bid a{n}: ask" for n in range(12))
    + " } }"
)


async def live_settings(full_settings: Settings, **changes: Any) -> Settings:
    settings = isolated(full_settings).model_copy(update=changes)
    await create_topic(settings)
    return settings


async def sequences_until(ws: GraphQLWS, last: int, seconds: float = 60) -> list[int]:
    """Sequences received until `last`; `seconds` bounds the whole wait (a Kafka group join
    or rebalance may come between two of them)."""
    got: list[int] = []
    async with asyncio.timeout(seconds):
        while not got or got[-1] < last:
            got.append((await ws.next_payload(seconds))["data"]["quotes"]["sequence"])
    return got


async def test_stalled_websocket_client_does_not_delay_a_fast_one(
    full_settings: Settings,
) -> None:
    """A WebSocket client that stops reading (small socket buffers both ends, so the server's
    sends to it block) while 3000 ticks stream: the fast client still gets every tick, soon."""
    settings = await live_settings(
        full_settings, max_aliases=100, max_query_tokens=5000, subscriber_buffer_messages=512
    )
    symbol = symbol_for("S")
    await listed(settings, symbol)
    total = 3000
    async with (
        running_server(settings, send_buffer_bytes=16384) as api,
        bridge_worker(settings),
    ):
        tiny = socket.socket()
        tiny.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        tiny.setblocking(False)
        port = int(api.ws.rsplit(":", 1)[1].split("/")[0])
        await asyncio.get_running_loop().sock_connect(tiny, ("127.0.0.1", port))
        async with (
            connect(api.ws, sock=tiny, subprotocols=[PROTOCOL], max_queue=1) as raw,  # type: ignore[list-item]
            graphql_ws(api.ws) as fast,
            tick_producer(settings) as producer,
        ):
            slow = GraphQLWS(raw)
            await slow.send({"type": "connection_init", "payload": {}})
            assert (await slow.receive())["type"] == "connection_ack"
            await slow.subscribe("q", HEAVY_QUOTES, {"s": [symbol]})
            await fast.subscribe("q", QUOTES, {"s": [symbol]})
            await wait_subscribed(settings, f"quote:{symbol}")
            started = time.monotonic()
            for first in range(1, total + 1, 50):  # 1000 ticks a second, in bursts of 50
                burst = range(first, min(first + 50, total + 1))
                await send(producer, *(make_tick(symbol, n, str(100 + n % 50)) for n in burst))
                await asyncio.sleep(0.05)
            received = await sequences_until(fast, total, seconds=60)
            fast_seconds = time.monotonic() - started
            slow_got: list[int] = []  # now read the slow one's backlog
            while not slow_got or slow_got[-1] < total:
                slow_got.append((await slow.next_payload())["data"]["quotes"]["sequence"])

    assert received == list(range(1, total + 1)), "the fast client got every tick, in order"
    assert fast_seconds < 30
    assert slow_got == sorted(set(slow_got)), "the slow client's ticks are in order, no repeats"
    assert slow_got[-1] == total, "and it catches up with the latest"
    assert len(slow_got) < total, "the stalled client got conflated updates, not a backlog"


@pytest.mark.parametrize("client", [graphql_ws, legacy_graphql_ws], ids=["fanout", "legacy"])
async def test_redis_restart_mid_stream(
    full_settings: Settings, tmp_path: Path, client: Any
) -> None:
    """Redis stops and starts again under a running API and bridge: the same subscriptions
    carry on (the client never re-subscribes), and every tick arrives once, in order: what
    pub/sub missed before the hub re-subscribed is read from the history."""
    redis = PrivateRedis(tmp_path)
    await redis.start()
    settings = await live_settings(full_settings, redis_url=redis.url)
    symbol = symbol_for("R")
    await listed(settings, symbol)
    try:
        async with (
            running_server(settings) as api,
            bridge_worker(settings),
            tick_producer(settings) as producer,
            client(api.ws) as ws,
        ):
            await ws.subscribe("q", QUOTES, {"s": [symbol]})
            await wait_subscribed(settings, f"quote:{symbol}")
            await send(producer, *(make_tick(symbol, n) for n in range(1, 6)))
            before = await sequences_until(ws, 5)

            await redis.stop()
            await send(producer, *(make_tick(symbol, n) for n in range(6, 11)))
            await asyncio.sleep(1)
            await redis.start()

            # Keep ticking until the stream visibly resumes.
            after: list[int] = []
            sequence = 10
            async with asyncio.timeout(30):
                while not after or after[-1] <= 10:
                    sequence += 1
                    await send(producer, make_tick(symbol, sequence))
                    try:
                        async with asyncio.timeout(0.2):
                            while True:
                                payload = await ws.next_payload()
                                after.append(payload["data"]["quotes"]["sequence"])
                    except TimeoutError:
                        pass
    finally:
        await redis.stop()
    assert before == [1, 2, 3, 4, 5]
    assert after == list(range(6, after[-1] + 1)), "every tick once, in order, none missing"
    assert after[-1] > 10, "ticks produced after the restart arrive on the same subscription"


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so the bridge's retry does not catch it."""


class CrashAfterWrites:
    """A last stage that kills the worker once, when it first sees (`apply`) or first makes
    durable (`flush`) a tick at or past `sequence`: after the other stages did their part,
    before the watermark and the offset commit."""

    name = "crash"

    def __init__(self, sequence: int, phase: str) -> None:
        self.sequence = sequence
        self.phase = phase
        self.seen = 0
        self.crashed = False

    async def apply(self, ticks: list[Tick]) -> None:
        self.seen = max([self.seen, *(t.sequence for t in ticks)])
        if self.phase == "apply":
            self._maybe_crash()

    async def flush(self) -> None:
        if self.phase == "flush":
            self._maybe_crash()

    def _maybe_crash(self) -> None:
        if not self.crashed and self.seen >= self.sequence:
            self.crashed = True
            raise Crash

    def forget(self) -> None:
        return None


@pytest.mark.parametrize("phase", ["apply", "flush"])
async def test_bridge_crash_and_restart_loses_and_repeats_nothing(
    full_settings: Settings, phase: str
) -> None:
    """`apply`: ticks published and folded, candles not yet written. `flush`: candles
    written to PostgreSQL, offsets not committed. Either way the restarted worker gets the
    uncommitted ticks again and nothing is lost or counted twice."""
    settings = await live_settings(full_settings)
    symbol = symbol_for("B")
    await listed(settings, symbol)
    volumes = [Decimal(n) for n in range(1, 21)]
    async with (
        running_server(settings) as api,
        open_runtime(settings) as worker,
        tick_producer(settings) as producer,
        graphql_ws(api.ws) as ws,
    ):
        await ws.subscribe("q", QUOTES, {"s": [symbol]})
        await wait_subscribed(settings, f"quote:{symbol}")
        first = make_bridge(worker)
        crash = CrashAfterWrites(sequence=11, phase=phase)
        first.stages = [*first.stages, crash]
        run = asyncio.create_task(first.run())
        ticks = [make_tick(symbol, n, "100", str(v)) for n, v in enumerate(volumes, 1)]
        await send(producer, *ticks[:10])
        assert await sequences_until(ws, 10) == list(range(1, 11))
        # Clients may see a tick before its batch has passed the later stages: wait for
        # the bridge's own account of 1-10 being applied, flushed and committed.
        await eventually(
            lambda: first.stats.ticks == 10 and first.pending == 0 and first.uncommitted == 0
        )
        await send(producer, *ticks[10:])
        async with asyncio.timeout(60):
            with contextlib.suppress(Crash):
                await run
        assert crash.crashed

        second = make_bridge(worker)  # a restarted process: nothing in memory
        rerun = asyncio.create_task(second.run())
        try:
            rest = await sequences_until(ws, 20)
            await eventually(lambda: second.stats.ticks >= 10 and second.pending == 0)
        finally:
            rerun.cancel()
            await asyncio.gather(rerun, return_exceptions=True)
        async with session_scope(worker.sessions) as session:
            bars = (await session.exec(select(Candle).where(Candle.symbol == symbol))).all()
    assert rest == list(range(11, 21)), "every tick once, in order, across the crash"
    assert second.stats.ticks == 10, "the uncommitted ticks were delivered again"
    [candle_stage] = [s for s in second.stages if isinstance(s, CandleStage)]
    if phase == "flush":
        assert candle_stage.book.stale > 0, "written candles were recognised as written"
    assert {b.volume for b in bars} == {sum(volumes)}, "no tick counted twice or lost"
    assert {b.last_sequence for b in bars} == {20}


def symbols_on_every_partition(partitions: int = 3, each: int = 2) -> list[str]:
    """Fresh symbols, `each` of them hashed (as the producer does) to every partition."""
    chosen: dict[int, list[str]] = {p: [] for p in range(partitions)}
    while any(len(found) < each for found in chosen.values()):
        symbol = symbol_for("W")
        slot = chosen[(murmur2(symbol.encode()) & 0x7FFFFFFF) % partitions]
        if len(slot) < each:
            slot.append(symbol)
    return [s for found in chosen.values() for s in found]


async def test_two_bridge_workers_share_the_partitions(full_settings: Settings) -> None:
    """Two workers of one group: each applies its partitions' ticks. Across the rebalance
    when the second joins, the first commits what it applied, so nearly every tick is applied
    once (a batch fetched just before the rebalance may be applied twice, harmlessly), and
    every tick reaches the client exactly once, in order."""
    settings = await live_settings(full_settings)
    symbols = symbols_on_every_partition()
    await listed(settings, *symbols)
    async with (
        running_server(settings) as api,
        bridge_worker(settings) as one,
        bridge_worker(settings) as two,
        tick_producer(settings) as producer,
        graphql_ws(api.ws) as ws,
    ):
        assert one.bridge is not None
        assert two.bridge is not None
        bridges = (one.bridge, two.bridge)
        await ws.subscribe("q", QUOTES, {"s": symbols})
        await wait_subscribed(settings, *(f"quote:{s}" for s in symbols))
        got: dict[str, list[int]] = {s: [] for s in symbols}
        sequence = 0
        async with asyncio.timeout(60):  # a group join and rebalance under load: seconds
            while sequence < 20 or not all(b.stats.ticks for b in bridges):
                sequence += 1  # tick until both workers have their partitions (and 20 rounds)
                await send(producer, *(make_tick(s, sequence) for s in symbols))
                await asyncio.sleep(0.02)
            while any(not seq or seq[-1] < sequence for seq in got.values()):
                quote = (await ws.next_payload())["data"]["quotes"]
                got[quote["symbol"]].append(quote["sequence"])
        # the last batch's counters are updated just after its publish
        await eventually(lambda: sum(b.stats.ticks for b in bridges) >= len(symbols) * sequence)
        shares = [b.stats.ticks for b in bridges]
    assert all(seq == list(range(1, sequence + 1)) for seq in got.values())
    total = len(symbols) * sequence
    assert total <= sum(shares) <= total + 60, "each tick applied, hardly any twice"
    assert all(shares), f"both workers did part of the work: {shares}"


async def test_quotes_flow_through_a_database_outage_and_candles_catch_up(
    full_settings: Settings,
) -> None:
    """The bridge loses PostgreSQL for 3 s (its connections reset, new ones refused): every
    quote still reaches the client within a second of its tick, while candles wait in the
    durable lane's backlog; when the database is back they catch up, every tick counted once."""
    settings = await live_settings(full_settings)
    cut = TcpCut.in_front_of(settings.database_url)
    await cut.restore()
    bridge_settings = settings.model_copy(
        update={"database_url": cut.url_through(settings.database_url)}
    )
    symbol = symbol_for("P")
    await listed(settings, symbol)
    at = utcnow()  # every tick in one bar of each interval, whatever the clock does meanwhile
    delays: list[float] = []
    async with (
        running_server(settings) as api,
        bridge_worker(bridge_settings) as worker,
        tick_producer(settings) as producer,
        graphql_ws(api.ws) as ws,
    ):
        bridge = worker.bridge
        assert bridge is not None
        await ws.subscribe("q", QUOTES, {"s": [symbol]})
        await wait_subscribed(settings, f"quote:{symbol}")
        await send(producer, *(make_tick(symbol, n, at=at) for n in range(1, 11)))
        assert await sequences_until(ws, 10) == list(range(1, 11))
        await eventually(lambda: bridge.pending == 0 and bridge.uncommitted == 0)

        await cut.cut()
        for n in range(11, 41):
            sent = time.monotonic()
            await send(producer, make_tick(symbol, n, at=at))
            quote = (await ws.next_payload(seconds=1))["data"]["quotes"]
            assert quote["sequence"] == n
            delays.append(time.monotonic() - sent)
            await asyncio.sleep(0.1)
        behind = bridge.backlog_ticks + len(bridge._unflushed)
        await cut.restore()
        await eventually(lambda: bridge.pending == 0 and bridge.uncommitted == 0, seconds=30)
        async with session_scope(worker.sessions) as session:
            bars = (await session.exec(select(Candle).where(Candle.symbol == symbol))).all()
    assert max(delays) < 1.0, "quotes never waited on the database"
    assert behind > 0, "candles waited for the database meanwhile"
    assert {b.volume for b in bars} == {Decimal(400)}, "40 ticks of volume 10, each once"
    assert {b.last_sequence for b in bars} == {40}


@pytest.mark.parametrize("client", [graphql_ws, legacy_graphql_ws], ids=["fanout", "legacy"])
async def test_ticks_pubsub_missed_are_read_from_the_history(
    full_settings: Settings, client: Any
) -> None:
    """Ticks 6-10 reach the channel's history but not this process's pub/sub connection (as
    across a reconnect, or a Redis restart before the hub subscribed again): when tick 11
    shows the jump, 6-10 are read from the history and delivered first, in order, once."""
    settings = await live_settings(full_settings)
    assert settings.redis_url
    symbol = symbol_for("G")
    await listed(settings, symbol)
    channel = f"quote:{symbol}"
    ticks = [make_tick(symbol, n) for n in range(1, 16)]
    filled = metrics.LIVE_GAPS.labels("filled")
    filled_before = filled._value.get()
    publisher = RedisPubSub(settings.redis_url, prefix=settings.redis_key_prefix)
    redis = Redis.from_url(settings.redis_url)
    await publisher.connect()
    try:
        async with running_server(settings) as api, client(api.ws) as ws:
            await ws.subscribe("q", QUOTES, {"s": [symbol]})
            await wait_subscribed(settings, channel)
            await publisher.publish_with_history(
                [Publication(channel, t.sequence, t.to_json()) for t in ticks[:5]]
            )
            for tick in ticks[5:10]:  # into the history only: pub/sub never carried them
                await redis.xadd(
                    f"{settings.redis_key_prefix}history:{channel}",
                    {"t": str(int(time.time() * 1000)), "m": tick.to_json()},
                    id=f"{tick.sequence}-1",
                )
            await publisher.publish_with_history(
                [Publication(channel, t.sequence, t.to_json()) for t in ticks[10:]]
            )
            got = await sequences_until(ws, 15)
            await asyncio.sleep(0.3)
            with pytest.raises(TimeoutError):
                await ws.next_payload(0.3)
    finally:
        await publisher.close()
        await redis.aclose()
    assert got == list(range(1, 16)), "every tick once, in order"
    assert filled._value.get() - filled_before == 5, "counted as filled from the history"
