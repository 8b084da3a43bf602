"""Publishing each user's events (the transactional outbox's sending half): at once after the
commit that recorded them (`trading.event_log.record_events`), or by a relay after a crash.

The process that committed publishes at once and marks the rows published; a process that
died in between leaves them to `relay_unpublished`, which any bridge worker runs every second.
A repeated publish is harmless: streams skip sequences they have delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlmodel import col, select, update

from models.db import SessionFactory, session_scope
from models.tables import UserEvent
from models.types import utcnow
from streaming.cancellation import raise_if_cancelled
from streaming.channels import user_channel
from streaming.pubsub import PubSub
from streaming.retry import retrying
from trading.events import Recorded, encode_event

log = logging.getLogger(__name__)

RELAY_GRACE_SECONDS = 2.0  # the committing process publishes within this; the relay after


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
        raise_if_cancelled()  # a cancel lost in a publish (see `streaming.cancellation`)
        async for attempt in retrying("event relay"):
            with attempt:
                await relay_unpublished(sessions, pubsub)
        await asyncio.sleep(interval)
