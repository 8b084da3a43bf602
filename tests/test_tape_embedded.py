"""Quotes, trades and a book of one symbol on one socket (embedded mode, the simulator
ticking): each stream is its own view of the same ticks, and they agree tick for tick."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.utils.graphql_ws import graphql_ws
from tests.utils.server import RunningServer

QUOTES = 'subscription { quotes(symbols: ["AAPL"]) { sequence price bid ask volume } }'
TRADES = 'subscription { trades(symbols: ["AAPL"]) { sequence price size aggressor } }'
BOOK = """subscription { book(symbol: "AAPL", depth: 5) { sequence previousSequence snapshot
  bids { price size } asks { price size } } }"""
FIELDS = {"q": "quotes", "t": "trades", "b": "book"}


async def test_each_view_of_a_symbol_agrees_with_its_quotes(embedded_server: RunningServer) -> None:
    seen: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in FIELDS}
    async with graphql_ws(embedded_server.ws) as ws:
        for name, query in (("q", QUOTES), ("t", TRADES), ("b", BOOK)):
            await ws.subscribe(name, query)
        while min(len(by_sequence) for by_sequence in seen.values()) < 8:
            message = await ws.receive()
            if message["type"] == "next":
                item = message["payload"]["data"][FIELDS[message["id"]]]
                seen[message["id"]][item["sequence"]] = item
    common = seen["q"].keys() & seen["t"].keys() & seen["b"].keys()
    assert len(common) >= 5
    for sequence in common:
        quote, trade, book = seen["q"][sequence], seen["t"][sequence], seen["b"][sequence]
        assert (trade["price"], trade["size"]) == (quote["price"], quote["volume"])
        at_ask = Decimal(quote["price"]) >= Decimal(quote["ask"])
        assert trade["aggressor"] == ("BUY" if at_ask else "SELL")
        assert (book["bids"][0]["price"], book["asks"][0]["price"]) == (quote["bid"], quote["ask"])
    updates = [b for b in seen["b"].values() if not b["snapshot"]]
    assert all(b["previousSequence"] == b["sequence"] - 1 for b in updates)
