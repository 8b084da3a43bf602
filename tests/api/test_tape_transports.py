"""`trades` and `book` take the shared fan-out on every transport, each opening at once from
the cached quote: the latest print, and the book's snapshot."""

from __future__ import annotations

import pytest

from tests.api.conftest import Quotes
from tests.utils.live import eventually
from tests.utils.server import RunningServer
from tests.utils.transports import TRANSPORTS, shared_subscriptions, subscription_client

TRADES = 'subscription { trades(symbols: ["ORCL"]) { symbol price size aggressor } }'
BOOK = """subscription { book(symbol: "ORCL", depth: 5) { symbol snapshot previousSequence
  bids { price } asks { price } } }"""


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_trades_and_book_take_the_shared_fanout_on_every_transport(
    api_server: RunningServer, quotes: Quotes, transport: str
) -> None:
    await quotes.set("ORCL", bid="120.00", ask="120.02", price="120.02")
    before = shared_subscriptions()
    async with subscription_client(transport, api_server) as client:
        await client.subscribe("trades", TRADES)
        trade = (await client.next_payload())["data"]["trades"]
        assert trade == {"symbol": "ORCL", "price": "120.02", "size": "100", "aggressor": "BUY"}
        await client.subscribe("book", BOOK)
        book = (await client.next_payload())["data"]["book"]
        assert shared_subscriptions() == before + 2
    assert (book["symbol"], book["snapshot"], book["previousSequence"]) == ("ORCL", True, None)
    assert [level["price"] for level in book["bids"]] == [
        "120.00",
        "119.99",
        "119.98",
        "119.97",
        "119.96",
    ]
    assert [level["price"] for level in book["asks"]] == [
        "120.02",
        "120.03",
        "120.04",
        "120.05",
        "120.06",
    ]
    await eventually(lambda: shared_subscriptions() == before)
