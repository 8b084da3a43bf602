"""Candle history from PostgreSQL (the live stream of the forming bar: `delivery.candles`).

The bridge writes candles (`streaming/stages/`); this module only reads them.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import Candle
from streaming.candles import Interval

INTERVALS = tuple(i.value for i in Interval)


class BadRange(ValueError):
    pass


async def candle_history(
    session: AsyncSession,
    symbol: str,
    interval: str,
    *,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[Candle]:
    """Bars of [start, end), oldest first; when more than `limit` match, the latest `limit`."""
    if interval not in INTERVALS:
        raise BadRange(f"interval must be one of {', '.join(INTERVALS)}")
    for name, moment in (("from", start), ("to", end)):
        if moment is not None and moment.tzinfo is None:
            raise BadRange(f"`{name}` needs a timezone offset (e.g. 2026-01-02T15:04:05Z)")
    if start is not None and end is not None and start >= end:
        raise BadRange("`from` must be before `to`")
    query = select(Candle).where(Candle.symbol == symbol, Candle.interval == interval)
    if start is not None:
        query = query.where(col(Candle.start) >= start)
    if end is not None:
        query = query.where(col(Candle.start) < end)
    rows = list(await session.exec(query.order_by(col(Candle.start).desc()).limit(limit)))
    rows.reverse()
    return rows
