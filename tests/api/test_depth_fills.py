"""MARKET orders walk the order book (PostgreSQL, Redis and the API over HTTP): a buy larger
than the top level pays the depth-weighted price, to the cent; LIMIT orders stay on the quote.

The book is the simulated one around the cached quote (`streaming.book`), pinned here level by
level, so the figures below are worked out by hand from it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from streaming.book import book_of
from streaming.channels import quote_key
from streaming.tick import Tick
from tests.api.conftest import Account, Api, Quotes
from tests.api.test_trading import START, folio, place

D = Decimal
NOW = datetime.now(UTC)
QUOTE = Tick("MSFT", D("400.20"), D("400.10"), D("400.20"), D(100), 7, NOW, NOW)
ASKS = ((D("400.20"), D(88)), (D("400.21"), D(75)), (D("400.22"), D(190)))
BIDS = ((D("400.10"), D(73)), (D("400.09"), D(84)), (D("400.08"), D(143)))


async def test_a_market_order_larger_than_the_top_level_walks_the_book(
    api: Api, account: Account, quotes: Quotes
) -> None:
    book = book_of(QUOTE, D("0.01"), D(1), depth=3)
    assert (book.asks, book.bids) == (ASKS, BIDS), "the simulated book these figures assume"
    await quotes.cache.set(quote_key("MSFT"), QUOTE.to_json())

    # 88 @ 400.20 + 75 @ 400.21 + 77 @ 400.22 = 96,050.29 for 240: 400.20954 -> 400.21
    bought = await place(api, account.token, symbol="MSFT", quantity="240")
    assert (bought["status"], bought["averageFillPrice"]) == ("FILLED", "400.21")
    assert D((await folio(api, account.token))["cash"]) == START - D("96050.40")

    # 73 @ 400.10 + 84 @ 400.09 + 43 @ 400.08 = 80,018.30 for 200: 400.0915 -> 400.09
    sold = await place(api, account.token, symbol="MSFT", side="SELL", quantity="200")
    assert (sold["status"], sold["averageFillPrice"]) == ("FILLED", "400.09")
    assert D((await folio(api, account.token))["cash"]) == START - D("96050.40") + D("80018")


async def test_a_limit_order_still_fills_on_the_quote(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.cache.set(quote_key("MSFT"), QUOTE.to_json())
    order = await place(
        api, account.token, symbol="MSFT", type="LIMIT", quantity="240", limitPrice="400.30"
    )
    assert (order["status"], order["averageFillPrice"]) == ("FILLED", "400.20")


async def test_within_the_top_level_a_market_order_pays_the_touch(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.cache.set(quote_key("MSFT"), QUOTE.to_json())
    order = await place(api, account.token, symbol="MSFT", quantity="88")
    assert order["averageFillPrice"] == "400.20"
