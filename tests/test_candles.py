"""Candle folding (pure) and the candle stage against real PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select

from models.db import create_tables, make_engine, make_session_factory, session_scope
from models.tables import Candle
from settings import Settings
from streaming.cache.memory import MemoryCache
from streaming.candles import Bar, CandleBook, Interval
from streaming.pubsub.memory import MemoryPubSub
from streaming.stages.candles import CandleStage
from streaming.tick import Tick
from tests.conftest import make_settings

T0 = datetime(2026, 3, 4, 14, 30, 0, tzinfo=UTC)


def tick(
    seq: int, price: str, seconds: float = 0, volume: str = "10", symbol: str = "AAPL"
) -> Tick:
    p = Decimal(price)
    moment = T0 + timedelta(seconds=seconds)
    return Tick(symbol, p, p, p, Decimal(volume), seq, moment, moment)


@pytest.mark.parametrize(
    ("interval", "moment", "start"),
    [
        (Interval.M1, "2026-03-04T14:30:59.999+00:00", "2026-03-04T14:30:00+00:00"),
        (Interval.M1, "2026-03-04T14:31:00+00:00", "2026-03-04T14:31:00+00:00"),
        (Interval.M5, "2026-03-04T14:34:00+00:00", "2026-03-04T14:30:00+00:00"),
        (Interval.M15, "2026-03-04T14:44:59+00:00", "2026-03-04T14:30:00+00:00"),
        (Interval.H1, "2026-03-04T14:59:00+00:00", "2026-03-04T14:00:00+00:00"),
        (Interval.D1, "2026-03-04T23:59:59+00:00", "2026-03-04T00:00:00+00:00"),
        # another zone: the bar is still aligned in UTC
        (Interval.H1, "2026-03-04T10:15:00-04:00", "2026-03-04T14:00:00+00:00"),
    ],
)
def test_bar_start_is_floored_in_utc(interval: Interval, moment: str, start: str) -> None:
    found = interval.start_of(datetime.fromisoformat(moment))
    assert found == datetime.fromisoformat(start)
    assert found.utcoffset() == timedelta(0), "written in UTC, whatever the tick's zone"


def test_a_bar_folds_ohlcv_and_refuses_repeats() -> None:
    book = CandleBook((Interval.M1,))
    book.apply([tick(1, "100")])
    (bar,) = book.apply(
        [tick(seq, p, seconds=seq) for seq, p in ((2, "103"), (3, "99.5"), (4, "101"))]
    )
    assert (bar.open, bar.high, bar.low, bar.close) == tuple(
        Decimal(p) for p in ("100", "103", "99.5", "101")
    )
    assert bar.volume == Decimal(40)
    assert bar.last_sequence == 4
    assert book.apply([tick(3, "500", seconds=3)]) == [], "a re-delivered tick changes nothing"
    assert book.stale == 1
    assert book.forming("AAPL", Interval.M1) == bar


def test_a_tick_in_the_next_interval_opens_a_bar_and_late_ones_are_counted() -> None:
    book = CandleBook((Interval.M1,))
    book.apply([tick(1, "100")])
    (nxt,) = book.apply([tick(2, "105", seconds=61)])
    assert nxt.start == T0 + timedelta(minutes=1)
    assert (nxt.open, nxt.volume) == (Decimal(105), Decimal(10))
    assert book.apply([tick(3, "1", seconds=5)]) == []
    assert book.late == 1
    assert book.forming("AAPL", Interval.M1) == nxt


def test_a_batch_folds_as_its_ticks_one_by_one() -> None:
    ticks = [
        tick(seq, str(100 + (seq * 7) % 13), seconds=seq * 17, symbol=f"S{seq % 3}")
        for seq in range(1, 40)
    ]
    ticks.insert(20, tick(5, "1", seconds=85, symbol="S2"))  # a repeat
    ticks.insert(30, tick(99, "1", seconds=1, symbol="S0"))  # late for its minute
    whole, single = CandleBook(), CandleBook()
    changed = whole.apply(ticks)
    for each in ticks:
        single.apply([each])
    assert whole.snapshot() == single.snapshot()
    assert (whole.stale, whole.late) == (single.stale, single.late)
    assert len({b.key for b in changed}) == len(changed), "each bar once, as it was last"
    closed = [b for b in changed if whole.forming(b.symbol, b.interval) != b]
    assert closed, "the bars the batch closed are among the changed"


def test_bar_survives_its_wire_form() -> None:
    (bar,) = CandleBook((Interval.M15,)).apply([tick(7, "1234.56789")])
    assert Bar.from_json(bar.to_json()) == bar


def test_book_reports_closed_and_forming_bars_and_loads_once() -> None:
    book = CandleBook((Interval.M1, Interval.H1))
    first = [tick(1, "100"), tick(2, "101", seconds=30)]
    hour = T0.replace(minute=0)
    assert book.wanted(first) == {("AAPL", Interval.M1, T0), ("AAPL", Interval.H1, hour)}
    book.load([])
    changed = book.apply(first)
    assert [(b.interval, b.volume) for b in changed] == [
        (Interval.M1, Decimal(20)),
        (Interval.H1, Decimal(20)),
    ]
    assert book.wanted([tick(3, "1", seconds=40)]) == set(), "forming bars need no load"
    changed = book.apply([tick(3, "102", seconds=50), tick(4, "90", seconds=70)])
    minutes = [b for b in changed if b.interval is Interval.M1]
    assert [b.start for b in minutes] == [T0, T0 + timedelta(minutes=1)], "closed bar included"
    assert book.forming("AAPL", Interval.H1) is not None
    assert book.forming("AAPL", Interval.H1).volume == Decimal(40)  # type: ignore[union-attr]


def test_book_snapshot_restores_after_a_failed_write() -> None:
    book = CandleBook((Interval.M1,))
    book.apply([tick(1, "100")])
    saved = book.snapshot()
    book.apply([tick(2, "200", seconds=1)])
    book.restore(saved)
    assert book.apply([tick(2, "200", seconds=1)])[0].volume == Decimal(20)


@pytest.fixture(params=["postgresql", "sqlite"])
def candle_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    settings: Settings = request.getfixturevalue("full_settings")
    return settings


async def stored(settings: Settings, symbol: str) -> list[Candle]:
    engine = make_engine(settings)
    try:
        async with session_scope(make_session_factory(engine)) as session:
            rows = await session.exec(select(Candle).where(Candle.symbol == symbol))
            return sorted(rows, key=lambda c: (c.interval, c.start))
    finally:
        await engine.dispose()


async def test_candle_stage_persists_and_redelivery_changes_nothing(
    candle_settings: Settings,
) -> None:
    symbol = f"C{datetime.now(UTC).strftime('%H%M%S%f')}"[:12]
    engine = make_engine(candle_settings)
    if candle_settings.uses_sqlite:
        await create_tables(engine)
    sessions = make_session_factory(engine)
    pubsub = MemoryPubSub()
    channel = f"candle:{symbol}:1m"
    await pubsub.subscribe(channel)
    ticks = [
        tick(n, price, seconds=n * 10, symbol=symbol)
        for n, price in enumerate(["10", "12", "9", "11", "13", "8"], 1)
    ]  # 10s apart: a bar from 0-50s and a second from 60s
    try:
        stage = CandleStage(sessions, MemoryCache(), pubsub)
        await stage.apply(ticks[:3])
        assert await stored(candle_settings, symbol) == [], "written on flush, not on apply"
        await stage.flush()
        await stage.apply(ticks[3:])
        await stage.flush()
        first = await stored(candle_settings, symbol)

        # A restarted worker (empty memory) is handed the whole log again, then one new tick.
        restarted = CandleStage(sessions, MemoryCache(), MemoryPubSub())
        await restarted.apply(ticks)
        await restarted.flush()
        assert await stored(candle_settings, symbol) == first, "re-delivery changed nothing"
        await restarted.apply([tick(7, "20", seconds=65, symbol=symbol)])
        await restarted.flush()
    finally:
        await engine.dispose()

    minutes = [c for c in await stored(candle_settings, symbol) if c.interval == "1m"]
    assert [(c.open, c.high, c.low, c.close, c.volume, c.last_sequence) for c in minutes] == [
        (Decimal(10), Decimal(13), Decimal(9), Decimal(13), Decimal(50), 5),
        (Decimal(8), Decimal(20), Decimal(8), Decimal(20), Decimal(20), 7),
    ], "the restarted worker continued the stored bar"
    days = [c for c in first if c.interval == "1d"]
    assert len(days) == 1
    assert days[0].volume == Decimal(60)
    published = [Bar.from_json((await pubsub.next_message())[1]) for _ in range(3)]
    assert [(b.start.minute, b.last_sequence) for b in published] == [(30, 3), (30, 5), (31, 6)]
