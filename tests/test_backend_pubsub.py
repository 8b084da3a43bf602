"""The pub/sub contract: one test body per behaviour over the memory and the Redis pub/sub (the
`pubsub` fixture of conftest, its history retention set by `parametrize("retention")`):
delivery to subscribed channels, the history and `publish_with_history`, and the hub on top."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streaming.hub import Hub
from streaming.pubsub import Publication, PubSub, Retention


def publications(channel: str, first: int, last: int) -> list[Publication]:
    return [Publication(channel, n, f"m{n}".encode()) for n in range(first, last + 1)]


def positions(found: list[Publication] | None) -> list[int] | None:
    return None if found is None else [p.position for p in found]


async def received(pubsub: PubSub, count: int) -> list[tuple[str, bytes]]:
    async with asyncio.timeout(5):
        return [await pubsub.next_message() for _ in range(count)]


async def nothing_more(pubsub: PubSub, seconds: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            await pubsub.next_message()


async def subscribed(pubsub: PubSub, *channels: str) -> asyncio.Task[tuple[str, bytes]]:
    """Subscribe `channels` with a reader already waiting, as the hub's listener reads (the
    Redis backend confirms a subscription through it); the reader's task gets the first
    message."""
    listener = asyncio.create_task(pubsub.next_message())
    for channel in channels:
        await pubsub.subscribe(channel)  # returns once the backend delivers the channel
    return listener


async def test_only_subscribed_channels_are_delivered_in_order(pubsub: PubSub) -> None:
    await pubsub.ping()
    listener = await subscribed(pubsub, "quote:A", "quote:B")
    await pubsub.publish("quote:Z", b"nobody listens")
    await pubsub.publish_many([("quote:A", b"a1"), ("quote:Z", b"z"), ("quote:B", b"b1")])
    await pubsub.publish_many([])
    await pubsub.publish("quote:A", b"a2")
    async with asyncio.timeout(5):
        first = await listener
    assert [first, *await received(pubsub, 2)] == [
        ("quote:A", b"a1"),
        ("quote:B", b"b1"),
        ("quote:A", b"a2"),
    ]
    await pubsub.unsubscribe("quote:A")
    await pubsub.publish("quote:A", b"a3")
    await pubsub.publish("quote:B", b"b2")
    assert await received(pubsub, 1) == [("quote:B", b"b2")], "quote:A no longer delivered"
    await nothing_more(pubsub)


async def test_history_holds_what_was_published_and_skips_repeats(pubsub: PubSub) -> None:
    assert await pubsub.publish_with_history(publications("quote:A", 1, 10)) == 10
    assert await pubsub.publish_with_history(publications("quote:A", 8, 12)) == 2, (
        "positions at or below the newest are skipped"
    )
    assert await pubsub.publish_with_history([]) == 0
    missed = await pubsub.history("quote:A", 4)
    assert positions(missed) == list(range(5, 13))
    assert missed is not None
    assert missed[0] == Publication("quote:A", 5, b"m5")
    assert await pubsub.history("quote:A", 12) == [], "nothing new since"
    assert await pubsub.history("quote:A", 20) == [], "a reader ahead of us missed nothing"
    assert await pubsub.history("quote:B", 0) is None, "a channel never published"
    await pubsub.publish("quote:P", b"plain")
    assert await pubsub.history("quote:P", 0) is None, "a plain publish keeps no history"


@pytest.mark.parametrize(
    "retention", [Retention(max_messages=10, max_age_seconds=60)], ids=["10-messages"]
)
async def test_history_is_capped_by_count(pubsub: PubSub) -> None:
    for start in range(1, 1001, 100):  # Redis trims in whole nodes: "about" the count
        await pubsub.publish_with_history(publications("quote:C", start, start + 99))
    assert await pubsub.history("quote:C", 1) is None, "the oldest are gone"
    recent = await pubsub.history("quote:C", 995)
    assert positions(recent) == [996, 997, 998, 999, 1000]


@pytest.mark.parametrize(
    "retention", [Retention(max_messages=1000, max_age_seconds=0.3)], ids=["0.3-seconds"]
)
async def test_history_is_capped_by_age(pubsub: PubSub) -> None:
    await pubsub.publish_with_history(publications("quote:D", 1, 5))
    assert positions(await pubsub.history("quote:D", 2)) == [3, 4, 5]
    await asyncio.sleep(0.5)
    assert await pubsub.history("quote:D", 2) is None, "older than the age limit"
    await pubsub.publish_with_history(publications("quote:D", 6, 6))
    assert positions(await pubsub.history("quote:D", 5)) == [6], "a new one is held again"


async def test_a_publish_reaches_a_subscriber_and_the_history_alike_once(
    pubsub: PubSub,
) -> None:
    listener = await subscribed(pubsub, "quote:E")
    await pubsub.publish_with_history(publications("quote:E", 1, 3))
    await pubsub.publish_with_history(publications("quote:E", 2, 4))  # 2 and 3 again
    async with asyncio.timeout(5):
        first = await listener
    got = [first, *await received(pubsub, 3)]
    assert got == [("quote:E", b"m1"), ("quote:E", b"m2"), ("quote:E", b"m3"), ("quote:E", b"m4")]
    await nothing_more(pubsub)
    assert positions(await pubsub.history("quote:E", 0)) == [1, 2, 3, 4]


async def test_large_batches_reach_subscribers_and_history_in_order_once(
    pubsub: PubSub,
) -> None:
    """A batch of a bridge under load: hundreds of publications over several channels, some
    re-delivered, in one call (the Redis backend splits it into several script calls); and
    as many plain messages. Every new one arrives once, in order, and is held."""
    listener = await subscribed(pubsub, "quote:F", "quote:G", "candle:F:1m")
    first = [
        p
        for n in range(1, 151)
        for p in (*publications("quote:F", n, n), *publications("quote:G", n, n))
    ]
    await pubsub.publish_with_history(first[:100])
    published = await pubsub.publish_with_history(first)  # the first 100 again, then 200 new
    assert published == 200, "a position already held is skipped"
    await pubsub.publish_many([("candle:F:1m", str(n).encode()) for n in range(450)])
    async with asyncio.timeout(5):
        got = [await listener, *await received(pubsub, 300 + 450 - 1)]
    assert got[:300] == [(p.channel, p.message) for p in first]
    assert got[300:] == [("candle:F:1m", str(n).encode()) for n in range(450)]
    await nothing_more(pubsub)
    assert positions(await pubsub.history("quote:G", 0)) == list(range(1, 151))


async def test_a_hub_round_trip(pubsub: PubSub, caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub(pubsub)
    await hub.start()
    await asyncio.sleep(0.3)  # the listener idles before the first subscriber arrives
    try:
        async with hub.subscribe(["quote:AAPL"], conflate=False) as mailbox:
            assert hub.channel_count == 1
            await pubsub.publish("quote:AAPL", b"one")
            await pubsub.publish("quote:MSFT", b"not mine")
            await pubsub.publish("quote:AAPL", b"two")
            async with asyncio.timeout(5):
                assert await mailbox.get() == ("quote:AAPL", b"one")
                assert await mailbox.get() == ("quote:AAPL", b"two")
        assert hub.channel_count == 0, "the last subscriber leaving unsubscribes upstream"
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        await hub.stop()


async def test_a_slow_hub_subscriber_is_conflated_in_bounded_memory(pubsub: PubSub) -> None:
    """One hub: a reader that never reads holds at most `limit` messages, while a reader that
    keeps up gets all 5000, in order, without waiting for the other."""
    hub = Hub(pubsub, mailbox_limit=64)
    await hub.start()
    total = 5000
    try:
        async with (
            hub.subscribe(["quote:A"]) as slow,
            hub.subscribe(["quote:A"], limit=total) as fast,
        ):

            async def read_all() -> list[int]:
                return [int((await fast.get())[1]) for _ in range(total)]

            reader = asyncio.create_task(read_all())
            for start in range(0, total, 500):
                await pubsub.publish_many(
                    [("quote:A", str(n).encode()) for n in range(start, start + 500)]
                )
            async with asyncio.timeout(20):
                assert await reader == list(range(total)), "the fast reader got every message"
            assert len(slow) <= 64, "the slow reader's backlog stays bounded"
            backlog = [int(m) for _c, m in slow.drain()]
            assert backlog == sorted(backlog)
            assert backlog[-1] == total - 1, "and ends with the latest"
            assert slow.dropped == total - len(backlog)
    finally:
        await hub.stop()


async def test_a_hub_working_through_a_backlog_lets_other_tasks_run(pubsub: PubSub) -> None:
    """A backend hands out buffered messages without suspending, so a listener that only
    awaited the next message kept the event loop for a whole backlog (in full mode hundreds of
    Redis messages per socket read), and the API's accepts and handshakes stalled behind it.
    The hub yields after `turn_seconds` of work: with 0, between every two messages."""
    hub = Hub(pubsub, turn_seconds=0.0)
    others_turns = 0
    seen: list[int] = []  # how often the other task had run, at each message
    all_seen = asyncio.Event()

    class Recorder:
        def offer(self, _channel: str, _message: bytes) -> int:
            seen.append(others_turns)
            if len(seen) == 300:
                all_seen.set()
            return 1

    async def other_work() -> None:
        nonlocal others_turns
        while True:
            others_turns += 1
            await asyncio.sleep(0)

    recorder = Recorder()
    await hub.attach("quote:B", recorder)
    await pubsub.publish_many([("quote:B", str(n).encode()) for n in range(300)])
    await asyncio.sleep(0.2)  # the backlog arrives before the hub reads any of it
    other = asyncio.create_task(other_work())
    await hub.start()
    try:
        async with asyncio.timeout(10):
            await all_seen.wait()
        assert len(set(seen)) == len(seen), "other work ran between every two messages"
    finally:
        other.cancel()
        await hub.stop()
        await hub.detach("quote:B", recorder)
