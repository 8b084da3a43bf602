"""Scenario `pipeline` (issue 6, c): the ticks/s one bridge worker sustains from Kafka to Redis
(quotes, candles) and PostgreSQL (candle rows), in full mode.

K ticks go into the sandbox's fresh topic first (a fast, batching producer); then one
`python -m commands.bridge` starts, and the harness polls the group's committed offsets (an
aiokafka admin client) until they cover all K ticks: consumer lag 0, and, since the bridge
commits only after its flush, every candle row written. The window runs from the last poll at
which its `/metrics` (METRICS_PORT) showed `trado_ticks_consumed_total` still 0 to that one,
so it excludes the process start and the group join. `busy ticks/s` is K over the summed
`trado_bridge_batch_seconds` (time in the stages' `apply`, without flushes, commits or polls).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psutil
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.services import Sandbox, processes, sandbox, scrape, start_bridge
from bench.targets import TargetFailed, universe, write_instruments
from streaming.tick import Tick

POLL = 0.05
IN_FLIGHT = 10_000  # sends awaited together: bounds the memory of the unacknowledged ones
CONSUMED = "trado_ticks_consumed_total"
LAG = "trado_consumer_lag"
BATCH_SUM = "trado_bridge_batch_seconds_sum"
BATCH_COUNT = "trado_bridge_batch_seconds_count"
CANDLES = "trado_candles_written_total"
COLUMNS = (
    ("ticks", "ticks"),
    ("ticks_per_second", "ticks/s"),
    ("busy_ticks_per_second", "busy ticks/s"),
    ("seconds", "seconds"),
    ("batches", "batches"),
    ("candles_written", "candle rows"),
    ("server_cpu_percent", "srv CPU%"),
    ("server_peak_rss_mb", "srv peak MB"),
    ("preload_ticks_per_second", "preload/s"),
)


@dataclass(frozen=True)
class PipelineConfig:
    ticks: int = 100_000
    symbols: int = 100
    timeout: float = 300.0  # for the bridge to drain the topic


def make_tick(symbol: str, sequence: int) -> Tick:
    """A tick stamped now (exchange time = production time); prices on a cent grid."""
    now = datetime.now(UTC)
    price = Decimal("100.00") + Decimal(sequence % 100) / 100
    return Tick(
        symbol,
        price,
        price - Decimal("0.01"),
        price + Decimal("0.01"),
        Decimal(10),
        sequence,
        now,
        now,
    )


async def preload(servers: str, topic: str, symbols: list[str], count: int) -> float:
    """Produce `count` ticks round-robin over `symbols`; returns ticks/s of the producing."""
    producer = AIOKafkaProducer(
        bootstrap_servers=servers,
        linger_ms=20,
        max_batch_size=256 * 1024,
        compression_type="lz4",
        acks=1,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for index in range(count):
            symbol = symbols[index % len(symbols)]
            tick = make_tick(symbol, index // len(symbols) + 1)
            pending.append(await producer.send(topic, tick.to_json(), key=symbol.encode()))
            if len(pending) >= IN_FLIGHT:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
    return count / (time.perf_counter() - started)


def pipeline(config: PipelineConfig, workdir: Path) -> dict[str, object]:
    symbols = universe(config.symbols)
    instruments = write_instruments(workdir, symbols)
    with sandbox(workdir, instruments) as box:
        preload_rate = asyncio.run(preload(box.kafka, box.topic, symbols, config.ticks))
        with processes() as started:
            bridge = start_bridge(started, box.env, workdir)
            assert bridge.port is not None
            row = asyncio.run(_drain(bridge.pid, bridge.port, box, config))
    row["preload_ticks_per_second"] = round(preload_rate)
    return row


async def _drain(pid: int, port: int, box: Sandbox, config: PipelineConfig) -> dict[str, object]:
    """Poll until the group's committed offsets cover every tick (the commit follows the flush,
    so the candle rows are written by then)."""
    process = psutil.Process(pid)
    deadline = time.monotonic() + config.timeout
    idle: tuple[float, float] | None = None  # (time, cpu) of the last poll with nothing consumed
    peak_rss = 0
    admin = AIOKafkaAdminClient(bootstrap_servers=box.kafka)
    await admin.start()
    try:
        while True:
            now = time.time()
            times = process.cpu_times()
            cpu = times.user + times.system
            peak_rss = max(peak_rss, process.memory_info().rss)
            if scrape(port).get(CONSUMED, 0.0) == 0:
                idle = (now, cpu)
            offsets = await admin.list_consumer_group_offsets(box.env["KAFKA_BRIDGE_GROUP"])
            if sum(max(o.offset, 0) for o in offsets.values()) >= config.ticks:
                break
            if time.monotonic() > deadline:
                raise TargetFailed(f"the bridge did not commit {config.ticks} ticks in time")
            await asyncio.sleep(POLL)
    finally:
        await admin.close()
    assert idle is not None, "the bridge had consumed before the first poll"
    metrics = scrape(port)
    consumed = metrics.get(CONSUMED, 0.0)
    seconds = now - idle[0]
    busy = metrics.get(BATCH_SUM, 0.0)
    return {
        "target": "bridge",
        "ticks": int(consumed),
        "seconds": round(seconds, 3),
        "ticks_per_second": round(consumed / seconds) if seconds > 0 else None,
        "busy_ticks_per_second": round(consumed / busy) if busy > 0 else None,
        "batches": int(metrics.get(BATCH_COUNT, 0)),
        "candles_written": int(metrics.get(CANDLES, 0)),
        "consumer_lag": metrics.get(LAG),
        "server_cpu_percent": round(100 * (cpu - idle[1]) / seconds, 1) if seconds > 0 else None,
        "server_peak_rss_mb": round(peak_rss / 2**20, 1),
        "server_end_rss_mb": round(process.memory_info().rss / 2**20, 1),
    }
