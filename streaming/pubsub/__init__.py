"""Publish/subscribe by channel name, with a bounded history per channel: memory (embedded
mode) and Redis (full mode).

The shape is `encode/broadcaster`'s backend plus centrifuge's history: the hub owns one backend
per process and is the only caller of `subscribe`, `unsubscribe` and `next_message`; anyone may
`publish`. A `Publication` carries its channel's position (a tick's per-symbol sequence):
`publish_with_history` appends it to the channel's history and publishes it as one atomic step
(one Lua script on Redis), so a reader that subscribes and then reads the history misses
nothing between the two; a position at or below the channel's newest is skipped, so a
re-delivered tick never reaches subscribers twice. `history` returns what a reconnecting client
missed, or None when the history no longer reaches back that far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from settings import Settings


class Publication(NamedTuple):
    """A message at its channel's position (a named tuple: the bridge makes one per tick, and
    a frozen dataclass costs twice as much to make)."""

    channel: str
    position: int  # rises by one per message of the channel (a tick's sequence)
    message: bytes


@dataclass(frozen=True, slots=True)
class Retention:
    """How much history each channel keeps: at most `max_messages`, none older than
    `max_age_seconds` (a channel quiet for that long loses its history as a whole)."""

    max_messages: int = 1000
    max_age_seconds: float = 600.0


class PubSub(Protocol):
    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def publish(self, channel: str, message: bytes) -> None: ...
    async def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish in order, in one round trip where the backend allows it (no history)."""
        ...

    async def publish_with_history(self, publications: list[Publication]) -> int:
        """Append each publication to its channel's history and publish it, atomically and in
        order; one at or below its channel's newest position is skipped. Returns how many
        were published."""
        ...

    async def history(self, channel: str, since: int) -> list[Publication] | None:
        """Every held publication of `channel` after position `since`, oldest first (at most
        the retention's count); None when the history does not reach back to `since + 1`."""
        ...

    async def recent(self, channel: str, count: int) -> list[Publication]:
        """The newest `count` held publications of `channel` (within the age limit), oldest
        first: a tail of the history, for a look back rather than a resume."""
        ...

    async def subscribe(self, channel: str) -> None: ...
    async def unsubscribe(self, channel: str) -> None: ...
    async def next_message(self) -> tuple[str, bytes]:
        """Wait for the next message on any subscribed channel; survives lost connections."""
        ...


def retention_of(settings: Settings) -> Retention:
    return Retention(settings.history_max_messages, settings.history_max_age_seconds)


def make_pubsub(settings: Settings) -> PubSub:
    if settings.redis_url:
        from streaming.pubsub.redis import RedisPubSub
        from streaming.redis_client import PoolLimits

        return RedisPubSub(
            settings.redis_url,
            prefix=settings.redis_key_prefix,
            retention=retention_of(settings),
            limits=PoolLimits.of(settings),
            cluster=settings.redis_cluster,
            replica_wait_ms=settings.redis_replica_wait_ms,
        )
    from streaming.pubsub.memory import MemoryPubSub

    return MemoryPubSub(retention=retention_of(settings))


@dataclass(frozen=True, slots=True)
class HeldPublication:
    """A publication as a history keeps it: with the time (epoch seconds) it was published."""

    publication: Publication
    published_at: float


def missed_since(
    since: int, after: list[HeldPublication], newest: int | None, oldest_time: float
) -> list[Publication] | None:
    """What a reader who saw up to `since` missed, from the held publications `after` it
    (oldest first) and the channel's `newest` held position: every one of them when the
    history reaches back to `since + 1` within its age limit (`oldest_time`), [] when nothing
    came after `since`, None when some of it is no longer held (or nothing is held at all)."""
    if newest is None:
        return None
    if not after:
        return [] if newest <= since else None
    first = after[0]
    if first.publication.position != since + 1 or first.published_at < oldest_time:
        return None
    return [held.publication for held in after]
