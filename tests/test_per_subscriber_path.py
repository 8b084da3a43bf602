"""The public streams' per-subscriber path (an operation no transport marked for the shared
fan-out: `schema.subscribe` in-process), on an embedded runtime: it follows the shared path's
rules because it runs the same channels and subscribers (`delivery/fanout.py`
`quote_stream`, `candle_stream`), and is not counted as shared."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import ExecutionResult

from graph.context import Context
from graph.schema import make_schema
from streaming.candles import Bar, Interval
from streaming.channels import candle_channel, candle_key, quote_channel, quote_key
from streaming.pubsub import Publication
from streaming.runtime import Runtime
from streaming.tick import Tick
from tests.utils.transports import shared_subscriptions


def tick(symbol: str, sequence: int, price: str = "100.00") -> Tick:
    now = datetime.now(UTC)
    p = Decimal(price)
    return Tick(symbol, p, p, p + Decimal("0.02"), Decimal(1), sequence, now, now)


async def publish(runtime: Runtime, *ticks: Tick) -> None:
    """As the bridge's live lane does: onto the channel and its history at once."""
    await runtime.pubsub.publish_with_history(
        [Publication(quote_channel(t.symbol), t.sequence, t.to_json()) for t in ticks]
    )


class Stream:
    def __init__(self, results: AsyncIterator[ExecutionResult]) -> None:
        self._results = results

    async def next(self) -> dict[str, Any]:
        result = await asyncio.wait_for(anext(self._results), 5)
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data


async def subscribe(runtime: Runtime, query: str) -> Stream:
    schema = make_schema(runtime.settings)
    results = await schema.subscribe(query, context_value=Context(runtime))
    assert not isinstance(results, strawberry.types.ExecutionResult), results
    return Stream(results)


async def test_quotes_resume_then_go_live_in_order_once(runtime: Runtime) -> None:
    await publish(runtime, *(tick("AAPL", n) for n in range(1, 6)))
    await runtime.cache.set(quote_key("MSFT"), tick("MSFT", 40).to_json())
    before = shared_subscriptions()
    stream = await subscribe(
        runtime,
        'subscription { quotes(symbols: ["AAPL", "MSFT"], '
        'since: [{symbol: "AAPL", sequence: 2}]) { symbol sequence } }',
    )
    opening = [(await stream.next())["quotes"] for _ in range(4)]
    assert opening == [
        {"symbol": "AAPL", "sequence": 3},
        {"symbol": "AAPL", "sequence": 4},
        {"symbol": "AAPL", "sequence": 5},
        {"symbol": "MSFT", "sequence": 40},
    ], "what was missed after `since`, then the latest quote of the rest"
    assert shared_subscriptions() == before, "not the shared fan-out"
    await runtime.pubsub.publish(quote_channel("AAPL"), tick("AAPL", 5).to_json())  # a repeat
    await publish(runtime, tick("AAPL", 6), tick("MSFT", 41))
    live = [(await stream.next())["quotes"] for _ in range(2)]
    assert live == [{"symbol": "AAPL", "sequence": 6}, {"symbol": "MSFT", "sequence": 41}]


async def test_a_throttled_stream_sends_each_symbols_latest_once_per_period(
    runtime: Runtime,
) -> None:
    await runtime.cache.set(quote_key("AAPL"), tick("AAPL", 1).to_json())
    stream = await subscribe(
        runtime, 'subscription { quotes(symbols: ["AAPL"], throttleMs: 300) { sequence } }'
    )
    assert (await stream.next())["quotes"] == {"sequence": 1}
    for burst in ((2, 3, 4, 5), (6, 7)):  # the second within the period the first opened
        for n in burst:
            await publish(runtime, tick("AAPL", n))
        assert (await stream.next())["quotes"] == {"sequence": burst[-1]}, "each burst's latest"


async def test_book_opens_with_a_snapshot_and_candles_move_forward(runtime: Runtime) -> None:
    await runtime.cache.set(quote_key("AAPL"), tick("AAPL", 7).to_json())
    book = await subscribe(
        runtime, 'subscription { book(symbol: "AAPL", depth: 5) { snapshot sequence } }'
    )
    assert (await book.next())["book"] == {"snapshot": True, "sequence": 7}
    await publish(runtime, tick("AAPL", 8))
    assert (await book.next())["book"] == {"snapshot": False, "sequence": 8}

    start = datetime(2026, 3, 4, 14, 30, tzinfo=UTC)

    def bar(sequence: int, close: str) -> Bar:
        price = Decimal(close)
        return Bar("AAPL", Interval.M1, start, price, price, price, price, Decimal(1), sequence)

    await runtime.cache.set(candle_key("AAPL", "1m"), bar(10, "101").to_json())
    candles = await subscribe(
        runtime, 'subscription { candles(symbol: "AAPL", interval: ONE_MINUTE) { close } }'
    )
    assert (await candles.next())["candles"] == {"close": "101"}
    channel = candle_channel("AAPL", "1m")
    for update in (bar(9, "1"), bar(10, "101"), bar(11, "102")):  # older, repeat, newer
        await runtime.pubsub.publish(channel, update.to_json())
    assert (await candles.next())["candles"] == {"close": "102"}
