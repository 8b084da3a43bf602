"""Candles: history from PostgreSQL, and the live stream of a symbol's forming bar.

The bridge writes candles (`streaming/stages/`); this module only reads them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime

import orjson
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import Candle
from streaming.cache import Cache
from streaming.candles import Bar, Interval
from streaming.channels import candle_channel, candle_key
from streaming.hub import Hub

log = logging.getLogger(__name__)


def read_bar(raw: bytes) -> Bar | None:
    try:
        return Bar.from_json(raw)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as error:
        log.warning("skipping a malformed candle message: %r", error)
        return None


async def stream_candles(
    hub: Hub, cache: Cache, symbol: str, interval: Interval
) -> AsyncIterator[Bar]:
    """The forming bar now (if any), then every change; a new bar replaces the closed one.

    Conflated: a slow reader gets the bar's latest state, never a backlog.
    """
    async with hub.subscribe([candle_channel(symbol, interval.value)]) as mailbox:
        last: tuple[object, ...] = ()
        raw = await cache.get(candle_key(symbol, interval.value))
        if raw is not None and (bar := read_bar(raw)) is not None:
            last = (bar.start, bar.last_sequence)
            yield bar
        async for _channel, message in mailbox:
            bar = read_bar(message)
            if bar is not None and (not last or (bar.start, bar.last_sequence) > last):
                last = (bar.start, bar.last_sequence)
                yield bar


INTERVALS = tuple(i.value for i in Interval)


class BadRange(ValueError):
    pass


async def candle_history(
    session: AsyncSession,
    symbol: str,
    interval: str,
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
