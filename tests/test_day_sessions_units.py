"""Pure logic of day statistics, sessions, the calendar-following simulator and replayed
status rows (no services)."""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from models.types import utcnow
from streaming.feeds.finnhub import FinnhubAdapter
from streaming.feeds.market import EventFeed, MarketEvent
from streaming.feeds.replay import Replay
from streaming.feeds.simulator import SimulatedInstrument, Simulator
from streaming.tick import Tick
from trading.day_stats import DayStats
from trading.sessions import MarketPhase, SessionClock

FRIDAY, MONDAY = date(2026, 11, 27), date(2026, 11, 30)


def test_a_new_session_starts_from_its_first_trade_with_the_last_as_previous_close() -> None:
    day = DayStats.first(FRIDAY, Decimal("10.00"), Decimal(3), None)
    day = day.fold(FRIDAY, Decimal("10.05"), Decimal(1))
    assert (day.high, day.low, day.volume, day.last) == (
        Decimal("10.05"),
        Decimal(10),
        Decimal(4),
        Decimal("10.05"),
    )
    assert day.vwap == Decimal("10.0125")  # 40.05 / 4
    assert (day.change, day.change_percent) == (None, None)
    monday = day.fold(MONDAY, Decimal("9.00"), Decimal(2))
    assert (monday.session, monday.previous_close, monday.open, monday.volume) == (
        MONDAY,
        Decimal("10.05"),
        Decimal("9.00"),
        Decimal(2),
    )
    assert monday.change == Decimal("-1.05")
    assert monday.change_percent == Decimal("-10.45")  # -10.447..% half-even to 2 places
    assert day.fold(date(2026, 11, 25), Decimal(11), Decimal(1)).session == FRIDAY  # no reopen


def test_vwap_rounds_half_even_to_four_places_and_is_null_without_volume() -> None:
    day = DayStats.first(FRIDAY, Decimal(1), Decimal(3), None).fold(FRIDAY, Decimal(2), Decimal(0))
    assert day.fold(FRIDAY, Decimal(2), Decimal(3)).vwap == Decimal("1.5000")
    assert DayStats.first(FRIDAY, Decimal(1), Decimal(0), None).vwap is None
    thirds = DayStats.first(FRIDAY, Decimal(1), Decimal(2), None).fold(
        FRIDAY, Decimal(2), Decimal(1)
    )
    assert thirds.vwap == Decimal("1.3333")


def test_sessions_run_from_one_open_to_the_next() -> None:
    clock = SessionClock().exchange("NYSE")
    saturday_night = datetime.fromisoformat("2026-11-29T02:00:00+00:00")
    assert clock.session_of(saturday_night).day == FRIDAY
    before_open = datetime.fromisoformat("2026-11-30T14:29:59+00:00")
    assert clock.session_of(before_open).day == FRIDAY
    span = clock.session_of(datetime.fromisoformat("2026-11-30T14:30:00+00:00"))
    assert (span.day, span.next_opens.isoformat()) == (MONDAY, "2026-12-01T14:30:00+00:00")


def test_is_open_only_in_regular_hours() -> None:
    clock = SessionClock()
    assert clock.is_open("XNAS", datetime.fromisoformat("2026-11-30T15:00:00+00:00"))
    assert not clock.is_open("XNAS", datetime.fromisoformat("2026-11-30T21:00:00+00:00"))
    pre = clock.exchange("XNAS").status(datetime.fromisoformat("2026-11-30T09:00:00+00:00"))
    assert pre.phase is MarketPhase.PRE


async def test_the_simulator_skips_ticks_while_its_market_is_closed() -> None:
    instruments = [SimulatedInstrument("OPEN", Decimal("0.01"), Decimal(10))]
    instruments.append(SimulatedInstrument("SHUT", Decimal("0.01"), Decimal(10)))
    sent: list[Tick] = []

    async def sink(tick: Tick) -> None:
        sent.append(tick)
        if len(sent) == 20:
            raise StopAsyncIteration

    simulator = Simulator(
        instruments, ticks_per_second=10_000, seed=1, trading=lambda s, _now: s == "OPEN"
    )
    with contextlib.suppress(StopAsyncIteration):
        await simulator.run(sink)
    assert {tick.symbol for tick in sent} == {"OPEN"}


def test_a_replayed_status_row_halts_or_resumes(tmp_path: Path) -> None:
    path = tmp_path / "ticks.ndjson"
    path.write_text(
        '{"symbol": "AAPL", "price": "1", "timestamp": "2026-11-30T15:00:00Z"}\n'
        '{"symbol": "AAPL", "price": "1", "timestamp": "2026-11-30T15:01:00Z", "halted": true}\n'
        '{"symbol": "AAPL", "price": "1", "timestamp": "2026-11-30T15:02:00Z", "halted": "0"}\n'
        '{"symbol": "AAPL", "price": "1", "timestamp": "2026-11-30T15:03:00Z", "halted": "x"}\n'
    )
    replay = Replay(path, speed=0)
    assert [tick.halted for tick in replay.ticks()] == [None, True, False]
    assert replay.bad_rows == 1
    assert b"halted" not in next(replay.ticks()).to_json()  # a trade keeps its wire form


async def test_provider_status_messages_halt_and_resume_at_the_last_price() -> None:
    """A status before any trade of its symbol has no price to show: not published (nor
    counted as bad: the message was fine); then halts and resumes at the last price."""
    adapter = FinnhubAdapter("ws://127.0.0.1:9", ["AAPL"])
    feed = EventFeed(adapter)
    sent: list[Tick] = []

    async def sink(tick: Tick) -> None:
        sent.append(tick)

    async def emit(event: MarketEvent) -> None:
        tick = feed.state.tick(event, utcnow())
        if tick is not None:
            await sink(tick)

    status = '{"type":"status","data":[{"s":"AAPL","halted":%s,"t":1767225660000}]}'
    await adapter.handle(status % "true", emit)  # before any trade: nothing to price it with
    await adapter.handle(
        '{"type":"trade","data":[{"s":"AAPL","p":10.5,"v":3,"t":1767225600000}]}', emit
    )
    await adapter.handle(status % "true", emit)
    await adapter.handle(status % "false", emit)
    assert [(t.kind, t.price, t.volume, t.halted) for t in sent] == [
        ("trade", Decimal("10.5"), Decimal(3), None),
        ("status", Decimal("10.5"), Decimal(0), True),
        ("status", Decimal("10.5"), Decimal(0), False),
    ]
    assert sent[1].exchange_ts.isoformat() == "2026-01-01T00:01:00+00:00"
    assert adapter.bad_messages == 0
