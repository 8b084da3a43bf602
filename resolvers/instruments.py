"""Instruments: the reference list, search with cursor pages, and the instrument cache.

Lookups by symbol go through the cache (Redis in full mode, as the original platform's
instrument cache did) for `INSTRUMENT_CACHE_SECONDS`; every write path deletes the changed
symbols' entries after its commit, so a reader never keeps a stale instrument for long.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from weakref import WeakKeyDictionary

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import DatabaseUnavailable, SessionFactory, session_scope
from models.instrument_file import MAX_SYMBOL_LENGTH, SYMBOL, InstrumentRow
from models.tables import Instrument
from resolvers.pagination import NOT_A_CURSOR, BadPage, Page, decode_cursor, make_page
from streaming.cache import Cache
from streaming.coalesced import CoalescedLookups
from trading.instruments import InstrumentRecord, upsert_instruments

log = logging.getLogger(__name__)

INSTRUMENT_CACHE_SECONDS = 3600
MAX_SEARCH_LENGTH = 100


def instrument_key(symbol: str) -> str:
    return f"instrument:{symbol}"


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
        records = [InstrumentRecord.model_validate(i) for i in found]
    await invalidate_instruments(cache, symbols)
    return records


async def invalidate_instruments(cache: Cache, symbols: Sequence[str]) -> None:
    await cache.delete(*(instrument_key(s) for s in symbols))


async def instrument_by_symbol(
    sessions: SessionFactory, cache: Cache, symbol: str
) -> InstrumentRecord | None:
    """Cache first, then the database (which refills the cache); None for an unknown symbol."""
    symbol = symbol.strip().upper()
    if not symbol or len(symbol) > MAX_SYMBOL_LENGTH:
        return None
    cached = await cache.get(instrument_key(symbol))
    if cached is not None:
        return InstrumentRecord.from_json(cached)
    async with sessions() as session:
        row = (await session.exec(select(Instrument).where(Instrument.symbol == symbol))).first()
    if row is None:
        return None
    record = InstrumentRecord.model_validate(row)
    await cache.set(instrument_key(symbol), record.to_json(), INSTRUMENT_CACHE_SECONDS)
    return record


async def unknown_symbols(
    sessions: SessionFactory, cache: Cache, symbols: Sequence[str]
) -> list[str]:
    """Which of `symbols` name no instrument: those this process has found in the cache are
    known (instruments are added and changed, never removed), then the cache, then one
    query for the rest (which refills the cache), shared with any lookup of the same symbols
    already under way. A database that cannot answer counts them as known: a live stream must
    not wait on PostgreSQL (an unknown symbol then just never ticks)."""
    known = _KNOWN.setdefault(sessions, set())
    rest = [s for s in symbols if s not in known]
    if not rest:
        return []  # a connect storm's subscribes: no cache read
    cached = await cache.get_many([instrument_key(s) for s in rest])
    missing = [s for s, value in zip(rest, cached, strict=True) if value is None]
    found = await _lookups(sessions, cache).get_many(missing) if missing else []
    if len(known) > KNOWN_KEPT:
        known.clear()
    known.update(s for s, value in zip(rest, cached, strict=True) if value is not None)
    return [s for s, is_known in zip(missing, found, strict=True) if not is_known]


# Symbols found to name an instrument, per session factory (in practice one, the process's).
_KNOWN: WeakKeyDictionary[SessionFactory, set[str]] = WeakKeyDictionary()
KNOWN_KEPT = 100_000  # bounds the set whatever symbols clients try


# Symbols being looked up in the database, per session factory (in practice one, the
# process's): a burst of subscribers to the same cold symbols waits on one query rather than
# each taking a database connection (a connect storm of a thousand subscribes otherwise
# exhausts the pool and waits out its timeout). Instruments change rarely, so a lookup already
# on its way answers for its symbols.
_LOOKUPS: WeakKeyDictionary[SessionFactory, CoalescedLookups[str, bool]] = WeakKeyDictionary()


def _lookups(sessions: SessionFactory, cache: Cache) -> CoalescedLookups[str, bool]:
    lookups = _LOOKUPS.get(sessions)
    if lookups is None:
        lookups = _LOOKUPS[sessions] = CoalescedLookups(
            partial(_look_up, sessions, cache), share_in_flight=True, name="instrument-lookups"
        )
    return lookups


async def _look_up(sessions: SessionFactory, cache: Cache, symbols: list[str]) -> list[bool]:
    """Whether each of `symbols` names an instrument (all do when the database cannot
    answer); the instruments found go into the cache."""
    try:
        query = select(Instrument).where(col(Instrument.symbol).in_(symbols))
        async with sessions() as session:
            rows = (await session.exec(query)).all()
    except (OSError, SQLAlchemyError, DatabaseUnavailable) as error:
        log.warning("could not check symbols %s: %r", symbols[:5], error)
        return [True] * len(symbols)
    for row in rows:
        record = InstrumentRecord.model_validate(row)
        await cache.set(instrument_key(record.symbol), record.to_json(), INSTRUMENT_CACHE_SECONDS)
    found = {row.symbol for row in rows}
    return [symbol in found for symbol in symbols]


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
    if last is not None and not SYMBOL.fullmatch(last):  # a forged cursor, not ours
        raise BadPage(NOT_A_CURSOR)
    if last is not None:
        query = query.where(Instrument.symbol > last)
    rows = (await session.exec(query.order_by(Instrument.symbol).limit(size + 1))).all()
    return make_page(
        [InstrumentRecord.model_validate(r) for r in rows], size, "instrument", lambda r: r.symbol
    )
