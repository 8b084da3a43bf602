"""In-process pub/sub for embedded mode, with a bounded history per channel."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from streaming.pubsub import HeldPublication, Publication, Retention, missed_since

log = logging.getLogger(__name__)


class MemoryPubSub:
    """Publishing never blocks: past `max_pending` unread messages the newest are dropped
    (counted in `dropped`)."""

    def __init__(self, max_pending: int = 100_000, retention: Retention | None = None) -> None:
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(max_pending)
        self._retention = retention or Retention()
        self._history: dict[str, deque[HeldPublication]] = {}
        self.dropped = 0

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        self._channels.clear()

    async def ping(self) -> None:
        return None

    async def publish(self, channel: str, message: bytes) -> None:
        if channel not in self._channels:
            return
        try:
            self._queue.put_nowait((channel, message))
        except asyncio.QueueFull:
            self.dropped += 1

    async def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        for channel, message in messages:
            await self.publish(channel, message)

    async def publish_with_history(self, publications: list[Publication]) -> int:
        published = 0
        now = time.time()
        for publication in publications:  # no await in between: atomic for every reader
            held = self._history.get(publication.channel)
            if held is None:
                held = self._history[publication.channel] = deque(
                    maxlen=self._retention.max_messages
                )
            elif held[-1].publication.position >= publication.position:
                continue
            held.append(HeldPublication(publication, now))
            await self.publish(publication.channel, publication.message)
            published += 1
        return published

    async def history(self, channel: str, since: int) -> list[Publication] | None:
        held = self._history.get(channel)
        if not held:
            return None
        after = [h for h in held if h.publication.position > since]
        oldest_time = time.time() - self._retention.max_age_seconds
        return missed_since(since, after, held[-1].publication.position, oldest_time)

    async def recent(self, channel: str, count: int) -> list[Publication]:
        oldest_time = time.time() - self._retention.max_age_seconds
        held = list(self._history.get(channel, ()))[-count:] if count > 0 else []
        return [h.publication for h in held if h.published_at >= oldest_time]

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def next_message(self) -> tuple[str, bytes]:
        return await self._queue.get()
