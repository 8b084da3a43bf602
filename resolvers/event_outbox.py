"""A user's live events through a transactional outbox: stored with the change they report,
published after its commit, re-published by a relay after a crash, replayed on resume.

Every path that changes an order or writes a notification locks the user's row first
(`resolvers.locking.lock_user`), so numbering the events by the user's `event_sequence`
numbers them in commit order, each one the previous plus one: a stream that sees a jump knows
the missing ones are committed and reads them from the table, in order, before going on. The
process that committed publishes at once and marks the rows published; a process that died in
between leaves them to `relay_unpublished`, which any bridge worker runs every second. A
repeated publish is harmless: streams skip sequences they have delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import SessionFactory, session_scope
from models.tables import User, UserEvent
from models.types import utcnow
from resolvers.events import BadEvent, Event, Recorded, decode_event, encode_event
from streaming.channels import user_channel
from streaming.hub import Hub
from streaming.pubsub import PubSub
from streaming.retry import retrying

log = logging.getLogger(__name__)

REPLAY_LIMIT = 1000  # events one resume or gap fill reads at most
RELAY_GRACE_SECONDS = 2.0  # the committing process publishes within this; the relay after


def record_events(session: AsyncSession, user: User, events: Sequence[Event]) -> list[Recorded]:
    """Number `events` and add them to the caller's transaction. `user` is the owner's row,
    locked by the caller (`lock_user`): that is what keeps the numbering in commit order."""
    assert user.id is not None
    recorded = []
    for event in events:
        user.event_sequence += 1
        item = Recorded(user.event_sequence, event)
        row = UserEvent(
            user_id=user.id, sequence=item.sequence, payload=encode_event(item).decode()
        )
        session.add(row)
        recorded.append(item)
    session.add(user)
    return recorded


async def publish_recorded(
    sessions: SessionFactory, pubsub: PubSub, recorded: Sequence[Recorded]
) -> None:
    """After the commit: publish, then mark published. On any failure the rows stay unmarked
    and the relay publishes them (the change itself is committed either way)."""
    if not recorded:
        return
    try:
        for item in recorded:
            await pubsub.publish(user_channel(item.user_id), encode_event(item))
        async with session_scope(sessions) as session:
            for user_id in {item.user_id for item in recorded}:
                numbers = [item.sequence for item in recorded if item.user_id == user_id]
                await session.exec(
                    update(UserEvent)
                    .where(col(UserEvent.user_id) == user_id, col(UserEvent.sequence).in_(numbers))
                    .values(published_at=utcnow())
                )
    except Exception as error:  # committed: the relay publishes what this could not
        log.warning("events of user %s left to the relay: %r", recorded[0].user_id, error)


async def relay_unpublished(sessions: SessionFactory, pubsub: PubSub, *, limit: int = 500) -> int:
    """Publish, oldest first, the events committed over `RELAY_GRACE_SECONDS` ago that were
    never marked published (their process died between commit and publish), then mark them.
    Rows another relay holds are skipped (PostgreSQL's SKIP LOCKED). Returns how many."""
    before = utcnow() - timedelta(seconds=RELAY_GRACE_SECONDS)
    async with session_scope(sessions) as session:
        rows = (
            await session.exec(
                select(UserEvent)
                .where(col(UserEvent.published_at).is_(None), col(UserEvent.created_at) < before)
                .order_by(col(UserEvent.id))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            await pubsub.publish(user_channel(row.user_id), row.payload.encode())
            row.published_at = utcnow()
            session.add(row)
    if rows:
        log.warning("relayed %d events left unpublished by a crash", len(rows))
    return len(rows)


async def run_relay(sessions: SessionFactory, pubsub: PubSub, interval: float = 1.0) -> None:
    """`relay_unpublished` every `interval` seconds, until cancelled; a lost database or
    Redis is retried with backoff (a warning per attempt, no traceback flood)."""
    while True:
        async for attempt in retrying("event relay"):
            with attempt:
                await relay_unpublished(sessions, pubsub)
        await asyncio.sleep(interval)


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


async def stream_user_events(
    hub: Hub, sessions: SessionFactory, user_id: int, *, after: int | None = None
) -> AsyncIterator[Recorded]:
    """The user's events, each once and in order: with `after`, every committed event
    numbered above it first; then live ones from this process's hub. Subscribing comes first,
    so nothing falls between; a jump in the live numbering (a publish lost to a crash, or a
    mailbox that overflowed) is filled from the table before the event that showed it. A
    message that is not an event is logged and skipped, never the end of the stream."""
    async with hub.subscribe([user_channel(user_id)], conflate=False) as mailbox:
        last = await newest_sequence(sessions, user_id) if after is None else after
        if after is not None:
            for item in await events_after(sessions, user_id, after):
                last = item.sequence
                yield item
        async for _channel, raw in mailbox:
            try:
                item = decode_event(raw)
            except BadEvent as error:
                log.warning("skipping a message on the user channel: %s", error)
                continue
            if item.user_id != user_id or item.sequence <= last:
                continue
            if item.sequence > last + 1:
                for missed in await events_after(sessions, user_id, last, before=item.sequence):
                    yield missed
            last = item.sequence
            yield item
