"""The recorder's file (append, an unfinished row after a crash, daily files, write errors),
the Finnhub adapter's events, the provider factory, and the replay of recorded market events
through a `MarketState` (quotes stay quotes, books books, statuses statuses)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from streaming.feeds.finnhub import FinnhubAdapter, parse_message
from streaming.feeds.market import (
    BarEvent,
    BookEvent,
    MarketEvent,
    QuoteEvent,
    StatusEvent,
    TradeEvent,
    decode_event,
)
from streaming.feeds.providers import make_adapter
from streaming.feeds.recording import Recording, RecordingError
from streaming.feeds.replay import Replay
from streaming.tick import Depth, Tick
from tests.conftest import make_settings

T0 = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


EVENTS: list[MarketEvent] = [
    StatusEvent("AAPL", halted=True, time=at(0), reason="before any price"),
    QuoteEvent("AAPL", Decimal("249.01"), Decimal("249.03"), at(0.1), Decimal(300), Decimal(5)),
    TradeEvent("AAPL", Decimal("249.02"), Decimal(30), at(0.2)),
    BookEvent(
        "AAPL",
        Depth(7, ((Decimal("249.01"), Decimal(300)),), ((Decimal("249.03"), Decimal(5)),)),
        at(0.3),
    ),
    StatusEvent("AAPL", halted=True, time=at(0.4), reason="T1 halt"),
    BarEvent("AAPL", "1m", *(Decimal("249.02"),) * 4, volume=Decimal(30), time=at(0)),
    StatusEvent("AAPL", halted=False, time=at(0.5)),
]


async def written(recording: Recording, events: list[MarketEvent]) -> None:
    with recording:
        for event in events:
            await recording.write(event)


async def test_a_recording_holds_one_row_per_event_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "day.ndjson"
    await written(Recording(path), EVENTS[:3])
    await written(Recording(path), EVENTS[3:])
    rows = path.read_bytes().splitlines()
    assert [decode_event(row) for row in rows] == EVENTS, "appended, every kind kept, exact"
    assert rows[2] == (
        b'{"kind":"trade","symbol":"AAPL","price":"249.02","size":"30",'
        b'"time":"2026-12-07T15:30:00.200000Z"}'
    )


async def test_an_unfinished_last_row_stays_one_bad_line(tmp_path: Path) -> None:
    """A recorder killed mid-row: the next one starts on a new line, and the replay skips
    and counts the cut row alone."""
    path = tmp_path / "day.ndjson"
    await written(Recording(path), EVENTS[1:3])
    with path.open("ab") as file:
        file.write(b'{"kind":"trade","symbol":"AAPL","pri')  # the crash
    await written(Recording(path), EVENTS[2:3])
    replay = Replay(path, speed=0)
    assert [tick.kind for tick in replay.ticks()] == ["quote", "trade", "trade"]
    assert replay.bad_rows == 1


async def test_a_cut_last_row_is_counted_by_the_replay(tmp_path: Path) -> None:
    path = tmp_path / "day.ndjson"
    await written(Recording(path), EVENTS[1:3])
    path.write_bytes(path.read_bytes()[:-20])  # the last row cut short, no line break
    replay = Replay(path, speed=0)
    assert [tick.kind for tick in replay.ticks()] == ["quote"]
    assert replay.bad_rows == 1


async def test_daily_rotation_writes_one_file_per_utc_day(tmp_path: Path) -> None:
    now = [at(0)]
    recording = Recording(tmp_path / "aapl.ndjson", rotate_daily=True, clock=lambda: now[0])
    with recording:
        await recording.write(EVENTS[1])
        now[0] = at(86_400)
        await recording.write(EVENTS[2])
    assert recording.files == [
        tmp_path / "aapl-2026-12-07.ndjson",
        tmp_path / "aapl-2026-12-08.ndjson",
    ]
    assert [len(path.read_bytes().splitlines()) for path in recording.files] == [1, 1]
    assert not (tmp_path / "aapl.ndjson").exists()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("missing/day.ndjson", "No such file or directory"),
        (".", "Is a directory"),
    ],
)
def test_a_file_that_cannot_be_opened_is_one_clear_error(
    tmp_path: Path, path: str, reason: str
) -> None:
    target = tmp_path / path
    with pytest.raises(RecordingError) as raised, Recording(target):
        pass
    assert str(raised.value) == f"cannot write {target}: {reason}"


async def test_a_full_disk_stops_the_recording_clearly() -> None:
    recording = Recording(Path("/dev/full"), flush_seconds=0)  # ENOSPC on every flush
    with pytest.raises(RecordingError, match=r"^cannot write /dev/full: No space left on device$"):
        await written(recording, EVENTS[1:2])
    assert not isinstance(RecordingError("x"), OSError), "an adapter would retry an OSError"


async def test_recorded_events_replay_as_the_ticks_they_made_live(tmp_path: Path) -> None:
    """Through a `MarketState`, as `EventFeed` does live: a status before any price makes no
    tick, a quote a quote tick with its sizes, a trade the touch the quote left, a book a
    book tick, a bar none; timestamps are the events' times."""
    path = tmp_path / "day.ndjson"
    await written(Recording(path), EVENTS)
    replay = Replay(path, speed=0)
    ticks = list(replay.ticks())
    assert [(t.kind, t.price, t.bid, t.ask, int(t.volume), t.halted) for t in ticks] == [
        ("quote", Decimal("249.02"), Decimal("249.01"), Decimal("249.03"), 0, None),
        ("trade", Decimal("249.02"), Decimal("249.01"), Decimal("249.03"), 30, None),
        ("book", Decimal("249.02"), Decimal("249.01"), Decimal("249.03"), 0, None),
        ("status", Decimal("249.02"), Decimal("249.01"), Decimal("249.03"), 0, True),
        ("status", Decimal("249.02"), Decimal("249.01"), Decimal("249.03"), 0, False),
    ]
    assert (ticks[0].bid_size, ticks[0].ask_size) == (Decimal(300), Decimal(5))
    assert ticks[2].book == EVENTS[3].depth  # type: ignore[union-attr]
    assert [t.exchange_ts for t in ticks] == [at(0.1), at(0.2), at(0.3), at(0.4), at(0.5)]
    assert {t.sequence for t in ticks} == {0}, "the feed sender numbers them"
    assert replay.bad_rows == 0


async def test_a_replay_mixes_event_rows_and_tick_rows_and_counts_bad_events(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mixed.ndjson"
    path.write_text(
        '{"kind":"trade","symbol":"X","price":"1.5","size":"2","time":"2026-12-07T15:30:00Z"}\n'
        '{"symbol":"Y","price":"7","timestamp":"2026-12-07T15:30:01Z"}\n'
        '{"kind":"trade","symbol":"X","price":"0","size":"2","time":"2026-12-07T15:30:02Z"}\n'
        '{"kind":"quote","symbol":"X","bid":"2","ask":"1","time":"2026-12-07T15:30:03Z"}\n'
        '{"kind":"surprise","symbol":"X"}\n'
    )
    replay = Replay(path, speed=0)
    assert [(t.symbol, t.kind, t.price) for t in replay.ticks()] == [
        ("X", "trade", Decimal("1.5")),
        ("Y", "trade", Decimal("7")),
    ]
    assert replay.bad_rows == 3, "a price of 0, a crossed quote, an unknown kind"


async def test_shifting_to_now_keeps_what_a_tick_is(tmp_path: Path) -> None:
    path = tmp_path / "day.ndjson"
    await written(Recording(path), EVENTS)
    ticks: list[Tick] = []

    async def sink(tick: Tick) -> None:
        ticks.append(tick)

    await Replay(path, speed=0, shift_to_now=True).run(sink)
    assert [t.kind for t in ticks] == ["quote", "trade", "book", "status", "status"]
    assert [t.halted for t in ticks[3:]] == [True, False]
    assert abs((ticks[0].received_ts - ticks[0].exchange_ts).total_seconds()) < 5
    assert ticks[4].exchange_ts - ticks[0].exchange_ts == timedelta(seconds=0.4)


def test_a_finnhub_trade_with_a_touch_is_a_quote_then_the_trade() -> None:
    events = parse_message(
        '{"type":"trade","data":[{"s":"aapl","p":249.02,"v":30,"t":1796657400000,'
        '"b":249.01,"a":249.03},{"s":"MSFT","p":410.5,"v":1,"t":1796657400000,"b":410.4}]}'
    )
    time = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
    assert events == [
        QuoteEvent("AAPL", Decimal("249.01"), Decimal("249.03"), time),
        TradeEvent("AAPL", Decimal("249.02"), Decimal(30), time),
        QuoteEvent("MSFT", Decimal("410.4"), Decimal("410.5"), time),  # no a: the price
        TradeEvent("MSFT", Decimal("410.5"), Decimal(1), time),
    ]


@pytest.mark.parametrize(
    "raw",
    [
        '{"type":"trade","data":[{"s":"A","p":0,"v":1,"t":1}]}',
        '{"type":"trade","data":[{"s":"A","p":"NaN","v":1,"t":1}]}',
        '{"type":"trade","data":[{"s":"A","p":1,"v":-1,"t":1}]}',
        '{"type":"trade","data":[{"s":"A","p":1,"v":1,"t":"soon"}]}',
        '{"type":"status","data":[{"s":"A","halted":"yes","t":1}]}',
        '{"type":"error","msg":"Subscribing to too many symbols"}',
    ],
)
async def test_an_unreadable_finnhub_message_is_counted_whole(raw: str) -> None:
    adapter = FinnhubAdapter("ws://127.0.0.1:9", ["A"])
    events: list[MarketEvent] = []

    async def emit(event: MarketEvent) -> None:
        events.append(event)

    await adapter.handle(raw.replace('"data":[', '"data":[{"s":"A","p":1,"v":1,"t":1},'), emit)
    assert (events, adapter.bad_messages) == ([], 1)


def test_the_factory_builds_the_configured_provider() -> None:
    adapter = make_adapter(make_settings(provider_url="wss://ws.finnhub.io?token=t"), ["AAPL"])
    assert isinstance(adapter, FinnhubAdapter)
    assert (adapter.name, adapter.url, list(adapter.symbols)) == (
        "finnhub",
        "wss://ws.finnhub.io?token=t",
        ["AAPL"],
    )


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"provider_url": None}, "PROVIDER_URL is not set"),
        ({"provider": "nasdaq"}, "PROVIDER 'nasdaq' has no adapter here (known: "),
    ],
)
def test_the_factory_says_what_is_missing(update: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        make_adapter(make_settings().model_copy(update=update), ["AAPL"])
