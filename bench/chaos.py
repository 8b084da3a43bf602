"""Scenario `chaos` (issue 11): the full stack under one fault after another, and what each
cost the live stream.

In a sandbox of its own (`bench.services`), the bridge, the API and the simulator feed run as
processes over the real PostgreSQL, Redis and Kafka of `scripts/services.sh up`. One watcher
client subscribes `quotes` for every symbol over `graphql-transport-ws` and, whenever its
socket drops, reconnects and resumes with `since` (the last sequence it saw of each symbol),
as a careful client would. Then, in turn: Kafka stopped and restarted, the feed killed (-9)
and restarted, PostgreSQL stopped and restarted, Redis restarted, the bridge killed (-9) and
restarted, the API killed (-9) and restarted. Each fault is followed by `settle` seconds and
counted on its own:

- acked: ticks the feed counted as acknowledged by Kafka during the phase;
- delivered: distinct ticks the watcher received; lost: sequence numbers it never received
  (a jump in a symbol's sequence: sequences rise by exactly one, so a jump is a loss);
  duplicated: ticks it received twice;
- longest silence: the longest time without any tick reaching the watcher;
- recover: seconds from the end of the fault until ticks reach the watcher live again
  (under a second old);
- /readyz: the states the API's readiness went through, polled every half second.

The services are stopped for real (`scripts/services.sh kafka-stop` and so on): run it on a
machine whose services nothing else is using.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from bench.services import Started, processes, sandbox, spawn, wait_http
from bench.targets import ROOT, TargetFailed, free_port, universe, write_instruments

FAULTS = ("kafka", "feed", "postgres", "redis", "bridge", "api")
SERVICES = ROOT / "scripts" / "services.sh"
QUOTES = (
    "subscription ($s: [String!]!, $since: [SymbolSequence!]) "
    "{ quotes(symbols: $s, since: $since) { symbol sequence timestamp } }"
)
LIVE_SECONDS = 1.0  # a tick younger than this on arrival is live
COLUMNS = (
    ("fault", "fault"),
    ("acked", "acked"),
    ("delivered", "delivered"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("longest_silence_s", "longest silence s"),
    ("recover_s", "recover s"),
    ("readyz", "/readyz said"),
)


@dataclass(frozen=True)
class ChaosConfig:
    rate: float = 200.0
    faults: tuple[str, ...] = FAULTS
    kafka_seconds: float = 15.0
    postgres_seconds: float = 10.0
    down_seconds: float = 2.0  # how long a killed process stays down
    settle_seconds: float = 10.0
    symbols: int = 100
    seed: int = 7


@dataclass
class Phase:
    """What the watcher saw while one fault ran and settled."""

    fault: str
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None  # when the fault was lifted
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    arrivals: list[tuple[float, float]] = field(default_factory=list)  # (when, age seconds)
    readiness: list[str] = field(default_factory=list)

    def note_ready(self, state: str) -> None:
        if not self.readiness or self.readiness[-1] != state:
            self.readiness.append(state)

    def longest_silence(self, until: float) -> float:
        times = [self.started, *(when for when, _ in self.arrivals), until]
        return max(b - a for a, b in itertools.pairwise(times))

    def recovery(self) -> float | None:
        if self.ended is None:
            return None
        ended = self.ended
        live = [when for when, age in self.arrivals if when >= ended and age < LIVE_SECONDS]
        return round(max(live[0] - ended, 0.0), 2) if live else None


class Watcher:
    """One client of every symbol that resumes with `since` whenever its socket drops."""

    def __init__(self, port: int, symbols: list[str]) -> None:
        self.url = f"ws://127.0.0.1:{port}/graphql"
        self.symbols = symbols
        self.last: dict[str, int] = {}
        self.seen: set[tuple[str, int]] = set()
        self.phase = Phase("warm-up")
        self.reconnects = 0
        self.last_error = ""

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except (OSError, WebSocketException, TimeoutError) as error:
                self.reconnects += 1
                self.last_error = repr(error)
            await asyncio.sleep(0.2)

    async def _session(self) -> None:
        async with connect(self.url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            await socket.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
            since = [{"symbol": s, "sequence": n} for s, n in self.last.items()]
            variables = {"s": self.symbols, "since": since}
            payload = {"query": QUOTES, "variables": variables}
            message = {"id": "q", "type": "subscribe", "payload": payload}
            await socket.send(orjson.dumps(message).decode())
            async for raw in socket:
                message = orjson.loads(raw)
                if message.get("type") == "next":
                    self._take(message["payload"]["data"]["quotes"])
                elif message.get("type") == "ping":
                    await socket.send('{"type":"pong"}')

    def _take(self, quote: dict[str, Any]) -> None:
        symbol, sequence = quote["symbol"], int(quote["sequence"])
        age = time.time() - datetime.fromisoformat(quote["timestamp"]).timestamp()
        phase = self.phase
        if (symbol, sequence) in self.seen:
            phase.duplicated += 1
            return
        self.seen.add((symbol, sequence))
        last = self.last.get(symbol)
        if last is not None and sequence > last + 1:
            phase.lost += sequence - last - 1
        self.last[symbol] = max(sequence, last or 0)
        phase.delivered += 1
        phase.arrivals.append((time.monotonic(), age))


class FeedCounter:
    """Ticks the feed counted as acknowledged, summed across its restarts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = 0.0
        self.previous = 0.0
        self._lock = threading.Lock()  # read from the poller's thread and the main one

    def total(self) -> float:
        with self._lock:
            return self._total()

    def _total(self) -> float:
        try:
            current = _labelled_sum(self.port, "trado_feed_ticks_total")
        except OSError:
            return self.base + self.previous  # the feed is down: what it had counted
        if current < self.previous:  # a restarted feed counts from zero
            self.base += self.previous
        self.previous = current
        return self.base + current


def _labelled_sum(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def readiness_state(port: int) -> str:
    """`/readyz` as a short word: its status and what is not ok."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            code, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        code, body = error.code, error.read()
    except OSError:
        return "no answer"
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return str(code)
    bad = sorted(k for k, v in (data.get("backends") or {}).items() if v != "ok")
    live = (data.get("live") or {}).get("state")
    details = ",".join([*bad, *([f"live:{live}"] if live and live != "fresh" else [])])
    return f"{code} {data.get('status', '?')}" + (f" ({details})" if details else "")


@dataclass
class Stack:
    """The three processes of the run, restartable with the same settings and ports."""

    workdir: Path
    env: dict[str, str]
    started: list[Started]
    api_port: int = field(default_factory=free_port)
    feed_port: int = field(default_factory=free_port)
    bridge_port: int = field(default_factory=free_port)
    rate: float = 200.0
    seed: int = 7
    running: dict[str, Started] = field(default_factory=dict)

    def start(self, name: str) -> None:
        args, port = {
            "bridge": (["-m", "commands.bridge"], self.bridge_port),
            "api": ([str(ROOT / "server.py")], self.api_port),
            "feed": (
                [
                    "-m",
                    "commands.feed",
                    "simulator",
                    "--rate",
                    str(self.rate),
                    "--seed",
                    str(self.seed),
                ],
                self.feed_port,
            ),
        }[name]
        env = {**self.env, "METRICS_PORT": str(port), "PORT": str(self.api_port)}
        if name == "api":
            env.pop("METRICS_PORT")
        item = spawn(self.started, name, args, env=env, workdir=self.workdir, port=port)
        self.running[name] = item
        wait_http(item, f"http://127.0.0.1:{port}/" + ("readyz" if name == "api" else "metrics"))

    def kill(self, name: str) -> None:
        process = self.running[name].process
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def services(command: str) -> None:
    result = subprocess.run(
        [str(SERVICES), command], capture_output=True, text=True, timeout=180, check=False
    )
    if result.returncode != 0:
        raise TargetFailed(f"services.sh {command} failed: {result.stdout}{result.stderr}")


def fault_actions(stack: Stack, config: ChaosConfig) -> dict[str, Callable[[], Awaitable[None]]]:
    """Each fault: inject it, wait, lift it; returns when it is lifted."""

    async def outage(stop: str, start: str, seconds: float) -> None:
        await asyncio.to_thread(services, stop)
        await asyncio.sleep(seconds)
        await asyncio.to_thread(services, start)

    async def killed(name: str) -> None:
        await asyncio.to_thread(stack.kill, name)
        await asyncio.sleep(config.down_seconds)
        await asyncio.to_thread(stack.start, name)

    return {
        "kafka": lambda: outage("kafka-stop", "kafka-start", config.kafka_seconds),
        "postgres": lambda: outage("postgres-stop", "postgres-start", config.postgres_seconds),
        "redis": lambda: outage("redis-stop", "redis-start", 1.0),
        "feed": lambda: killed("feed"),
        "bridge": lambda: killed("bridge"),
        "api": lambda: killed("api"),
    }


def chaos(config: ChaosConfig, workdir: Path, on_row: Callable[[dict[str, object]], None]) -> None:
    symbols = universe(config.symbols)
    instruments = write_instruments(workdir, symbols)
    with sandbox(workdir, instruments) as box, processes() as started:
        stack = Stack(workdir, box.env, started, rate=config.rate, seed=config.seed)
        for name in ("bridge", "api", "feed"):
            stack.start(name)
        asyncio.run(_run_faults(config, stack, symbols, on_row))


async def _run_faults(
    config: ChaosConfig,
    stack: Stack,
    symbols: list[str],
    on_row: Callable[[dict[str, object]], None],
) -> None:
    watcher = Watcher(stack.api_port, symbols)
    counter = FeedCounter(stack.feed_port)
    watching = asyncio.create_task(watcher.run())
    polling = asyncio.create_task(_poll(watcher, counter, stack.api_port))
    actions = fault_actions(stack, config)
    try:
        await asyncio.sleep(config.settle_seconds)  # warm-up: every symbol has ticked
        for fault in config.faults:
            phase = watcher.phase = Phase(fault)
            acked_before = counter.total()
            await actions[fault]()
            phase.ended = time.monotonic()
            await asyncio.sleep(config.settle_seconds)
            on_row(_row(phase, counter.total() - acked_before))
    finally:
        for task in (watching, polling):
            task.cancel()
        await asyncio.gather(watching, polling, return_exceptions=True)


async def _poll(watcher: Watcher, counter: FeedCounter, api_port: int) -> None:
    while True:
        watcher.phase.note_ready(await asyncio.to_thread(readiness_state, api_port))
        await asyncio.to_thread(counter.total)
        await asyncio.sleep(0.5)


def _row(phase: Phase, acked: float) -> dict[str, object]:
    return {
        "fault": phase.fault,
        "acked": int(acked),
        "delivered": phase.delivered,
        "lost": phase.lost,
        "duplicated": phase.duplicated,
        "longest_silence_s": round(phase.longest_silence(time.monotonic()), 2),
        "recover_s": phase.recovery(),
        "readyz": " → ".join(phase.readiness),
    }
