"""`python -m commands.feed simulator` as its own process against the test's isolated
settings (environment variables), its log lines timestamped as they arrive and its metrics
scraped over HTTP; the whole topic read back per symbol; the broker stopped and started
through `scripts/services.sh` (never left down)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from settings import ROOT, Settings
from streaming.log.kafka import KafkaTickLog
from streaming.tick import Tick
from tests.utils.redis_server import free_port

SERVICES = ROOT / "scripts" / "services.sh"


def write_instruments(path: Path, symbols: dict[str, str]) -> Path:
    """A reference list of `symbols` (symbol -> reference price), tick size 0.01."""
    header = "symbol,name,exchange,sector,isin,currency,lot_size,tick_size,reference_price\n"
    rows = "".join(
        f"{s},{s} Inc.,NASDAQ,Tests,,USD,1,0.01,{price}\n" for s, price in symbols.items()
    )
    path.write_text(header + rows)
    return path


def feed_environment(settings: Settings, instruments: Path, rate: float) -> dict[str, str]:
    assert settings.kafka_bootstrap_servers
    assert settings.redis_url
    return {
        **os.environ,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_TICKS_TOPIC": settings.kafka_ticks_topic,
        "INSTRUMENTS_FILE": str(instruments),
        "SIMULATOR_TICKS_PER_SECOND": str(rate),
        "FEED_BUFFER_TICKS": str(settings.feed_buffer_ticks),
    }


@dataclass
class FeedProcess:
    process: asyncio.subprocess.Process
    metrics_port: int
    lines: list[tuple[float, str]] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    async def read_lines(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    def lines_between(self, start: float, end: float) -> list[str]:
        return [line for at, line in self.lines if start <= at <= end]

    async def metric(self, name: str) -> float:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name
        )

    async def wait_metric(self, name: str, at_least: float, seconds: float = 30) -> float:
        deadline = time.monotonic() + seconds
        while True:
            assert self.process.returncode is None, self.output()
            try:
                value = await self.metric(name)
            except httpx.TransportError:
                value = -1.0  # not serving yet
            if value >= at_least:
                return value
            assert time.monotonic() < deadline, f"{name} = {value} < {at_least}\n{self.output()}"
            await asyncio.sleep(0.2)

    async def terminate(self) -> float:
        """SIGTERM; seconds until the process exited."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), 30)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return time.monotonic() - started

    async def kill(self) -> None:
        self.process.kill()
        await self.process.wait()

    def output(self) -> str:
        return "\n".join(line for _at, line in self.lines[-40:])


@asynccontextmanager
async def feed_process(
    settings: Settings, instruments: Path, rate: float = 200
) -> AsyncIterator[FeedProcess]:
    port = free_port()
    env = feed_environment(settings, instruments, rate) | {"METRICS_PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "commands.feed",
        "simulator",
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    feed = FeedProcess(process, port)
    feed._reader = asyncio.create_task(feed.read_lines())
    try:
        yield feed
    finally:
        if process.returncode is None:
            await feed.kill()
        feed._reader.cancel()


async def read_topic(settings: Settings, quiet_seconds: float = 3) -> dict[str, list[Tick]]:
    """Every tick in the test's topic, per symbol in log order (a fresh group, from the
    start, until nothing new arrives for `quiet_seconds`)."""
    assert settings.kafka_bootstrap_servers
    log = KafkaTickLog(settings.kafka_bootstrap_servers, topic=settings.kafka_ticks_topic)
    consumer = log.consumer(f"read-{secrets.token_hex(3)}")
    await consumer.start()
    ticks: dict[str, list[Tick]] = defaultdict(list)
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_seconds:
            records = await consumer.get_batch(5000, timeout_ms=500)
            if records:
                quiet_since = time.monotonic()
            for record in records:
                tick = Tick.from_json(record.value)
                ticks[tick.symbol].append(tick)
    finally:
        await consumer.stop()
        await log.close()
    return dict(ticks)
