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
    """Unread messages of one subscriber.

    Conflating (quotes): the latest message per channel, in first-unread order.
    Queued (a user's order updates): the newest `limit` messages, oldest dropped first.
    """

    def __init__(self, *, conflate: bool, limit: int = 256) -> None:
        self.conflate = conflate
        self._latest: dict[str, bytes] = {}
        self._queue: deque[tuple[str, bytes]] = deque(maxlen=limit)
        self._ready = asyncio.Event()
        self.dropped = 0

    def offer(self, channel: str, message: bytes) -> None:
        if self.conflate:
            if channel in self._latest:
                self.dropped += 1
                metrics.CONFLATED_DROPS.inc()
            self._latest[channel] = message
        else:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
                metrics.CONFLATED_DROPS.inc()
            self._queue.append((channel, message))
        self._ready.set()

    async def get(self) -> tuple[str, bytes]:
        while True:
            if self._latest:
                channel = next(iter(self._latest))
                return channel, self._latest.pop(channel)
            if self._queue:
                return self._queue.popleft()
            self._ready.clear()
            await self._ready.wait()

    def drain(self) -> list[tuple[str, bytes]]:
        """Every unread message, without waiting (conflated ones first, in first-unread order)."""
        ready = [*self._latest.items(), *self._queue]
        self._latest.clear()
        self._queue.clear()
        return ready

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            yield await self.get()


class Hub:
    def __init__(self, backend: PubSub) -> None:
        self.backend = backend
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
        self, channels: Iterable[str], *, conflate: bool = True, limit: int = 256
    ) -> AsyncIterator[Mailbox]:
        mailbox = Mailbox(conflate=conflate, limit=limit)
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
