"""Where a (re)started feed resumes each symbol: its last sequence and price.

A symbol's numbering must continue across restarts of every process (a client detects a gap
by arithmetic), so the highest sequence found in three places wins: the log's last tick of the
symbol (Kafka keeps it across feed and bridge restarts), the cache's latest quote (written by
the bridge) and the database's latest candle (`last_sequence` and `close`; in embedded mode,
where log and cache live in memory, the only one a restart keeps).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import col, select

from models.db import SessionFactory, session_scope
from models.tables import Candle
from streaming.cache import Cache
from streaming.candles import Interval
from streaming.channels import quote_key
from streaming.errors import BadTick
from streaming.log import TickLog
from streaming.tick import Tick

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResumePoint:
    sequence: int  # the last sequence used: the next tick gets sequence + 1
    price: Decimal


ResumeLookup = Callable[[Collection[str]], Awaitable[dict[str, ResumePoint]]]


def resume_lookup(
    tick_log: TickLog, cache: Cache | None = None, sessions: SessionFactory | None = None
) -> ResumeLookup:
    """A lookup over the log and, when given, the cache and the database."""

    async def lookup(symbols: Collection[str]) -> dict[str, ResumePoint]:
        found = [from_ticks(await tick_log.last_ticks(symbols))]
        if cache is not None:
            found.append(await from_cache(cache, symbols))
        if sessions is not None:
            found.append(await from_candles(sessions, symbols))
        return highest(found)

    return lookup


def highest(sources: list[dict[str, ResumePoint]]) -> dict[str, ResumePoint]:
    best: dict[str, ResumePoint] = {}
    for points in sources:
        for symbol, point in points.items():
            if symbol not in best or point.sequence > best[symbol].sequence:
                best[symbol] = point
    return best


def from_ticks(raw: dict[str, bytes]) -> dict[str, ResumePoint]:
    points = {}
    for symbol, value in raw.items():
        try:
            tick = Tick.from_json(value)
        except BadTick as error:
            log.warning("ignoring an unreadable last tick of %s: %s", symbol, error)
            continue
        points[symbol] = ResumePoint(tick.sequence, tick.price)
    return points


async def from_cache(cache: Cache, symbols: Collection[str]) -> dict[str, ResumePoint]:
    ordered = sorted(symbols)
    values = await cache.get_many([quote_key(s) for s in ordered])
    return from_ticks({s: v for s, v in zip(ordered, values, strict=True) if v is not None})


async def from_candles(
    sessions: SessionFactory, symbols: Collection[str]
) -> dict[str, ResumePoint]:
    """The daily bar of highest `last_sequence` per symbol: every tick is folded into every
    interval, and daily bars are the fewest rows to search."""
    day = Interval.D1.value
    latest = (
        select(col(Candle.symbol), func.max(col(Candle.last_sequence)).label("sequence"))
        .where(col(Candle.symbol).in_(symbols), col(Candle.interval) == day)
        .group_by(col(Candle.symbol))
        .subquery()
    )
    query = (
        select(col(Candle.symbol), col(Candle.last_sequence), col(Candle.close))
        .join(
            latest,
            (col(Candle.symbol) == latest.c.symbol)
            & (col(Candle.last_sequence) == latest.c.sequence),
        )
        .where(col(Candle.interval) == day)
    )
    async with session_scope(sessions) as session:
        rows = (await session.exec(query)).all()
    return {symbol: ResumePoint(sequence, close) for symbol, sequence, close in rows}
