"""Instruments, the reference data every order names: the plain record the API and the
core pass around, and the writes and reads of the instrument table."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.instrument_file import InstrumentRow
from models.tables import Instrument, InstrumentFields
from models.types import utcnow


class InstrumentRecord(InstrumentFields):
    """An instrument as the API sees it (the table row stays inside its session); the
    instrument cache keeps it as its JSON."""

    model_config = {"frozen": True, "from_attributes": True}  # a read model (trading/records.py)
    id: int

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: bytes) -> InstrumentRecord:
        return cls.model_validate_json(raw)


async def upsert_instruments(session: AsyncSession, rows: Sequence[InstrumentRow]) -> int:
    """Insert new symbols and update known ones; returns how many rows were written.

    Callers that commit must then `invalidate_instruments` (see `replace_instruments`).
    """
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


async def instruments_by_ids(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, InstrumentRecord]:
    """One query for many ids (the DataLoader's batch)."""
    found = await session.exec(select(Instrument).where(col(Instrument.id).in_(list(ids))))
    return {row.id: InstrumentRecord.model_validate(row) for row in found if row.id is not None}


async def tick_sizes(session: AsyncSession, symbols: Sequence[str]) -> dict[str, Decimal]:
    """The tick size of each listed symbol among `symbols`."""
    found = await session.exec(select(Instrument).where(col(Instrument.symbol).in_(list(symbols))))
    return {row.symbol: row.tick_size for row in found}
