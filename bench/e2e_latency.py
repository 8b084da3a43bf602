"""End-to-end latency in full mode: tick produced to Kafka → quote received by WebSocket clients.

    uv run python bench/e2e_latency.py --rate 500 --subscribers 100

Starts an API (`server.py`) and a bridge worker (`python -m streaming.bridge`) as separate
processes against the real PostgreSQL, Redis and Kafka named in `--services-env` (or the
environment), on a topic, consumer group and Redis prefix of its own, and stops both at the
end. The database must be migrated (`python -m models.migrate`). Subscribers and the producer
run in this process: each tick's exchange time is its produce time, so a client's latency is
its receive time minus the quote's `timestamp` (one clock: same machine).
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import httpx
import orjson
import typer
from redis.asyncio import Redis
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.instrument_file import read_instrument_file  # noqa: E402
from streaming.log.kafka import KafkaTickLog  # noqa: E402
from streaming.tick import Tick  # noqa: E402

QUERY = "subscription ($s: [String!]!) { quotes(symbols: $s) { symbol sequence timestamp } }"


def read_env(path: Path | None) -> dict[str, str]:
    """The file's values, overridden by the environment's (e.g. DATABASE_URL of your own db)."""
    values: dict[str, str] = {}
    if path is not None:
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.startswith("#"):
                values[name.strip()] = value.strip()
    values |= {k: v for k, v in os.environ.items() if k.isupper()}
    for name in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        if not values.get(name):
            raise typer.BadParameter(f"{name} is not set (give --services-env)")
    return values


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Processes:
    """The API and bridge processes, stopped by their own pids on exit."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> None:
        log = open(f"/tmp/trado-bench-{args[-1].replace('/', '_')}.log", "wb")  # noqa: SIM115
        self.started.append(
            subprocess.Popen(
                [sys.executable, *args], cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        )

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_ready(base: str, seconds: float = 60) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=3) as client:
        for _ in range(int(seconds / 0.2)):
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{base} did not become ready")


async def subscriber(
    url: str, symbols: list[str], latencies: list[float], counts: dict[str, int],
    ready: asyncio.Event, stop: asyncio.Event,
) -> None:  # fmt: skip
    async with connect(url, subprotocols=["graphql-transport-ws"], compression=None) as ws:  # type: ignore[list-item]
        await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
        await ws.recv()
        await ws.send(
            orjson.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": QUERY, "variables": {"s": symbols}},
                }
            ).decode()
        )
        ready.set()
        while not stop.is_set():
            try:
                async with asyncio.timeout(0.5):
                    raw = await ws.recv()
            except TimeoutError:
                continue
            now = time.time()
            message = orjson.loads(raw)
            if message.get("type") != "next":
                continue
            quote = message["payload"]["data"]["quotes"]
            sent = datetime.fromisoformat(quote["timestamp"]).timestamp()
            if counts["measuring"]:
                latencies.append(now - sent)
                counts["received"] += 1


async def run(
    env: dict[str, str], rate: float, subscribers: int, symbols: int, per_client: int,
    seconds: float, warmup: float,
) -> None:  # fmt: skip
    tag = secrets.token_hex(3)
    port = free_port()
    env = {
        **env,
        "PORT": str(port),
        "REDIS_KEY_PREFIX": f"bench-{tag}:",
        "KAFKA_TICKS_TOPIC": f"bench-{tag}",
        "KAFKA_BRIDGE_GROUP": f"bench-{tag}",
        "RUN_FEED_IN_PROCESS": "false",
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "development",
    }
    names = [r.symbol for r in read_instrument_file(ROOT / "data" / "instruments.csv")][:symbols]
    processes = Processes(env)
    log = KafkaTickLog(env["KAFKA_BOOTSTRAP_SERVERS"], topic=env["KAFKA_TICKS_TOPIC"])
    producer = log.producer()
    await producer.start()
    # the topic exists (auto-created) before the bridge subscribes
    for name in names:
        await producer.send(name.encode(), make_tick(name, 0).to_json())
    processes.start("-m", "streaming.bridge")
    processes.start("server.py")
    stop = asyncio.Event()
    latencies: list[float] = []
    counts = {"received": 0, "measuring": 0}
    tasks: list[asyncio.Task[None]] = []
    try:
        await wait_ready(f"http://127.0.0.1:{port}")
        url = f"ws://127.0.0.1:{port}/graphql"
        fanout = 0
        for n in range(subscribers):
            mine = [names[(n * per_client + k) % len(names)] for k in range(per_client)]
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(subscriber(url, mine, latencies, counts, ready, stop)))
            await ready.wait()
            fanout += len(mine)
        await asyncio.sleep(1)  # subscriptions reach Redis
        gc.collect()
        gc.freeze()  # as the servers do: no full collections over the set-up objects
        sequences = dict.fromkeys(names, 0)
        started = time.monotonic()
        sent = 0
        measured_sent = 0
        total = warmup + seconds
        while (elapsed := time.monotonic() - started) < total:
            counts["measuring"] = int(elapsed >= warmup)
            due = int(elapsed * rate) - sent
            for _ in range(max(due, 0)):
                name = names[sent % len(names)]
                sequences[name] += 1
                await producer.send(name.encode(), make_tick(name, sequences[name]).to_json())
                sent += 1
                measured_sent += counts["measuring"]
            await asyncio.sleep(0.002)
        await asyncio.sleep(1)  # the last ticks arrive
        counts["measuring"] = 0
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await log.close()
        processes.stop()
        await forget_keys(env["REDIS_URL"], env["REDIS_KEY_PREFIX"])
    expected = measured_sent * fanout / len(names)
    report(latencies, rate, subscribers, symbols, per_client, seconds, expected)


async def forget_keys(url: str, prefix: str) -> None:
    """Leave Redis as found: drop the run's quotes, candles and watermarks."""
    redis = Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def make_tick(symbol: str, sequence: int) -> Tick:
    now = datetime.now(UTC)
    price = Decimal("100.00") + Decimal(sequence % 100) / 100
    return Tick(
        symbol, price, price - Decimal("0.01"), price + Decimal("0.01"), Decimal(10),
        sequence, now, now,
    )  # fmt: skip


def report(
    latencies: list[float], rate: float, subscribers: int, symbols: int, per_client: int,
    seconds: float, expected: float,
) -> None:  # fmt: skip
    if not latencies:
        typer.echo("no quotes received")
        raise typer.Exit(1)
    ms = sorted(x * 1000 for x in latencies)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p / 100 * len(ms)))]

    typer.echo(
        f"rate {rate:g} ticks/s over {symbols} symbols; {subscribers} subscribers x "
        f"{per_client} symbols; measured {seconds:g}s\n"
        f"deliveries {len(ms)} of ~{expected:.0f} expected ({len(ms) / expected:.1%})\n"
        f"latency ms: p50 {pct(50):.1f}  p90 {pct(90):.1f}  p99 {pct(99):.1f}  "
        f"max {ms[-1]:.1f}  mean {statistics.fmean(ms):.1f}"
    )


def main(
    rate: Annotated[float, typer.Option(help="Ticks per second, all symbols together.")] = 200,
    subscribers: Annotated[int, typer.Option(help="WebSocket clients.")] = 100,
    symbols: Annotated[int, typer.Option(help="Symbols ticking.")] = 20,
    per_client: Annotated[int, typer.Option(help="Symbols per subscription.")] = 2,
    seconds: Annotated[float, typer.Option(help="Measured duration.")] = 15,
    warmup: Annotated[float, typer.Option(help="Unmeasured lead-in.")] = 3,
    services_env: Annotated[
        Path | None, typer.Option(help="A services.env with DATABASE_URL, REDIS_URL, ...")
    ] = None,
) -> None:
    """Measure tick-produced → client-received latency in full mode."""
    env = read_env(services_env)
    asyncio.run(run(env, rate, subscribers, symbols, per_client, seconds, warmup))


if __name__ == "__main__":
    typer.run(main)
