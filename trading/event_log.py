"""Each user's events, numbered and stored in the transaction of the change they report (the
transactional outbox's writing half; `streaming.user_events` publishes and relays them).

Every path that changes an order or writes a notification locks the user's row first
(`trading.locking.lock_user`), so numbering the events by the user's `event_sequence` numbers
them in commit order, each one the previous plus one: a stream that sees a jump knows the
missing ones are committed and reads them here, in order, before going on.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import SessionFactory
from models.tables import User, UserEvent
from trading.events import Event, Recorded, decode_event, encode_event
from trading.tracing import current_traceparent

REPLAY_LIMIT = 1000  # events one resume or gap fill reads at most


def record_events(session: AsyncSession, user: User, events: Sequence[Event]) -> list[Recorded]:
    """Number `events` and add them to the caller's transaction. `user` is the owner's row,
        locked by the caller (`lock_user`): that is what keeps the numbering in commit order. Each
    carries the current trace (`trading.tracing`), so the frames delivering them can join it."""
    assert user.id is not None
    recorded, trace = [], current_traceparent()
    for event in events:
        user.event_sequence += 1
        item = Recorded(user.event_sequence, event, trace)
        row = UserEvent(
            user_id=user.id, sequence=item.sequence, payload=encode_event(item).decode()
        )
        session.add(row)
        recorded.append(item)
    session.add(user)
    return recorded


async def events_after(
    sessions: SessionFactory, user_id: int, after: int, *, before: int | None = None
) -> list[Recorded]:
    """The user's committed events numbered above `after` (and below `before`), in order."""
    query = select(UserEvent.payload).where(
        col(UserEvent.user_id) == user_id, col(UserEvent.sequence) > after
    )
    if before is not None:
        query = query.where(col(UserEvent.sequence) < before)
    async with sessions() as session:
        payloads = (
            await session.exec(query.order_by(col(UserEvent.sequence)).limit(REPLAY_LIMIT))
        ).all()
    return [decode_event(payload) for payload in payloads]


async def newest_sequence(sessions: SessionFactory, user_id: int) -> int:
    async with sessions() as session:
        found = (await session.exec(select(User.event_sequence).where(User.id == user_id))).first()
    return found or 0
