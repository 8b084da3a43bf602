"""Full mode end to end with the real services: Kafka → bridge → Redis → hub → WebSocket."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlmodel import select

from models.db import session_scope
from models.tables import Candle
from settings import Settings
from tests.utils.graphql_ws import GraphQLWS, graphql_ws, legacy_graphql_ws
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
from tests.utils.server import RunningServer, running_server

QUOTES = "subscription ($s: [String!]!) { quotes(symbols: $s) { symbol price sequence volume } }"
CANDLES = (
    "subscription ($s: String!) { candles(symbol: $s, interval: ONE_MINUTE) "
    "{ symbol open high low close volume lastSequence } }"
)


@pytest.fixture
async def live(full_settings: Settings) -> Settings:
    settings = isolated(full_settings)
    await create_topic(settings)
    return settings


@pytest.fixture
async def api(live: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(live) as server:
        yield server


async def quotes_until(ws: GraphQLWS, last: int, seconds: float = 20) -> list[dict[str, Any]]:
    """Quotes received until one with sequence `last` (or later) arrives."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(seconds):
        while not received or received[-1]["sequence"] < last:
            received.append((await ws.next_payload())["data"]["quotes"])
    return received


async def test_tick_reaches_websocket_clients_on_both_protocols(
    live: Settings, api: RunningServer
) -> None:
    symbol = symbol_for("E")
    await listed(live, symbol)
    async with (
        bridge_worker(live) as bridge,
        tick_producer(live) as producer,
        graphql_ws(api.ws) as modern,
        legacy_graphql_ws(api.ws) as legacy,
    ):
        await modern.subscribe("q", QUOTES, {"s": [symbol]})
        await legacy.subscribe("q", QUOTES, {"s": [symbol]})
        await modern.subscribe("c", CANDLES, {"s": symbol})
        await wait_subscribed(live, f"quote:{symbol}", f"candle:{symbol}:1m")
        prices = ["100.5", "101.25", "99.75", "100"]
        await send(producer, *(make_tick(symbol, n, p, "5") for n, p in enumerate(prices, 1)))

        for ws in (modern, legacy):
            quotes: list[dict[str, Any]] = []
            while len(quotes) < 4:
                payload = await ws.next_payload()
                if "quotes" in payload["data"]:
                    quotes.append(payload["data"]["quotes"])
            assert [(q["sequence"], q["price"]) for q in quotes] == [
                (n, p) for n, p in enumerate(["100.50", "101.25", "99.75", "100.00"], 1)
            ], "at the tick size's precision (0.01)"
        candle: dict[str, Any] = {}
        while candle.get("lastSequence") != 4:
            payload = await modern.next_payload()
            candle = payload["data"].get("candles", candle)
        assert candle == {
            "symbol": symbol,
            "open": "100.50",
            "high": "101.25",
            "low": "99.75",
            "close": "100.00",
            "volume": "20",
            "lastSequence": 4,
        }

        # Every flush interval the bridge writes candles, commits and measures its lag.
        worker = bridge.bridge
        assert worker is not None
        await eventually(lambda: worker.stats.ticks >= 4 and worker.uncommitted == 0)
        await eventually(lambda: REGISTRY.get_sample_value("trado_consumer_lag") == 0)
        # A late subscriber gets the snapshot at once, before any new tick.
        async with graphql_ws(api.ws) as late:
            await late.subscribe("q", QUOTES, {"s": [symbol]})
            assert (await late.next_payload())["data"]["quotes"]["sequence"] == 4

    async with session_scope(bridge.sessions) as session:
        rows = (await session.exec(select(Candle).where(Candle.symbol == symbol))).all()
    assert sorted(r.interval for r in rows) == ["15m", "1d", "1h", "1m", "5m"]
    assert {r.volume for r in rows} == {Decimal(20)}, "persisted to PostgreSQL"


async def test_hundred_subscribers_each_get_every_tick_in_order(
    live: Settings, api: RunningServer
) -> None:
    symbols = [symbol_for("H") for _ in range(5)]
    await listed(live, *symbols)
    per_symbol = 20
    rng = random.Random(4)
    wanted = [rng.sample(symbols, 2) for _ in range(100)]
    async with bridge_worker(live), tick_producer(live) as producer:
        clients = [graphql_ws(api.ws) for _ in range(100)]
        sockets = [await client.__aenter__() for client in clients]
        try:
            for ws, mine in zip(sockets, wanted, strict=True):
                await ws.subscribe("q", QUOTES, {"s": mine})
            await wait_subscribed(live, *(f"quote:{s}" for s in symbols))
            for n in range(1, per_symbol + 1):
                await send(producer, *(make_tick(symbol, n, str(100 + n)) for symbol in symbols))
                await asyncio.sleep(0.02)  # about 250 ticks a second in all

            async def read(ws: GraphQLWS) -> list[tuple[str, int]]:
                got: list[tuple[str, int]] = []
                async with asyncio.timeout(30):
                    while len(got) < 2 * per_symbol:
                        quote = (await ws.next_payload())["data"]["quotes"]
                        got.append((quote["symbol"], quote["sequence"]))
                return got

            results = await asyncio.gather(*(read(ws) for ws in sockets))
        finally:
            for client in clients:
                await client.__aexit__(None, None, None)
    for mine, got in zip(wanted, results, strict=True):
        for symbol in mine:
            assert [seq for s, seq in got if s == symbol] == list(range(1, per_symbol + 1))
