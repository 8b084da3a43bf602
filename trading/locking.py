"""Serialising the money paths of one user (placing, filling and cancelling orders).

PostgreSQL: each money transaction starts by locking the user's row (`SELECT ... FOR UPDATE`);
every path locks the user first and the order second, so two paths of one user run one after
the other and never deadlock, in any number of API and bridge processes.

SQLite (embedded mode, always one process) has no row locks. There, `money_transaction` also
holds a per-user asyncio lock in this process for the whole transaction, and `lock_user` starts
with a write so the transaction owns SQLite's single write lock before it reads the balances.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import SessionFactory, session_scope
from models.tables import User

_user_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def uses_sqlite(sessions: SessionFactory) -> bool:
    bind = sessions.kw.get("bind")
    return bind is not None and bind.dialect.name == "sqlite"


@asynccontextmanager
async def money_transaction(sessions: SessionFactory, user_id: int) -> AsyncIterator[AsyncSession]:
    """A committing transaction for one user's money path (see the module doc for SQLite)."""
    if not uses_sqlite(sessions):
        async with session_scope(sessions) as session:
            yield session
        return
    lock = _user_locks.get(user_id)
    if lock is None:
        lock = _user_locks[user_id] = asyncio.Lock()
    async with lock, session_scope(sessions) as session:
        yield session


async def lock_user(session: AsyncSession, user_id: int) -> User | None:
    """The user's row, locked until the transaction ends, with fresh balances."""
    if session.get_bind().dialect.name == "sqlite":
        await session.exec(update(User).where(col(User.id) == user_id).values(cash=User.cash))
    query = (
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).first()
