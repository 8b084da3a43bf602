"""Instruments: the reference list, search with cursor pages, and the instrument cache.

Lookups by symbol go through the cache (Redis in full mode, as the original platform's
instrument cache did) for `INSTRUMENT_CACHE_SECONDS`; every write path deletes the changed
symbols' entries after its commit, so a reader never keeps a stale instrument for long.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import DatabaseUnavailable, SessionFactory, session_scope
from models.instrument_file import InstrumentRow
from models.tables import Instrument
from models.types import utcnow
from resolvers.pagination import Page, decode_cursor, make_page
from streaming.cache import Cache

log = logging.getLogger(__name__)

INSTRUMENT_CACHE_SECONDS = 3600
MAX_SEARCH_LENGTH = 100


@dataclass(frozen=True, slots=True)
class InstrumentRecord:
    """An instrument as the API sees it (the table row stays inside its session)."""

    id: int
    symbol: str
    name: str
    exchange: str
    sector: str
    isin: str | None
    currency: str
    lot_size: Decimal
    tick_size: Decimal

    @classmethod
    def of(cls, row: Instrument) -> InstrumentRecord:
        assert row.id is not None
        return cls(
            id=row.id, symbol=row.symbol, name=row.name, exchange=row.exchange,
            sector=row.sector, isin=row.isin, currency=row.currency,
            lot_size=row.lot_size, tick_size=row.tick_size,
        )  # fmt: skip

    def to_json(self) -> bytes:
        data: dict[str, Any] = {
            "id": self.id, "symbol": self.symbol, "name": self.name, "exchange": self.exchange,
            "sector": self.sector, "isin": self.isin, "currency": self.currency,
            "lot_size": str(self.lot_size), "tick_size": str(self.tick_size),
        }  # fmt: skip
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes) -> InstrumentRecord:
        data = orjson.loads(raw)
        data["lot_size"] = Decimal(data["lot_size"])
        data["tick_size"] = Decimal(data["tick_size"])
        return cls(**data)


def instrument_key(symbol: str) -> str:
    return f"instrument:{symbol}"


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


async def replace_instruments(
    sessions: SessionFactory, cache: Cache, rows: Sequence[InstrumentRow]
) -> list[InstrumentRecord]:
    """Upsert in one transaction, then drop the cached copies of those symbols."""
    async with session_scope(sessions) as session:
        await upsert_instruments(session, rows)
        symbols = [r.symbol for r in rows]
        found = await session.exec(
            select(Instrument)
            .where(col(Instrument.symbol).in_(symbols))
            .order_by(Instrument.symbol)
        )
        records = [InstrumentRecord.of(i) for i in found]
    await invalidate_instruments(cache, symbols)
    return records


async def invalidate_instruments(cache: Cache, symbols: Sequence[str]) -> None:
    await cache.delete(*(instrument_key(s) for s in symbols))


async def count_instruments(session: AsyncSession) -> int:
    return (await session.exec(select(func.count()).select_from(Instrument))).one()


async def instrument_by_symbol(
    sessions: SessionFactory, cache: Cache, symbol: str
) -> InstrumentRecord | None:
    """Cache first, then the database (which refills the cache); None for an unknown symbol."""
    symbol = symbol.strip().upper()
    if not symbol or len(symbol) > 32:
        return None
    cached = await cache.get(instrument_key(symbol))
    if cached is not None:
        return InstrumentRecord.from_json(cached)
    async with sessions() as session:
        row = (await session.exec(select(Instrument).where(Instrument.symbol == symbol))).first()
    if row is None:
        return None
    record = InstrumentRecord.of(row)
    await cache.set(instrument_key(symbol), record.to_json(), INSTRUMENT_CACHE_SECONDS)
    return record


async def unknown_symbols(
    sessions: SessionFactory, cache: Cache, symbols: Sequence[str]
) -> list[str]:
    """Which of `symbols` name no instrument: the instrument cache first, then one query for
    the rest (which refills the cache). A database that cannot answer counts them as known:
    a live stream must not wait on PostgreSQL (an unknown symbol then just never ticks)."""
    cached = await cache.get_many([instrument_key(s) for s in symbols])
    missing = [s for s, value in zip(symbols, cached, strict=True) if value is None]
    if not missing:
        return []
    query = select(Instrument).where(col(Instrument.symbol).in_(missing))
    try:
        async with sessions() as session:
            rows = (await session.exec(query)).all()
    except (OSError, SQLAlchemyError, DatabaseUnavailable) as error:
        log.warning("could not check symbols %s: %r", missing[:5], error)
        return []
    for row in rows:
        record = InstrumentRecord.of(row)
        await cache.set(instrument_key(record.symbol), record.to_json(), INSTRUMENT_CACHE_SECONDS)
    found = {row.symbol for row in rows}
    return [s for s in missing if s not in found]


async def instruments_by_ids(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, InstrumentRecord]:
    """One query for many ids (the DataLoader's batch)."""
    found = await session.exec(select(Instrument).where(col(Instrument.id).in_(list(ids))))
    return {row.id: InstrumentRecord.of(row) for row in found if row.id is not None}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_instruments(
    session: AsyncSession,
    *,
    search: str | None,
    exchange: str | None,
    sector: str | None,
    size: int,
    after: str | None,
) -> Page[InstrumentRecord]:
    """Symbol prefix or name substring (case-insensitive), filters, ordered by symbol.

    The cursor is the last symbol shown: symbols are unique, so pages never repeat or skip a
    row even while instruments are added.
    """
    query = select(Instrument)
    text = (search or "").strip()
    if len(text) > MAX_SEARCH_LENGTH:
        text = text[:MAX_SEARCH_LENGTH]
    if text:
        pattern = _like_escape(text.lower())
        query = query.where(
            or_(
                func.lower(Instrument.symbol).like(pattern + "%", escape="\\"),
                func.lower(Instrument.name).like("%" + pattern + "%", escape="\\"),
            )
        )
    if exchange and exchange.strip():
        query = query.where(func.upper(Instrument.exchange) == exchange.strip().upper())
    if sector and sector.strip():
        query = query.where(func.lower(Instrument.sector) == sector.strip().lower())
    last = decode_cursor("instrument", after)
    if last is not None:
        query = query.where(Instrument.symbol > last)
    rows = (await session.exec(query.order_by(Instrument.symbol).limit(size + 1))).all()
    return make_page([InstrumentRecord.of(r) for r in rows], size, "instrument", lambda r: r.symbol)
