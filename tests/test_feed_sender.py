"""The feed sender's buffer policy, numbering and re-sends (pure logic: a scripted producer,
which can refuse records), resume points and the simulator's restart price. Each log's tail
(`last_ticks`) is tested in test_backend_log.py."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Collection
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from streaming.feed_resume import ResumePoint, highest
from streaming.feed_sender import FeedSender, Overflow, Pacing
from streaming.runtime import make_simulator
from streaming.tick import Tick
from tests.conftest import make_settings
from tests.utils.live import make_tick


def metric(name: str, feed: str) -> float:
    return REGISTRY.get_sample_value(name, {"feed": feed}) or 0.0


class GatedProducer:
    """Acknowledges what it is given once `open` is set; the first `refuse` attempts leave
    their last `refuse_last` records unacknowledged (a per-key suffix, as Kafka would)."""

    def __init__(self, *, refuse: int = 0, refuse_last: int = 0) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.log: list[tuple[bytes, bytes]] = []
        self.attempts = 0
        self._refuse = refuse
        self._refuse_last = refuse_last

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send_batch(self, records: list[tuple[bytes, bytes]]) -> list[BaseException | None]:
        await self.open.wait()
        self.attempts += 1
        cut = len(records)
        if self.attempts <= self._refuse:
            cut = max(len(records) - self._refuse_last, 0)
        self.log += records[:cut]
        return [None] * cut + [ConnectionError("refused")] * (len(records) - cut)


def numbered(records: list[tuple[bytes, bytes]]) -> list[tuple[str, int, int]]:
    """Symbol, sequence and (whole) price of each record sent."""
    ticks = [Tick.from_json(value) for _key, value in records]
    return [(t.symbol, t.sequence, int(t.price)) for t in ticks]


async def nothing_known(_symbols: Collection[str]) -> dict[str, ResumePoint]:
    return {}


def sender(producer: GatedProducer, feed: str, overflow: Overflow, capacity: int) -> FeedSender:
    return FeedSender(
        producer,
        feed,
        resume=nothing_known,
        overflow=overflow,
        capacity=capacity,
        pacing=Pacing(batch_size=4),
    )


def feed_name() -> str:
    return f"test-{secrets.token_hex(3)}"


async def test_a_live_feed_drops_its_oldest_unsent_ticks_without_using_sequences() -> None:
    producer, feed = GatedProducer(), feed_name()
    producer.open.clear()
    async with sender(producer, feed, Overflow.DROP_OLDEST, capacity=3) as s:
        for n in range(10):
            await s.offer(make_tick("X", 0, price=str(100 + n)))
        assert s.held == 3, "the buffer stays bounded"
        producer.open.set()
    assert numbered(producer.log) == [("X", 1, 107), ("X", 2, 108), ("X", 3, 109)], (
        "the freshest kept; numbers only for what was sent: contiguous"
    )
    assert metric("trado_feed_send_failures_total", feed) == 7
    assert metric("trado_feed_ticks_total", feed) == 3


async def test_a_replay_waits_for_room_and_drops_nothing() -> None:
    producer, feed = GatedProducer(), feed_name()
    producer.open.clear()
    async with sender(producer, feed, Overflow.WAIT, capacity=2) as s:
        offering = asyncio.create_task(
            asyncio.wait_for(
                asyncio.gather(*[s.offer(make_tick("X", 0, str(n + 1))) for n in range(9)]), 5
            )
        )
        await asyncio.sleep(0.05)
        assert not offering.done(), "the feed waits while the log does not take ticks"
        assert s.held <= 2 + 4, "the buffer plus one batch in hand"
        producer.open.set()
        await offering
    assert [seq for _s, seq, _p in numbered(producer.log)] == list(range(1, 10))
    assert metric("trado_feed_send_failures_total", feed) == 0
    assert metric("trado_feed_ticks_total", feed) == 9


async def test_unacknowledged_records_are_sent_again_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer, feed = GatedProducer(refuse=2, refuse_last=2), feed_name()
    caplog.set_level(logging.WARNING, "streaming.feed_sender")
    async with sender(producer, feed, Overflow.DROP_OLDEST, capacity=100) as s:
        for n in range(4):
            await s.offer(make_tick("AB"[n % 2], 0, str(n + 1)))
    assert numbered(producer.log) == [
        ("A", 1, 1),
        ("B", 1, 2),
        ("A", 2, 3),
        ("B", 2, 4),
    ]
    assert producer.attempts == 3
    assert metric("trado_feed_send_retries_total", feed) == 2
    assert metric("trado_feed_ticks_total", feed) == 4
    lines = [r.getMessage() for r in caplog.records if r.name == "streaming.feed_sender"]
    assert len(lines) == 3, lines  # two failed attempts, one "recovered"
    assert "recovered after" in lines[-1]


async def test_numbering_continues_from_resume_points() -> None:
    producer, feed = GatedProducer(), feed_name()
    asked: list[set[str]] = []

    async def lookup(symbols: Collection[str]) -> dict[str, ResumePoint]:
        asked.append(set(symbols))
        return {"LATE": ResumePoint(41, Decimal(1))} if "LATE" in symbols else {}

    known = {"KNOWN": ResumePoint(1000, Decimal(5))}
    async with FeedSender(
        producer, feed, resume=lookup, overflow=Overflow.WAIT, capacity=10, known=known
    ) as s:
        for symbol in ("KNOWN", "LATE", "NEW", "KNOWN"):
            await s.offer(make_tick(symbol, 0))
    assert [(sym, seq) for sym, seq, _p in numbered(producer.log)] == [
        ("KNOWN", 1001),
        ("LATE", 42),
        ("NEW", 1),
        ("KNOWN", 1002),
    ]
    assert asked == [{"LATE", "NEW"}], "one lookup for the symbols not known at start"


async def test_stop_flushes_for_a_bounded_time_then_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer, feed = GatedProducer(), feed_name()
    producer.open.clear()
    s = FeedSender(
        producer,
        feed,
        resume=nothing_known,
        overflow=Overflow.DROP_OLDEST,
        capacity=100,
        pacing=Pacing(batch_size=4, stop_timeout=0.3),
    )

    async def run() -> None:
        async with s:
            for n in range(10):
                await s.offer(make_tick("X", 0, str(n + 1)))
            await asyncio.Event().wait()  # a live feed runs until cancelled

    task = asyncio.create_task(run())
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 0.25 <= asyncio.get_running_loop().time() - started < 1
    assert producer.log == []
    assert metric("trado_feed_send_failures_total", feed) == 10
    assert metric("trado_feed_buffered", feed) == 0
    assert any("never acknowledged" in r.getMessage() for r in caplog.records)


def test_the_highest_sequence_wins_across_sources() -> None:
    log = {"A": ResumePoint(5, Decimal(1)), "B": ResumePoint(9, Decimal(2))}
    cache = {"A": ResumePoint(7, Decimal(3))}
    candles = {"B": ResumePoint(8, Decimal(4)), "C": ResumePoint(1, Decimal(5))}
    assert highest([log, cache, candles]) == {
        "A": ResumePoint(7, Decimal(3)),
        "B": ResumePoint(9, Decimal(2)),
        "C": ResumePoint(1, Decimal(5)),
    }


def test_the_simulator_walks_on_from_the_last_price_on_its_tick_grid() -> None:
    settings = make_settings()
    resume = {"AAPL": ResumePoint(77, Decimal("311.237"))}
    simulator = make_simulator(settings, resume)
    prices = {i.symbol: i.price for i in simulator.instruments}
    assert prices["AAPL"] == Decimal("311.24"), "snapped to the 0.01 tick"
    assert prices["MSFT"] != Decimal("311.24"), "others start from their reference price"
