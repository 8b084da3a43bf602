"""The Finnhub-shaped adapter through the whole pipeline (feed → Kafka → bridge → Redis →
API → a graphql-transport-ws client): what its fake server sends, and what a subscriber of
`quotes` and `trades` sees of it."""

from __future__ import annotations

from settings import Settings
from streaming.feeds.connection import Backoff
from streaming.feeds.finnhub import FinnhubAdapter
from streaming.feeds.market import EventFeed
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
