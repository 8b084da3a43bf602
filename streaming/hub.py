"""The per-process fan-out hub: one pub/sub connection shared by every local subscriber.

A channel is subscribed upstream when its first local subscriber arrives and unsubscribed
after the last leaves. Each subscriber reads from its own bounded `Mailbox`, so a slow reader
loses intermediate values (conflation) instead of slowing the others or growing memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress

from streaming import metrics
from streaming.pubsub import PubSub

log = logging.getLogger(__name__)


class Mailbox:
    """Unread messages of one subscriber, in arrival order, at most `limit` of them.

    A reader that keeps up (within `limit` messages) gets every message. Past the limit:
    conflating (quotes, candles) collapses the backlog to the latest message per channel, so a
    slow reader skips to the present, each channel still in order; queued (a user's order
    updates) drops the oldest. Either way memory stays bounded per subscriber.
    """

    def __init__(self, *, conflate: bool, limit: int = 256) -> None:
        if limit < 1:
            raise ValueError("a mailbox holds at least one message")
        self.conflate = conflate
        self.limit = limit
        self._queue: deque[tuple[str, bytes]] = deque()
        self._ready = asyncio.Event()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, channel: str, message: bytes) -> None:
        if len(self._queue) >= self.limit:
            before = len(self._queue)
            if self.conflate:
                self._queue = deque(_latest_per_channel(self._queue))
            else:
                self._queue.popleft()
            self.dropped += before - len(self._queue)
            metrics.CONFLATED_DROPS.inc(before - len(self._queue))
        self._queue.append((channel, message))
        self._ready.set()

    async def get(self) -> tuple[str, bytes]:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    async def get_latest(self) -> list[tuple[str, bytes]]:
        """Wait for a message, then take the latest unread one of each channel (throttling)."""
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        return self.drain(latest_only=True)

    def drain(self, *, latest_only: bool = False) -> list[tuple[str, bytes]]:
        """Every unread message without waiting (or only the latest of each channel)."""
        ready = _latest_per_channel(self._queue) if latest_only else list(self._queue)
        self._queue.clear()
        return ready

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            yield await self.get()


def _latest_per_channel(messages: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The last message of each channel, channels in order of their first message."""
    latest: dict[str, bytes] = {}
    for channel, message in messages:
        latest[channel] = message
    return list(latest.items())


class Hub:
    def __init__(self, backend: PubSub, *, mailbox_limit: int = 256) -> None:
        self.backend = backend
        self.mailbox_limit = mailbox_limit
        self._mailboxes: dict[str, set[Mailbox]] = defaultdict(set)
        self._lock = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None
        self.deliveries = 0
        self.received = 0

    @property
    def channel_count(self) -> int:
        return len(self._mailboxes)

    @property
    def subscriber_count(self) -> int:
        return len({id(m) for boxes in self._mailboxes.values() for m in boxes})

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="hub-listener")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    @asynccontextmanager
    async def subscribe(
        self, channels: Iterable[str], *, conflate: bool = True, limit: int | None = None
    ) -> AsyncIterator[Mailbox]:
        mailbox = Mailbox(conflate=conflate, limit=limit or self.mailbox_limit)
        wanted = list(dict.fromkeys(channels))
        metrics.ACTIVE_SUBSCRIPTIONS.inc()
        try:
            for channel in wanted:
                await self._add(channel, mailbox)
            yield mailbox
        finally:
            metrics.ACTIVE_SUBSCRIPTIONS.dec()
            for channel in wanted:
                await self._remove(channel, mailbox)

    async def _add(self, channel: str, mailbox: Mailbox) -> None:
        async with self._lock:
            first = channel not in self._mailboxes
            self._mailboxes[channel].add(mailbox)
            if first:
                metrics.HUB_CHANNELS.inc()
                await self.backend.subscribe(channel)

    async def _remove(self, channel: str, mailbox: Mailbox) -> None:
        async with self._lock:
            boxes = self._mailboxes.get(channel)
            if boxes is None or mailbox not in boxes:
                return
            boxes.discard(mailbox)
            if not boxes:
                del self._mailboxes[channel]
                metrics.HUB_CHANNELS.dec()
                await self.backend.unsubscribe(channel)

    async def _listen(self) -> None:
        while True:
            try:
                channel, message = await self.backend.next_message()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub listener failed; retrying in 1s")
                await asyncio.sleep(1)
                continue
            self.received += 1
            metrics.HUB_RECEIVED.inc()
            boxes = self._mailboxes.get(channel, ())
            for mailbox in boxes:
                mailbox.offer(channel, message)
            self.deliveries += len(boxes)
            metrics.DELIVERIES.inc(len(boxes))
