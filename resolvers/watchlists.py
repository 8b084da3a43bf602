"""Watchlists: named lists of instruments, each owned by one user.

Every function takes the caller's id and only ever touches that user's lists: another user's
list is "not found", exactly like a list that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import SessionFactory, session_scope
from models.tables import Instrument, Watchlist, WatchlistItem
from models.types import utcnow
from trading.echo import echo

MAX_WATCHLISTS = 50
MAX_ITEMS = 200
MAX_NAME = 100


class WatchlistError(ValueError):
    """A watchlist change that cannot be made (the message says why)."""


@dataclass(frozen=True, slots=True)
class WatchlistRecord:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ItemRecord:
    watchlist_id: int
    instrument_id: int
    added_at: datetime


def _record(row: Watchlist) -> WatchlistRecord:
    assert row.id is not None
    return WatchlistRecord(row.id, row.name, row.created_at)


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise WatchlistError("A watchlist needs a name.")
    if len(name) > MAX_NAME:
        raise WatchlistError(f"A watchlist name has at most {MAX_NAME} characters.")
    return name


async def my_watchlists(session: AsyncSession, user_id: int) -> list[WatchlistRecord]:
    rows = await session.exec(
        select(Watchlist).where(Watchlist.user_id == user_id).order_by(col(Watchlist.id))
    )
    return [_record(r) for r in rows]


async def items_of(session: AsyncSession, watchlist_ids: list[int]) -> dict[int, list[ItemRecord]]:
    """Items of many lists in one query (the DataLoader's batch), in the order added."""
    rows = await session.exec(
        select(WatchlistItem)
        .where(col(WatchlistItem.watchlist_id).in_(watchlist_ids))
        .order_by(col(WatchlistItem.id))
    )
    found: dict[int, list[ItemRecord]] = {i: [] for i in watchlist_ids}
    for r in rows:
        found[r.watchlist_id].append(ItemRecord(r.watchlist_id, r.instrument_id, r.added_at))
    return found


async def create_watchlist(sessions: SessionFactory, user_id: int, name: str) -> WatchlistRecord:
    name = _clean_name(name)
    try:
        async with session_scope(sessions) as session:
            count = (
                await session.exec(select(func.count()).where(Watchlist.user_id == user_id))
            ).one()
            if count >= MAX_WATCHLISTS:
                raise WatchlistError(f"You can have at most {MAX_WATCHLISTS} watchlists.")
            row = Watchlist(user_id=user_id, name=name, created_at=utcnow())
            session.add(row)
            await session.flush()
            return _record(row)
    except IntegrityError:
        raise WatchlistError(f"You already have a watchlist named {echo(name)!r}.") from None


async def rename_watchlist(
    sessions: SessionFactory, user_id: int, watchlist_id: int, name: str
) -> WatchlistRecord:
    name = _clean_name(name)
    try:
        async with session_scope(sessions) as session:
            row = await _mine(session, user_id, watchlist_id)
            row.name = name
            session.add(row)
            await session.flush()
            return _record(row)
    except IntegrityError:
        raise WatchlistError(f"You already have a watchlist named {echo(name)!r}.") from None


async def delete_watchlist(sessions: SessionFactory, user_id: int, watchlist_id: int) -> bool:
    async with session_scope(sessions) as session:
        result = await session.exec(
            delete(Watchlist).where(
                col(Watchlist.id) == watchlist_id, col(Watchlist.user_id) == user_id
            )
        )
        return bool(result.rowcount)


async def add_to_watchlist(
    sessions: SessionFactory, user_id: int, watchlist_id: int, symbol: str
) -> WatchlistRecord:
    """Adding a symbol that is already there is a no-op (so retries are harmless)."""
    symbol = symbol.strip().upper()
    try:
        async with session_scope(sessions) as session:
            row = await _mine(session, user_id, watchlist_id)
            instrument_id = (
                await session.exec(select(Instrument.id).where(Instrument.symbol == symbol))
            ).first()
            if instrument_id is None:
                raise WatchlistError(f"No instrument {echo(symbol)!r}.")
            items = (
                await session.exec(
                    select(WatchlistItem.instrument_id).where(
                        WatchlistItem.watchlist_id == watchlist_id
                    )
                )
            ).all()
            if instrument_id not in items:
                if len(items) >= MAX_ITEMS:
                    raise WatchlistError(f"A watchlist holds at most {MAX_ITEMS} instruments.")
                item = WatchlistItem(
                    watchlist_id=watchlist_id, instrument_id=instrument_id, added_at=utcnow()
                )
                session.add(item)
                await session.flush()
            return _record(row)
    except IntegrityError:  # a concurrent add of the same symbol won: the result is the same
        async with sessions() as session:
            return _record(await _mine(session, user_id, watchlist_id))


async def remove_from_watchlist(
    sessions: SessionFactory, user_id: int, watchlist_id: int, symbol: str
) -> WatchlistRecord:
    """Removing a symbol that is not there is a no-op."""
    symbol = symbol.strip().upper()
    async with session_scope(sessions) as session:
        row = await _mine(session, user_id, watchlist_id)
        instrument_id = (
            await session.exec(select(Instrument.id).where(Instrument.symbol == symbol))
        ).first()
        if instrument_id is not None:
            await session.exec(
                delete(WatchlistItem).where(
                    col(WatchlistItem.watchlist_id) == watchlist_id,
                    col(WatchlistItem.instrument_id) == instrument_id,
                )
            )
        return _record(row)


async def _mine(session: AsyncSession, user_id: int, watchlist_id: int) -> Watchlist:
    row = await session.get(Watchlist, watchlist_id)
    if row is None or row.user_id != user_id:
        raise WatchlistError(f"You have no watchlist {watchlist_id}.")
    return row
