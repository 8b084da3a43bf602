"""Pure logic of the live side: tick parsing, the simulator, mailboxes, the bridge's dedup and
the crossing rules of the alert and matching stages."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from models.tables import AlertCondition, OrderSide
from streaming.bridge import Bridge
from streaming.cache.memory import MemoryCache
from streaming.errors import BadTick
from streaming.feeds.simulator import SimulatedInstrument, Simulator
from streaming.hub import Mailbox
from streaming.log import LogRecord
from streaming.log.memory import MemoryTickLog
from streaming.pubsub.memory import MemoryPubSub
from streaming.stages.alerts import first_crossings
from streaming.stages.ranges import quote_extremes, trade_extremes
from streaming.tick import Tick
from trading.alerts import AlertCandidate
from trading.fills import crosses_quote

NOW = datetime(2026, 1, 2, 15, 30, tzinfo=UTC)


def tick(symbol: str = "AAPL", sequence: int = 1, price: str = "100.25") -> Tick:
    p = Decimal(price)
    return Tick(
        symbol, p, p - Decimal("0.01"), p + Decimal("0.01"), Decimal(10), sequence, NOW, NOW
    )


def test_tick_survives_its_wire_form_exactly() -> None:
    original = tick(price="1234.56789012")
    assert Tick.from_json(original.to_json()) == original


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"price": "abc"}, r"Invalid decimal string - at `\$.price`"),
        ({"price": "NaN"}, "bad price NaN"),
        ({"price": "-1"}, "bad price -1"),
        ({"price": True}, r"Expected `decimal`, got `bool` - at `\$.price`"),
        ({"sequence": "7"}, r"Expected `int`, got `str` - at `\$.sequence`"),
        ({"sequence": -1}, r"Expected `int` >= 0 - at `\$.sequence`"),
        ({"symbol": ""}, r"length >= 1 - at `\$.symbol`"),
        ({"symbol": "A" * 33}, r"length <= 32 - at `\$.symbol`"),
        ({"exchange_ts": "2026-01-02T15:30:00"}, r"timezone component - at `\$.exchange_ts`"),
        ({"bid": "200"}, "above ask"),
        ({"bid": "0"}, "bad bid 0"),
        ({"ask": "Infinity"}, "bad ask Infinity"),
        ({"volume": "-1"}, "bad volume -1"),
        ({"volume": "sNaN"}, "bad volume sNaN"),
        ({"bid_size": "-1"}, "bad bid_size -1"),
    ],
)
def test_bad_ticks_are_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    data = orjson.loads(tick().to_json()) | change
    with pytest.raises(BadTick, match=message):
        Tick.from_dict(data)


def test_a_numbered_tick_is_the_same_tick_with_its_number() -> None:
    original = tick(sequence=0)
    numbered = original.numbered(42)
    assert numbered.sequence == 42
    assert original.sequence == 0, "the original unchanged"
    assert Tick.from_json(numbered.to_json()) == tick(sequence=42)
    with pytest.raises(ValueError, match="bad sequence -1"):
        original.numbered(-1)


@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b'{"symbol": "AAPL"}'])
def test_malformed_messages_are_bad_ticks(raw: bytes) -> None:
    with pytest.raises(BadTick):
        Tick.from_json(raw)


def test_simulator_moves_in_whole_ticks_unnumbered() -> None:
    instruments = [SimulatedInstrument("X", Decimal("0.05"), Decimal("100.00"))]
    simulator = Simulator(instruments, ticks_per_second=10, seed=1)
    ticks = [simulator.next_tick() for _ in range(500)]
    for t in ticks:
        assert t.price % Decimal("0.05") == 0
        assert t.bid % Decimal("0.05") == 0
        assert t.ask % Decimal("0.05") == 0
        assert 0 < t.bid < t.ask
    assert {t.sequence for t in ticks} == {0}, "the feed sender numbers them"
    assert len({t.price for t in ticks}) > 10


def test_simulator_is_repeatable_with_a_seed() -> None:
    def prices() -> list[Decimal]:
        simulator = Simulator(
            [SimulatedInstrument("X", Decimal("0.01"), Decimal("50"))], ticks_per_second=1, seed=3
        )
        return [simulator.next_tick().price for _ in range(50)]

    assert prices() == prices()


async def test_mailbox_keeps_every_message_while_the_reader_keeps_up() -> None:
    mailbox: Mailbox[bytes] = Mailbox(conflate=True, limit=8)
    for n in range(8):
        mailbox.offer("ab"[n % 2], str(n).encode())
    assert [(await mailbox.get())[1] for _ in range(8)] == [str(n).encode() for n in range(8)]
    assert mailbox.dropped == 0


async def test_conflating_mailbox_collapses_a_backlog_to_the_latest_per_channel() -> None:
    mailbox: Mailbox[bytes] = Mailbox(conflate=True, limit=4)
    for n in range(1000):
        mailbox.offer("a", str(n).encode())
        assert len(mailbox) <= 4, "memory stays bounded"
    mailbox.offer("b", b"only")
    got = [await mailbox.get() for _ in range(len(mailbox))]
    a_values = [int(m) for c, m in got if c == "a"]
    assert a_values == sorted(a_values), "still in order"
    assert a_values[-1] == 999, "the latest is never dropped"
    assert got[-1] == ("b", b"only")
    assert mailbox.dropped == 1000 - len(a_values)


async def test_drain_latest_only() -> None:
    mailbox: Mailbox[bytes] = Mailbox(conflate=True)
    for channel, n in [("a", 1), ("b", 1), ("a", 2)]:
        mailbox.offer(channel, str(n).encode())
    assert mailbox.drain(latest_only=True) == [("a", b"2"), ("b", b"1")]
    assert len(mailbox) == 0
    waiting = asyncio.create_task(mailbox.get_latest())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    mailbox.offer("a", b"3")
    mailbox.offer("a", b"4")
    assert await asyncio.wait_for(waiting, 1) == [("a", b"4")]


async def test_queued_mailbox_is_bounded_and_drops_the_oldest() -> None:
    mailbox: Mailbox[bytes] = Mailbox(conflate=False, limit=3)
    for n in range(5):
        mailbox.offer("user:1", str(n).encode())
    assert [(await mailbox.get())[1] for _ in range(3)] == [b"2", b"3", b"4"]
    assert mailbox.dropped == 2


async def test_mailbox_waits_for_a_message() -> None:
    mailbox: Mailbox[bytes] = Mailbox(conflate=True)
    waiting = asyncio.create_task(mailbox.get())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    mailbox.offer("a", b"x")
    assert await asyncio.wait_for(waiting, 1) == ("a", b"x")


def record(value: bytes, offset: int = 0) -> LogRecord:
    return LogRecord(b"k", value, 0, offset)


async def test_bridge_drops_redelivered_and_bad_ticks() -> None:
    cache, pubsub = MemoryCache(), MemoryPubSub()
    await pubsub.subscribe("quote:AAPL")
    bridge = Bridge(tick_log=MemoryTickLog(), group="g", cache=cache, pubsub=pubsub)
    first = [record(tick(sequence=n).to_json(), n) for n in (1, 2, 3)]
    assert [t.sequence for t in await bridge.process(first)] == [1, 2, 3]
    again = [*first, record(b"garbage"), record(tick(sequence=4).to_json())]
    assert [t.sequence for t in await bridge.process(again)] == [4]
    assert (bridge.stats.ticks, bridge.stats.duplicates, bridge.stats.bad_ticks) == (4, 3, 1)
    cached = await cache.get("quote:AAPL")
    assert cached is not None
    assert Tick.from_json(cached).sequence == 4
    published = [Tick.from_json((await pubsub.next_message())[1]).sequence for _ in range(4)]
    assert published == [1, 2, 3, 4]


async def test_bridge_records_the_watermark_only_on_flush() -> None:
    """A restarted worker starts from the watermark, so it must never run ahead of what the
    stages made durable."""
    cache, pubsub = MemoryCache(), MemoryPubSub()
    bridge = Bridge(tick_log=MemoryTickLog(), group="g", cache=cache, pubsub=pubsub)
    await bridge.process([record(tick(sequence=5).to_json())])
    assert bridge.pending == 1
    assert await cache.get("applied:AAPL") is None
    await bridge.flush()
    assert await cache.get("applied:AAPL") == b"5"
    assert bridge.pending == 0

    restarted = Bridge(tick_log=MemoryTickLog(), group="g", cache=cache, pubsub=pubsub)
    fresh = await restarted.process([record(tick(sequence=n).to_json()) for n in (4, 5, 6)])
    assert [t.sequence for t in fresh] == [6]


async def test_the_durable_lane_applies_every_pending_batch_in_one_call() -> None:
    """Batches the live lane took since the durable lane's last round reach each durable
    stage as one list in log order (a stage's cost is mostly per call); a failed call keeps
    them all pending, and the retry gets them again."""
    calls: list[list[int]] = []

    class Recording:
        name = "recording"
        fail_once = True

        async def apply(self, ticks: list[Tick]) -> None:
            calls.append([t.sequence for t in ticks])
            if self.fail_once:
                self.fail_once = False
                raise ConnectionError("database away")

        async def flush(self) -> None:
            return None

        def forget(self) -> None:
            return None

    bridge = Bridge(
        tick_log=MemoryTickLog(),
        group="g",
        cache=MemoryCache(),
        pubsub=MemoryPubSub(),
        stages=[Recording()],
    )
    for first in (1, 3, 5):
        await bridge.take([record(tick(sequence=n).to_json(), n) for n in (first, first + 1)])
    with pytest.raises(ConnectionError):
        await bridge.apply_backlog()
    assert bridge.backlog_ticks == 6, "nothing left the backlog"
    await bridge.apply_backlog()
    assert calls == [[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]]
    assert bridge.backlog_ticks == 0
    await bridge.apply_backlog()
    assert len(calls) == 2, "nothing pending: no call"


def test_alerts_fire_at_the_first_crossing_tick_of_their_symbol() -> None:
    ticks = [tick("A", 1, "100"), tick("B", 1, "50"), tick("A", 2, "105"), tick("A", 3, "99")]
    trades, quotes = trade_extremes(), quote_extremes()
    trades.add(ticks[:2])  # two batches, noted until the flush
    trades.add(ticks[2:])
    quotes.add(ticks)
    assert trades.ranges() == {
        "A": (Decimal(99), Decimal(105)),
        "B": (Decimal(50), Decimal(50)),
    }
    assert quotes.ranges()["A"] == (Decimal("99.01"), Decimal("104.99"))
    above = AlertCandidate(1, "A", AlertCondition.ABOVE, Decimal(104))
    below = AlertCandidate(2, "A", AlertCondition.BELOW, Decimal("99.5"))
    missed = AlertCandidate(3, "B", AlertCondition.ABOVE, Decimal(51))
    fired = first_crossings([above, below, missed], trades.ticks())
    assert [(c.id, t.sequence) for c, t in fired] == [(1, 2), (2, 3)]


def test_noted_ticks_are_only_the_new_lows_and_highs_once_each() -> None:
    trades = trade_extremes()
    batch = [tick("A", n, p) for n, p in enumerate(["100", "101", "100.5", "101", "99", "100"])]
    trades.add(batch)
    trades.add(batch)  # the same batch again (a later stage failed): nothing new
    assert [t.sequence for t in trades.ticks()["A"]] == [0, 1, 4]
    assert trades.ranges() == {"A": (Decimal(99), Decimal(101))}
    trades.clear()
    assert not trades
    trades.add([tick("A", 7, "100")])
    assert trades.ranges() == {"A": (Decimal(100), Decimal(100))}


def test_the_noted_ticks_find_the_same_first_crossings_as_all_ticks() -> None:
    """Per threshold and side, the first crossing among the noted ticks (new lows and highs)
    is the first crossing among all ticks, for alerts (trade price) and limits (bid/ask)."""
    rng = random.Random(7)
    for _ in range(200):
        price = Decimal(100)
        ticks = []
        for n in range(rng.randint(1, 40)):
            price += Decimal(rng.randint(-3, 3)) / 4
            ticks.append(tick("A", n, str(price)))
        trades, quotes = trade_extremes(), quote_extremes()
        trades.add(ticks)
        quotes.add(ticks)
        for quarter in range(360, 440):
            threshold = Decimal(quarter) / 4
            for condition in (AlertCondition.ABOVE, AlertCondition.BELOW):
                alert = AlertCandidate(1, "A", condition, threshold)
                assert first_crossings([alert], trades.ticks()) == first_crossings(
                    [alert], {"A": ticks}
                )
            for side in (OrderSide.BUY, OrderSide.SELL):
                expected = next(
                    (t for t in ticks if crosses_quote(side, threshold, t.bid, t.ask)), None
                )
                noted = quotes.ticks()["A"]
                found = next(
                    (t for t in noted if crosses_quote(side, threshold, t.bid, t.ask)), None
                )
                assert found == expected


def test_a_quote_crosses_a_limit_at_the_side_it_trades_on() -> None:
    bid, ask = Decimal("99.98"), Decimal("100.02")
    assert crosses_quote(OrderSide.BUY, Decimal("100.02"), bid, ask)
    assert not crosses_quote(OrderSide.BUY, Decimal("100.01"), bid, ask)
    assert crosses_quote(OrderSide.SELL, Decimal("99.98"), bid, ask)
    assert not crosses_quote(OrderSide.SELL, Decimal("99.99"), bid, ask)


class LosesACancel:
    """A stage whose first write loses the cancel that arrives during it, as Python 3.11's
    `asyncio.wait_for` (redis-py's socket writes) does when the write completes meanwhile."""

    name = "loses-a-cancel"

    def __init__(self) -> None:
        self.writing = asyncio.Event()
        self.lost = False

    async def apply(self, ticks: list[Tick]) -> None:  # noqa: ARG002 (Stage)
        if self.lost:
            return
        self.writing.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.lost = True

    async def flush(self) -> None:
        return None

    def forget(self) -> None:
        return None


@pytest.mark.parametrize("lane", ["live", "durable"])
async def test_a_bridge_stops_even_when_a_write_loses_its_cancel(lane: str) -> None:
    """Stopping a worker cancels its lanes; one whose write swallowed the cancel must still
    end, or the worker's shutdown (and whatever awaits it) waits forever."""
    log, stage = MemoryTickLog(), LosesACancel()
    bridge = Bridge(tick_log=log, group="g", cache=MemoryCache(), pubsub=MemoryPubSub())
    if lane == "live":
        bridge.live_stages = [stage]
    else:
        bridge.stages = [stage]
    await log.append(b"AAPL", tick().to_json())
    run = asyncio.create_task(bridge.run())
    await stage.writing.wait()
    run.cancel()
    await asyncio.wait({run}, timeout=30)  # (not `await run`: cancelling that cancels it again)
    assert stage.lost, "the write did lose the cancel"
    assert run.cancelled(), "the worker stopped all the same"
