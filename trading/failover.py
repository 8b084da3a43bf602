"""Money transactions that a lost database connection interrupted, done once all the same.

A PostgreSQL failover (the primary lost, its synchronous standby promoted) breaks every
connection the pool holds. A transaction on one of them fails, and when it failed in its COMMIT
the error cannot tell whether the commit happened. A client's retry is safe for an order with
a `clientOrderId` (the repeat returns the first order), not for one without (it would place a
second) nor for a cancel (it would be told ORDER_NOT_OPEN for a cancel that was applied). So
the trading core retries such a transaction itself, on a new connection (the pool's pre-ping
reaches whichever node is primary by then), for up to `RETRY_SECONDS`, when that is safe:

- the work had not finished (the error came before the COMMIT was sent): nothing was
  committed; the work runs again from the start, re-reading everything under the user's lock;
- the work had finished and recorded events (every change of an order does): its first event
  (user, number and payload, which holds the order's new `updatedAt`: no other attempt writes
  the same) is looked for on the primary. Found, the transaction committed, and its result is
  returned; absent, it did not, and the work runs again;
- the work had finished and recorded nothing (a rejection): it wrote nothing; it runs again.

Only a transaction whose connection was lost mid-way is retried: one that could not connect
at all fails at once, as before (nothing was sent; the client is told to retry later).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import DatabaseUnavailable, SessionFactory, connection_lost
from models.tables import UserEvent
from trading.events import Recorded, encode_event
from trading.locking import money_transaction

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_SECONDS = 15.0  # a failover here takes seconds; a managed one up to half a minute
FIRST_WAIT_SECONDS = 0.1  # doubling up to MAX_WAIT_SECONDS between attempts
MAX_WAIT_SECONDS = 1.0


class _Deadline:
    """The retries' shared clock: how long to wait before the next attempt, and whether any
    time is left for one."""

    def __init__(self) -> None:
        self.ends = time.monotonic() + RETRY_SECONDS
        self.wait = FIRST_WAIT_SECONDS

    def passed(self) -> bool:
        return time.monotonic() + self.wait > self.ends

    async def pause(self) -> None:
        await asyncio.sleep(self.wait)
        self.wait = min(self.wait * 2, MAX_WAIT_SECONDS)


async def transact_once(
    sessions: SessionFactory,
    user_id: int,
    work: Callable[[AsyncSession], Awaitable[T]],
    events_of: Callable[[T], Sequence[Recorded]],
) -> T:
    """`work` in a money transaction of `user_id` (`trading.locking`), committed once even when
    a lost connection interrupts it (see the module doc); `events_of` reads the events a
    result recorded. Raises what the last attempt raised once retrying cannot help."""
    deadline: _Deadline | None = None
    while True:
        finished: list[T] = []
        try:
            async with money_transaction(sessions, user_id) as session:
                finished.append(await work(session))
            if deadline is not None:
                log.info("the interrupted transaction of user %s is done", user_id)
            return finished[0]
        except Exception as error:
            lost = connection_lost(error)
            if deadline is None:  # the first failure: a connection lost while in use?
                if not lost or isinstance(error, DatabaseUnavailable):
                    raise
                deadline = _Deadline()
                log.warning(
                    "a lost connection interrupted a transaction of user %s (%s); trying it "
                    "again for up to %gs",
                    user_id,
                    _first_line(error),
                    RETRY_SECONDS,
                )
            elif not lost or deadline.passed():
                raise
            events = events_of(finished[0]) if finished else ()
            if events and await _committed(sessions, events[0], deadline, error):
                log.warning("the interrupted commit (user %s) had been made: not redone", user_id)
                return finished[0]
        await deadline.pause()


def _first_line(error: BaseException) -> str:
    """An error in one line (SQLAlchemy's add the statement and its parameters)."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__


async def _committed(
    sessions: SessionFactory, first: Recorded, deadline: _Deadline, interrupted: Exception
) -> bool:
    """Whether the interrupted transaction committed: its first event is stored as it was
    recorded. Asked again while the database is away, until the deadline (then the
    interruption is raised: nobody can tell yet)."""
    payload = encode_event(first).decode()
    query = select(UserEvent.payload).where(
        col(UserEvent.user_id) == first.user_id, col(UserEvent.sequence) == first.sequence
    )
    while True:
        try:
            async with sessions() as session:
                stored = (await session.exec(query)).first()
            return stored == payload
        except Exception as error:
            if not connection_lost(error) or deadline.passed():
                raise interrupted from error
        await deadline.pause()
