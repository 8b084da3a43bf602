"""Publish/subscribe by channel name: memory (embedded mode) and Redis (full mode).

The shape is `encode/broadcaster`'s backend: the hub owns one backend per process and is the
only caller of `subscribe`, `unsubscribe` and `next_message`; anyone may `publish`.
"""

from __future__ import annotations

from typing import Protocol

from settings import Settings


class PubSub(Protocol):
    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def publish(self, channel: str, message: bytes) -> None: ...
    async def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish in order, in one round trip where the backend allows it."""
        ...

    async def subscribe(self, channel: str) -> None: ...
    async def unsubscribe(self, channel: str) -> None: ...
    async def next_message(self) -> tuple[str, bytes]:
        """Wait for the next message on any subscribed channel; survives lost connections."""
        ...


def make_pubsub(settings: Settings) -> PubSub:
    if settings.redis_url:
        from streaming.pubsub.redis import RedisPubSub

        return RedisPubSub(settings.redis_url, prefix=settings.redis_key_prefix)
    from streaming.pubsub.memory import MemoryPubSub

    return MemoryPubSub()
