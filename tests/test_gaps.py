"""Jumps in a channel's sequence filled from its history (pure logic, memory backend)."""

from __future__ import annotations

import asyncio

from redis.exceptions import ConnectionError as RedisConnectionError

from delivery.gaps import ChannelGaps
from streaming import metrics
from streaming.pubsub import Publication
from streaming.pubsub.memory import MemoryPubSub
from streaming.tick import Tick
from tests.utils.live import make_tick


async def history_of(*sequences: int) -> MemoryPubSub:
    pubsub = MemoryPubSub()
    ticks = [make_tick("A", n) for n in sequences]
    await pubsub.publish_with_history(
        [Publication("quote:A", t.sequence, t.to_json()) for t in ticks]
    )
    return pubsub


async def settle() -> None:
    await asyncio.sleep(0.05)  # the fill task reads the (in-memory) history


class Collected:
    def __init__(self) -> None:
        self.sequences: list[int] = []

    def __call__(self, _channel: str, tick: Tick) -> int:
        self.sequences.append(tick.sequence)
        return 1


async def test_a_jump_is_filled_from_the_history_before_later_ticks() -> None:
    pubsub = await history_of(1, 2, 3, 4, 5)
    got = Collected()
    gaps = ChannelGaps(pubsub, got)
    assert gaps.offer("quote:A", make_tick("A", 1)) == 1
    assert gaps.offer("quote:A", make_tick("A", 4)) == 0, "held while 2 and 3 are read"
    assert gaps.offer("quote:A", make_tick("A", 5)) == 0, "later ticks wait their turn"
    await settle()
    assert got.sequences == [1, 2, 3, 4, 5]
    gaps.offer("quote:A", make_tick("A", 5))
    assert got.sequences == [1, 2, 3, 4, 5], "a repeat is not passed on"


async def test_what_the_history_lost_is_counted_and_the_jump_passed_on() -> None:
    pubsub = await history_of(4, 5)  # 2 and 3 are no longer held
    got = Collected()
    gaps = ChannelGaps(pubsub, got)
    unfilled = metrics.LIVE_GAPS.labels("unfilled")
    before = unfilled._value.get()
    gaps.offer("quote:A", make_tick("A", 1))
    gaps.offer("quote:A", make_tick("A", 4))
    await settle()
    assert got.sequences == [1, 4]
    assert unfilled._value.get() - before == 2


class BrokenHistory(MemoryPubSub):
    # overrides MemoryPubSub.history: fails whatever is asked
    async def history(self, channel: str, since: int) -> list[Publication] | None:  # noqa: ARG002
        raise RedisConnectionError("Redis is gone")  # not the builtin ConnectionError


async def test_a_history_that_cannot_be_read_still_lets_the_held_ticks_through() -> None:
    got = Collected()
    gaps = ChannelGaps(BrokenHistory(), got)
    gaps.offer("quote:A", make_tick("A", 1))
    gaps.offer("quote:A", make_tick("A", 4))
    gaps.offer("quote:A", make_tick("A", 5))
    await settle()
    assert got.sequences == [1, 4, 5], "the jump is passed on, nothing held back"
