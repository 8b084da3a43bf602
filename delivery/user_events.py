"""A user's live events, each once and in order, resumable by sequence: the one rule of the
private streams (`orderUpdates`, `notifications`), which both read through
`stream_user_events`. Unlike the public streams (`delivery/fanout.py`) they are never
conflated or throttled: every event counts, and what a full mailbox dropped or a lost publish
missed is read back from the event log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from delivery.tracing import delivering, subscription_started
from models.db import SessionFactory
from streaming.channels import user_channel
from streaming.hub import Hub
from trading.event_log import events_after, newest_sequence
from trading.events import BadEvent, Recorded, decode_event

log = logging.getLogger(__name__)


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
                with delivering(item):
                    yield item
        subscription_started()
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
                    with delivering(missed):
                        yield missed
            last = item.sequence
            with delivering(item):
                yield item
