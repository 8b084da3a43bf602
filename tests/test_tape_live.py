"""Time and sales and order-book depth through the real pipeline (Kafka → bridge → Redis →
API → WebSocket): 10,000 book updates with an unbroken sequence chain, trades resumed with
`since`, `recentTrades`, and the arguments' errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from models.types import utcnow
from settings import Settings
from streaming.log import LogProducer
from streaming.tick import Tick
from tests.utils.graphql_ws import GraphQLWS, graphql_ws
from tests.utils.live import (
    bridge_worker,
    create_topic,
    isolated,
    listed,
    send,
    symbol_for,
    tick_producer,
    wait_subscribed,
)
from tests.utils.server import RunningServer, running_server

BOOK = """subscription ($s: String!, $d: Int!) { book(symbol: $s, depth: $d) {
  symbol snapshot sequence previousSequence bids { price size } asks { price size } } }"""
TRADES = """subscription ($s: [String!]!, $since: [SymbolSequence!]) {
  trades(symbols: $s, since: $since) { symbol price size aggressor sequence } }"""
RECENT = """query ($s: String!, $n: Int) { recentTrades(symbol: $s, first: $n) {
  price size aggressor sequence } }"""
QUOTE = "query ($s: String!) { quote(symbol: $s) { sequence } }"
UPDATES = 10_000
BATCH = 500


@pytest.fixture
async def live(full_settings: Settings) -> Settings:
    settings = isolated(full_settings)
    await create_topic(settings)
    return settings


@pytest.fixture
async def api(live: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(live) as server:
        yield server


def print_at(symbol: str, sequence: int, cents: int, *, buyer: bool = True) -> Tick:
    """A trade at the ask (a buyer lifted it) or at the bid, of `sequence` lots."""
    price = Decimal(cents) / 100
    spread = Decimal("0.02")
    bid, ask = (price - spread, price) if buyer else (price, price + spread)
    now = utcnow()
    return Tick(symbol, price, bid, ask, Decimal(sequence), sequence, now, now)


async def quoted_at(server: RunningServer, symbol: str, sequence: int) -> None:
    """Until the symbol's cached quote reached `sequence`."""
    async with httpx.AsyncClient(base_url=server.http) as client, asyncio.timeout(20):
        while True:
            body = {"query": QUOTE, "variables": {"s": symbol}}
            quote = (await client.post("/graphql", json=body)).json()["data"]["quote"]
            if quote and quote["sequence"] >= sequence:
                return
            await asyncio.sleep(0.05)


class BookReader:
    """Reads `book` messages into `received`, saying each time it has read one more."""

    def __init__(self, ws: GraphQLWS) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self.progressed = asyncio.Event()

    async def read(self, count: int) -> None:
        while len(self.received) < count:
            self.received.append((await self.ws.next_payload(30))["data"]["book"])
            self.progressed.set()

    async def until_read(self, count: int) -> None:
        while len(self.received) < count:
            self.progressed.clear()
            await self.progressed.wait()


async def produce_paced(producer: LogProducer, symbol: str, reader: BookReader) -> None:
    """Ticks 2 to UPDATES + 1 in batches, never more than two batches ahead of the reader
    (this checks the pipeline, not how a reader that falls behind is conflated)."""
    for start in range(2, UPDATES + 2, BATCH):
        await reader.until_read(start - 2 * BATCH)
        numbers = range(start, min(start + BATCH, UPDATES + 2))
        await send(
            producer, *(print_at(symbol, n, 10_000 + n % 37, buyer=n % 3 > 0) for n in numbers)
        )


async def test_ten_thousand_book_updates_arrive_whole_and_in_order(
    live: Settings, api: RunningServer
) -> None:
    symbol = symbol_for("B")
    await listed(live, symbol)
    async with bridge_worker(live), tick_producer(live) as producer, graphql_ws(api.ws) as ws:
        await send(producer, print_at(symbol, 1, 10_000))
        await quoted_at(api, symbol, 1)
        await ws.subscribe("b", BOOK, {"s": symbol, "d": 5})
        await wait_subscribed(live, f"quote:{symbol}")
        reader = BookReader(ws)
        reading = asyncio.create_task(reader.read(UPDATES + 1))
        await produce_paced(producer, symbol, reader)
        async with asyncio.timeout(60):
            await reading
    snapshot, *updates = reader.received
    assert (snapshot["snapshot"], snapshot["sequence"], snapshot["previousSequence"]) == (
        True,
        1,
        None,
    )
    last = snapshot["sequence"]
    for update in updates:  # the client's continuity rule
        assert not update["snapshot"]
        assert update["previousSequence"] == last, f"a gap before {update['sequence']}"
        last = update["sequence"]
    assert last == UPDATES + 1
    final = updates[-1]
    assert (len(final["bids"]), len(final["asks"])) == (5, 5)
    tick = print_at(symbol, UPDATES + 1, 10_000 + (UPDATES + 1) % 37, buyer=(UPDATES + 1) % 3 > 0)
    assert Decimal(final["bids"][0]["price"]) == tick.bid
    assert Decimal(final["asks"][0]["price"]) == tick.ask
    asks = [Decimal(level["price"]) for level in final["asks"]]
    assert asks == [tick.ask + Decimal("0.01") * n for n in range(5)], "a tick-size apart"


async def test_trades_resume_after_a_reconnect_and_recent_trades_look_back(
    live: Settings, api: RunningServer
) -> None:
    symbol = symbol_for("S")
    await listed(live, symbol)
    async with bridge_worker(live), tick_producer(live) as producer:
        await send(
            producer, *(print_at(symbol, n, 5000 + n, buyer=n % 2 == 1) for n in range(1, 6))
        )
        await quoted_at(api, symbol, 5)
        async with graphql_ws(api.ws) as ws:
            await ws.subscribe("t", TRADES, {"s": [symbol]})
            first = (await ws.next_payload())["data"]["trades"]
        assert first == {
            "symbol": symbol,
            "price": "50.05",
            "size": "5",
            "aggressor": "BUY",
            "sequence": 5,
        }, "the latest print at once"

        await send(
            producer, *(print_at(symbol, n, 5000 + n, buyer=n % 2 == 1) for n in range(6, 11))
        )
        await quoted_at(api, symbol, 10)
        async with graphql_ws(api.ws) as ws:
            await ws.subscribe(
                "t", TRADES, {"s": [symbol], "since": [{"symbol": symbol, "sequence": 5}]}
            )
            missed = [(await ws.next_payload())["data"]["trades"] for _ in range(5)]
            await send(producer, print_at(symbol, 11, 5011))
            live_print = (await ws.next_payload())["data"]["trades"]
    assert [(t["sequence"], t["price"], t["aggressor"]) for t in missed] == [
        (6, "50.06", "SELL"),
        (7, "50.07", "BUY"),
        (8, "50.08", "SELL"),
        (9, "50.09", "BUY"),
        (10, "50.10", "SELL"),
    ]
    assert live_print["sequence"] == 11

    async with httpx.AsyncClient(base_url=api.http) as client:
        body = {"query": RECENT, "variables": {"s": symbol.lower(), "n": 3}}
        recent = (await client.post("/graphql", json=body)).json()["data"]["recentTrades"]
    assert recent == [
        {"price": "50.11", "size": "11", "aggressor": "BUY", "sequence": 11},
        {"price": "50.10", "size": "10", "aggressor": "SELL", "sequence": 10},
        {"price": "50.09", "size": "9", "aggressor": "BUY", "sequence": 9},
    ]


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (BOOK, {"s": "AAPL", "d": 7}, "depth must be one of 5, 10, 20, got 7"),
        (BOOK, {"s": "NOPE", "d": 5}, "No instrument NOPE."),
        (TRADES, {"s": ["NOPE"]}, "No instrument NOPE."),
    ],
)
async def test_bad_arguments_are_clear_errors(
    live: Settings, api: RunningServer, query: str, variables: dict[str, Any], message: str
) -> None:
    await listed(live, "AAPL")
    async with graphql_ws(api.ws) as ws:
        await ws.subscribe("x", query, variables)
        error = (await ws.receive())["payload"]["errors"][0]
    assert (error["message"], error["extensions"]["code"]) == (message, "BAD_USER_INPUT")
