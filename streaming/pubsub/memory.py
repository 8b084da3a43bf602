"""In-process pub/sub for embedded mode."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class MemoryPubSub:
    """Publishing never blocks: past `max_pending` unread messages the newest are dropped."""

    def __init__(self, max_pending: int = 100_000) -> None:
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(max_pending)
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

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def next_message(self) -> tuple[str, bytes]:
        return await self._queue.get()
