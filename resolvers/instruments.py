"""Instruments: loading the reference list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.instrument_file import InstrumentRow
from models.tables import Instrument
from models.types import utcnow


async def upsert_instruments(session: AsyncSession, rows: Sequence[InstrumentRow]) -> int:
    """Insert new symbols and update known ones; returns how many rows were written."""
    symbols = [r.symbol for r in rows]
    found = await session.exec(select(Instrument).where(col(Instrument.symbol).in_(symbols)))
    existing = {i.symbol: i for i in found}
    now = utcnow()
    for row in rows:
        fields: dict[str, Any] = {
            "name": row.name,
            "exchange": row.exchange,
            "sector": row.sector,
            "isin": row.isin,
            "currency": row.currency,
            "lot_size": row.lot_size,
            "tick_size": row.tick_size,
            "updated_at": now,
        }
        instrument = existing.get(row.symbol)
        if instrument is None:
            instrument = Instrument(symbol=row.symbol, created_at=now, **fields)
        else:
            instrument.sqlmodel_update(fields)
        session.add(instrument)
    await session.flush()
    return len(rows)


async def count_instruments(session: AsyncSession) -> int:
    return (await session.exec(select(func.count()).select_from(Instrument))).one()
