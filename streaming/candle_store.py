"""Candles in the database: load forming bars and upsert changed ones in one statement.

The upsert is keyed by (symbol, interval, start) and only replaces a stored bar with one of a
higher `last_sequence`, so a re-delivered batch, or a slower worker that lost its partition,
can never roll a bar back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import msgspec
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import Candle
from streaming.candles import Bar, Interval

BarKey = tuple[str, Interval, datetime]


async def load_bars(session: AsyncSession, keys: set[BarKey]) -> list[Bar]:
    """The stored bars among `keys` (one query; absent ones are simply not returned)."""
    if not keys:
        return []
    symbols = {k[0] for k in keys}
    starts = {k[2] for k in keys}
    rows = await session.exec(
        select(Candle).where(col(Candle.symbol).in_(symbols), col(Candle.start).in_(starts))
    )
    bars = [to_bar(row) for row in rows]
    return [bar for bar in bars if bar.key in keys]


async def upsert_bars(session: AsyncSession, bars: Sequence[Bar]) -> None:
    """One executemany of a fixed statement: compiled once per dialect, not once per flush (a
    multi-row VALUES of varying length defeats SQLAlchemy's cache and dominated the profile)."""
    if not bars:
        return
    values: list[dict[str, Any]] = [msgspec.structs.asdict(bar) for bar in bars]
    connection = await session.connection()
    await connection.execute(_upsert_statement(connection.dialect.name), values)


@cache
def _upsert_statement(dialect: str) -> Insert:
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(Candle)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["symbol", "interval", "start"],
        set_={
            name: excluded[name]
            for name in ("open", "high", "low", "close", "volume", "last_sequence")
        },
        where=col(Candle.last_sequence) < excluded["last_sequence"],
    )


def to_bar(row: Candle) -> Bar:
    return msgspec.convert(row, Bar, from_attributes=True)
