"""Feeds: replay of CSV/NDJSON files, the Finnhub adapter against a fake provider, the CLI,
and a replay produced into each tick log (memory and the real Kafka)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commands.feed import cli
from streaming.feed_resume import resume_lookup
from streaming.feed_sender import Overflow
from streaming.feeds.connection import Backoff
from streaming.feeds.finnhub import FinnhubAdapter
from streaming.feeds.market import EventFeed
from streaming.feeds.replay import Replay
from streaming.log import TickLog
from streaming.runtime import run_feed
from streaming.tick import Tick
from tests.utils.backends import new_group, read, started
from tests.utils.fake_provider import fake_provider

CSV = """symbol,price,bid,ask,volume,timestamp,sequence
AAPL,100.10,100.09,100.11,5,2026-01-02T15:30:00+00:00,1
MSFT,400.5,,,,2026-01-02T15:30:00.5+00:00,
AAPL,not-a-price,1,2,3,2026-01-02T15:30:01+00:00,2
AAPL,100.12,100.11,100.13,7,2026-01-02T15:30:01+00:00,3
AAPL,100.13,100.12,100.14,7,2026-01-02T15:30:01+00:00,three
"""

NDJSON = """{"symbol": "AAPL", "price": 100.10, "volume": 5, "timestamp": 1767367800000}
this is not json
{"symbol": "AAPL", "price": 0.1000000000000000055511151231257827, "timestamp": 1767367800100}

{"symbol": "AAPL", "timestamp": 1767367800200}
"""


async def collect(feed: Replay) -> list[Tick]:
    ticks: list[Tick] = []

    async def sink(tick: Tick) -> None:
        ticks.append(tick)

    await feed.run(sink)
    return ticks


async def test_replay_csv_maps_rows_and_skips_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text(CSV)
    feed = Replay(path, speed=0)
    ticks = await collect(feed)
    assert [(t.symbol, t.price) for t in ticks[::2]] == [
        ("AAPL", Decimal("100.10")),
        ("AAPL", Decimal("100.12")),
    ]
    msft = ticks[1]
    assert (msft.bid, msft.ask, msft.volume) == (Decimal("400.5"), Decimal("400.5"), Decimal(0))
    assert {t.sequence for t in ticks} == {0}, "unnumbered: the feed sender numbers them"
    assert feed.bad_rows == 2, "a bad price, a sequence that is not a whole number"


async def test_replay_ndjson_is_exact_and_counts_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "ticks.ndjson"
    path.write_text(NDJSON)
    feed = Replay(path, speed=0)
    ticks = await collect(feed)
    assert [t.price for t in ticks] == [
        Decimal("100.10"),
        Decimal("0.1000000000000000055511151231257827"),
    ], "numbers never pass through float"
    assert ticks[0].exchange_ts.isoformat() == "2026-01-02T15:30:00+00:00"
    assert feed.bad_rows == 2


@pytest.mark.parametrize(("speed", "low", "high"), [(10, 0.18, 0.6), (0, 0, 0.1)])
async def test_replay_keeps_recorded_gaps_scaled_by_speed(
    tmp_path: Path, speed: float, low: float, high: float
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "symbol,price,timestamp\n"
        + "".join(f"X,{n + 1},2026-01-02T15:30:0{n}+00:00\n" for n in range(3))
    )  # 0s, 1s, 2s: 0.2s at ten times the speed
    started = time.monotonic()
    ticks = await collect(Replay(path, speed=speed))
    assert len(ticks) == 3
    assert low <= time.monotonic() - started <= high


async def test_replay_can_shift_to_now(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("symbol,price,timestamp\nX,1,2020-01-01T00:00:00+00:00\n")
    (tick,) = await collect(Replay(path, speed=0, shift_to_now=True))
    assert abs((tick.received_ts - tick.exchange_ts).total_seconds()) < 5


async def test_provider_maps_trades_and_survives_bad_messages_and_drops() -> None:
    ticks: asyncio.Queue[Tick] = asyncio.Queue()

    async def sink(tick: Tick) -> None:
        await ticks.put(tick)

    async with fake_provider() as provider:
        adapter = FinnhubAdapter(provider.url, ["AAPL", "MSFT"], Backoff(0.05))
        task = asyncio.create_task(EventFeed(adapter).run(sink))
        try:
            await provider.wait_subscribed(connections=1, symbols=2)
            await provider.trade("AAPL", "187.12345678901234567", volume=30)
            await provider.send_raw("{ not json")
            await provider.send_json({"type": "trade", "data": [{"s": "AAPL"}]})
            await provider.send_json({"type": "ping"})
            await provider.send_json({"type": "surprise"})
            await provider.trade("MSFT", "410.5")
            first = [await asyncio.wait_for(ticks.get(), 5) for _ in range(2)]

            await provider.drop_all()
            await provider.wait_subscribed(connections=2, symbols=2)
            await provider.trade("AAPL", "188")
            after = await asyncio.wait_for(ticks.get(), 5)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    assert [(t.symbol, t.price) for t in first] == [
        ("AAPL", Decimal("187.12345678901234567")),
        ("MSFT", Decimal("410.5")),
    ]
    assert first[0].volume == 30
    assert first[0].bid == first[0].ask == first[0].price
    assert adapter.bad_messages == 3, "junk, a trade without a price, an unknown type"
    assert provider.subscriptions == [["AAPL", "MSFT"], ["AAPL", "MSFT"]], "resubscribed"
    assert after.symbol == "AAPL"
    assert {t.sequence for t in [*first, after]} == {0}, "the feed sender numbers them"


async def test_provider_retries_until_the_provider_answers() -> None:
    async with fake_provider() as provider:
        url = provider.url
    # The provider is gone: the adapter keeps retrying (with backoff) instead of failing.
    adapter = FinnhubAdapter(url, ["AAPL"], Backoff(0.02, 0.05))

    async def sink(_tick: Tick) -> None:
        raise AssertionError("no provider, no ticks")

    task = asyncio.create_task(EventFeed(adapter).run(sink))
    await asyncio.sleep(0.5)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert adapter.connections == 0


@pytest.mark.parametrize("command", [[], ["simulator"], ["replay"], ["provider"], ["record"]])
def test_cli_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_cli_refuses_a_bad_provider_url() -> None:
    result = CliRunner().invoke(cli, ["provider", "--url", "http://example.com"])
    assert result.exit_code == 2
    assert "wss://" in result.output


async def test_replay_into_the_log(tick_log: TickLog, tmp_path: Path) -> None:
    """The producer path of both modes: a file replayed into the log (the memory log, a real
    Kafka topic), keyed by symbol, each symbol's ticks in order and numbered from 1; a second
    replay continues the numbering from the log's last tick of each symbol."""
    path = tmp_path / "ticks.csv"
    path.write_text(CSV)
    for _ in range(2):
        await run_feed(
            Replay(path, speed=0),
            tick_log,
            "replay",
            resume=resume_lookup(tick_log),
            overflow=Overflow.WAIT,
            buffer_ticks=2,
        )
    async with started(tick_log.consumer(new_group())) as consumer:
        records = await read(consumer, 6)
    aapl = [Tick.from_json(r.value) for r in records if r.key == b"AAPL"]
    assert [(t.price, t.sequence) for t in aapl] == [
        (Decimal("100.10"), 1),
        (Decimal("100.12"), 2),
        (Decimal("100.10"), 3),
        (Decimal("100.12"), 4),
    ]
    msft = [Tick.from_json(r.value).sequence for r in records if r.key == b"MSFT"]
    assert msft == [1, 2]
