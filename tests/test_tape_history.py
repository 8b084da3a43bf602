"""`recent`: the tail of a channel's history (what `recentTrades` reads), memory and Redis."""

from __future__ import annotations

from streaming.pubsub import Publication, PubSub


async def test_recent_is_the_newest_held_oldest_first(pubsub: PubSub) -> None:
    assert await pubsub.recent("quote:TAIL", 3) == []
    await pubsub.publish_with_history(
        [Publication("quote:TAIL", n, b"m%d" % n) for n in range(1, 8)]
    )
    recent = await pubsub.recent("quote:TAIL", 3)
    assert [(p.position, p.message) for p in recent] == [(5, b"m5"), (6, b"m6"), (7, b"m7")]
    assert [p.position for p in await pubsub.recent("quote:TAIL", 100)] == list(range(1, 8))
    assert await pubsub.recent("quote:TAIL", 0) == []
