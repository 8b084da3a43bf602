"""The Finnhub-shaped adapter through the whole pipeline (feed → Kafka → bridge → Redis →
API → a graphql-transport-ws client): what its fake server sends, and what a subscriber of
`quotes` and `trades` sees of it."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from delivery.quotes import latest_quotes
from settings import Settings
from streaming.feeds.connection import Backoff
from streaming.feeds.finnhub import FinnhubAdapter
from streaming.feeds.market import EventFeed
from streaming.runtime import open_runtime
from tests.conftest import make_settings
from tests.utils.fake_provider import fake_provider
from tests.utils.feed_pipeline import feed_pipeline
from tests.utils.graphql_ws import graphql_ws
from tests.utils.live import symbol_for, wait_subscribed

QUOTES = (
    "subscription ($s: [String!]!) { quotes(symbols: $s) { symbol price bid ask volume sequence } }"
)


async def test_finnhub_trades_reach_a_subscriber_at_tick_precision(full_settings: Settings) -> None:
    symbol = symbol_for("F")
    async with fake_provider() as provider:
        feed = EventFeed(FinnhubAdapter(provider.url, [symbol], Backoff(0.05)))
        async with (
            feed_pipeline(full_settings, feed, [symbol]) as pipeline,
            graphql_ws(pipeline.server.ws) as client,
        ):
            await provider.wait_subscribed(connections=1, symbols=1)
            await client.subscribe("q", QUOTES, {"s": [symbol]})
            await wait_subscribed(pipeline.settings, f"quote:{symbol}")
            await provider.trade(symbol, "249", volume=30)
            quote = (await client.next_payload(30))["data"]["quotes"]
    assert quote == {
        "symbol": symbol,
        "price": "249.00",
        "bid": "249.00",
        "ask": "249.00",
        "volume": "30",
        "sequence": 1,
    }


async def test_embedded_mode_runs_the_provider_when_feed_says_so(tmp_path: Path) -> None:
    """`FEED=provider`: real prices with no service at all (SQLite, memory log and cache)."""
    async with fake_provider() as provider:
        settings = make_settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'trado.db'}",
            feed="provider",
            provider_url=provider.url,
            provider_symbols="AAPL",
        )
        async with open_runtime(settings) as runtime:
            await provider.wait_subscribed(connections=1, symbols=1)
            await provider.trade("AAPL", "249.5", volume=7)
            for _ in range(500):  # 10 s at most
                quotes = await latest_quotes(runtime.cache, ["AAPL"])
                if quotes:
                    break
                await asyncio.sleep(0.02)
    (quote,) = quotes
    assert (quote.price, quote.volume, quote.kind) == (Decimal("249.50"), Decimal(7), "trade")
