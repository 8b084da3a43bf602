"""The feed against the real Kafka: an outage loses nothing silently and stays quiet in the
log, a stop is bounded even with Kafka down, and sequences and prices continue across a
`kill -9` of the feed and across a restart of the embedded runtime.

The outage tests stop and start a broker of their own (`kafka`, a private broker of
`scripts/services.sh`), so the shared one never stops and they run beside the other tests."""

from __future__ import annotations

import asyncio
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest

from settings import Settings
from streaming.channels import quote_channel
from streaming.feed_resume import from_candles
from streaming.runtime import open_runtime, start_bridge, start_simulator
from streaming.tick import Tick
from tests.conftest import make_settings
from tests.utils.feed_process import feed_process, read_topic, write_instruments
from tests.utils.kafka_server import PrivateKafka
from tests.utils.live import create_topic, isolated, symbol_for

STOPPED_LINE = re.compile(r"sender stopped: (\d+) ticks acknowledged, (\d+) failed")


def contiguous(ticks: list[Tick]) -> tuple[bool, int]:
    """Whether the sequences are 1, 2, 3... in log order, once re-deliveries of a sequence
    are set aside; and how many such duplicates there were."""
    sequences = [t.sequence for t in ticks]
    distinct = list(dict.fromkeys(sequences))
    return distinct == list(range(1, len(distinct) + 1)), len(sequences) - len(distinct)


def step_bound(price: Decimal, tick_size: Decimal = Decimal("0.01")) -> Decimal:
    """Five standard deviations of one simulator step (see `streaming.feeds.simulator`)."""
    return 5 * max(tick_size, price * Decimal("0.0005"))


def stopped_figures(lines: list[str]) -> tuple[int, int]:
    for line in reversed(lines):
        if found := STOPPED_LINE.search(line):
            return int(found[1]), int(found[2])
    raise AssertionError("no 'sender stopped' line:\n" + "\n".join(lines[-30:]))


async def wait_line(feed_lines: list[tuple[float, str]], text: str, seconds: float) -> float:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for at, line in feed_lines:
            if text in line:
                return at
        await asyncio.sleep(0.1)
    tail = "\n".join(line for _at, line in feed_lines[-60:])
    raise AssertionError(f"no {text!r} line within {seconds}s; the last lines:\n{tail}")


async def prepared(
    full_settings: Settings, tmp_path: Path, count: int, kafka: PrivateKafka | None = None
) -> tuple[Settings, Path]:
    """Settings of the test's own (topic, group, prefix; on `kafka` if given) and its
    instruments file."""
    settings = isolated(full_settings)
    if kafka is not None:
        settings = settings.model_copy(update={"kafka_bootstrap_servers": kafka.bootstrap})
    await create_topic(settings)
    symbols = {symbol_for("FD"): "100.00" for _ in range(count)}
    return settings, write_instruments(tmp_path / "instruments.csv", symbols)


@pytest.mark.timeout(240)
async def test_a_kafka_outage_loses_no_tick_silently(
    full_settings: Settings, tmp_path: Path, kafka: PrivateKafka
) -> None:
    """Kafka stopped ~15 s under a running simulator feed, then started: every acknowledged
    tick is in the topic, each symbol numbered 1, 2, 3... with no gap, nothing counted as
    failed (the buffer holds the outage), and the feed's log stays a few lines."""
    settings, instruments = await prepared(full_settings, tmp_path, 4, kafka)
    async with feed_process(settings, instruments, rate=200) as feed:
        await feed.wait_metric("trado_feed_ticks_total", 400)
        outage_started = time.monotonic()
        async with kafka.stopped():
            await asyncio.sleep(15)
        kafka_back = time.monotonic()
        recovered = await wait_line(feed.lines, "recovered after", 60)
        during = feed.lines_between(outage_started, recovered)
        await feed.wait_metric(
            "trado_feed_ticks_total", await feed.metric("trado_feed_ticks_total") + 200
        )
        assert await feed.metric("trado_feed_send_failures_total") == 0
        stop_seconds = await feed.terminate()
    acknowledged, failed = stopped_figures([line for _at, line in feed.lines])
    topic = await read_topic(settings)
    in_kafka = {symbol: contiguous(ticks) for symbol, ticks in topic.items()}
    distinct = sum(len({t.sequence for t in ticks}) for ticks in topic.values())
    print(
        f"\noutage: Kafka down {kafka_back - outage_started:.1f}s (stop, 15s, start), "
        f"recovered {recovered - kafka_back:.1f}s after it answered; {len(during)} feed log "
        f"lines from the stop to the recovery; acknowledged {acknowledged}, failed {failed}, "
        f"in Kafka {distinct} distinct ({sum(d for _ok, d in in_kafka.values())} duplicates); "
        f"stop {stop_seconds:.2f}s"
    )
    assert failed == 0
    assert all(ok for ok, _duplicates in in_kafka.values()), in_kafka
    assert distinct == acknowledged, "every acknowledged tick is in Kafka, nothing else"
    assert len(during) <= 40, "\n".join(during)
    assert stop_seconds < 5


@pytest.mark.timeout(120)
async def test_the_feed_stops_within_5s_with_kafka_down(
    full_settings: Settings, tmp_path: Path, kafka: PrivateKafka
) -> None:
    settings, instruments = await prepared(full_settings, tmp_path, 3, kafka)
    async with feed_process(settings, instruments, rate=200) as feed:
        await feed.wait_metric("trado_feed_ticks_total", 200)
        async with kafka.stopped():
            await asyncio.sleep(2)
            stop_seconds = await feed.terminate()
    acknowledged, failed = stopped_figures([line for _at, line in feed.lines])
    print(
        f"\nstop with Kafka down: {stop_seconds:.2f}s; acknowledged {acknowledged}, "
        f"given up {failed}"
    )
    assert stop_seconds < 5, feed.output()
    assert failed > 0, "what Kafka never took is counted"
    topic = await read_topic(settings)
    assert all(contiguous(ticks) == (True, 0) for ticks in topic.values())
    assert sum(len(ticks) for ticks in topic.values()) >= acknowledged


@pytest.mark.timeout(120)
async def test_a_killed_feed_continues_sequences_and_prices(
    full_settings: Settings, tmp_path: Path
) -> None:
    """`kill -9` of the feed, then a new one: each symbol's sequences go on +1 from the last
    in Kafka, and its walk from the last price (one simulator step away)."""
    settings, instruments = await prepared(full_settings, tmp_path, 3)
    async with feed_process(settings, instruments, rate=300) as feed:
        await feed.wait_metric("trado_feed_ticks_total", 600)
        await feed.kill()
    before = await read_topic(settings, quiet_seconds=2)
    async with feed_process(settings, instruments, rate=300) as feed:
        await feed.wait_metric("trado_feed_ticks_total", 300)
        await feed.terminate()
    after = await read_topic(settings)
    assert before.keys() == after.keys()
    for symbol, ticks in after.items():
        assert contiguous(ticks) == (True, 0), symbol
        last = before[symbol][-1]
        first = ticks[len(before[symbol])]
        assert first.sequence == last.sequence + 1
        assert abs(first.price - last.price) <= step_bound(last.price), (symbol, last, first)


@pytest.mark.timeout(60)
async def test_an_embedded_restart_continues_sequences(tmp_path: Path) -> None:
    """Embedded mode keeps its log and cache in memory: across a restart only the SQLite
    candles remain, and the numbering (and the walk) continue from them."""
    symbols = ["EMA", "EMB"]
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'trado.db'}",
        instruments_file=write_instruments(tmp_path / "i.csv", dict.fromkeys(symbols, "50")),
        simulator_ticks_per_second=200,
        run_feed_in_process=False,
    )
    first = await run_embedded(settings, symbols, ticks=30)
    async with open_runtime(settings) as runtime:
        stored = await from_candles(runtime.sessions, symbols)
    second = await run_embedded(settings, symbols, ticks=10)
    for symbol in symbols:
        assert [t.sequence for t in first[symbol]][:3] == [1, 2, 3]
        assert stored[symbol].sequence >= first[symbol][-1].sequence
        assert second[symbol][0].sequence == stored[symbol].sequence + 1
        price = stored[symbol].price
        assert abs(second[symbol][0].price - price) <= step_bound(price)


async def run_embedded(settings: Settings, symbols: list[str], ticks: int) -> dict[str, list[Tick]]:
    """Open the runtime, run bridge and simulator until `ticks` ticks of each symbol were
    published, then close it (a graceful stop); the ticks seen, per symbol."""
    seen: dict[str, list[Tick]] = {s: [] for s in symbols}
    async with open_runtime(settings) as runtime:
        start_bridge(runtime)
        channels = [quote_channel(s) for s in symbols]
        async with runtime.hub.subscribe(channels, conflate=False, limit=10_000) as mailbox:
            start_simulator(runtime)
            async with asyncio.timeout(20):
                while min(len(v) for v in seen.values()) < ticks:
                    _channel, raw = await mailbox.get()
                    tick = Tick.from_json(raw)
                    seen[tick.symbol].append(tick)
    return seen
