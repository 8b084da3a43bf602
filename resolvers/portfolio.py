"""The caller's portfolio: their holdings valued at the latest quotes."""

from __future__ import annotations

from delivery.quotes import latest_quotes
from models.db import SessionFactory
from streaming.cache import Cache
from trading.portfolio import PortfolioValue, holdings


async def portfolio(sessions: SessionFactory, cache: Cache, user_id: int) -> PortfolioValue:
    held = await holdings(sessions, user_id)
    quotes = await latest_quotes(cache, [p.symbol for p in held.positions])
    return held.at_prices({tick.symbol: tick.price for tick in quotes})
