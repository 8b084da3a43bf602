"""Day statistics in the database: what a bridge worker resumes from when the cache lost them.

Upserts are keyed by symbol and only replace a row with one of a higher `last_sequence`, so a
re-delivered batch or a slower worker can never roll a symbol's figures back.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import msgspec
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import DayStatsRow
from streaming.tick import Tick
from trading.day_stats import DayStats

DayState = tuple[DayStats | None, bool]  # a symbol's statistics and whether it is halted


async def load_day_states(session: AsyncSession, symbols: Sequence[str]) -> dict[str, DayState]:
    rows = await session.exec(select(DayStatsRow).where(col(DayStatsRow.symbol).in_(symbols)))
    return {row.symbol: (_stats(row), row.halted) for row in rows}


async def upsert_day_states(session: AsyncSession, ticks: Sequence[Tick]) -> None:
    """The state each tick carries (`day`, `halted`), one row per symbol."""
    values: list[dict[str, Any]] = [_row(tick) for tick in ticks if tick.day is not None]
    if not values:
        return
    connection = await session.connection()
    await connection.execute(_upsert_statement(connection.dialect.name), values)


def _row(tick: Tick) -> dict[str, Any]:
    assert tick.day is not None
    row = msgspec.structs.asdict(tick.day)
    row.update(symbol=tick.symbol, halted=bool(tick.halted), last_sequence=tick.sequence)
    return row


def _stats(row: DayStatsRow) -> DayStats:
    return msgspec.convert(row, DayStats, from_attributes=True)


@cache
def _upsert_statement(dialect: str) -> Insert:
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(DayStatsRow)
    excluded = statement.excluded
    columns = [c.name for c in DayStatsRow.__table__.columns if c.name != "symbol"]  # type: ignore[attr-defined]
    return statement.on_conflict_do_update(
        index_elements=["symbol"],
        set_={name: excluded[name] for name in columns},
        where=col(DayStatsRow.last_sequence) < excluded["last_sequence"],
    )
