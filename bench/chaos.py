"""Scenario `chaos` (issue 11): the full stack under one fault after another, and what each
cost the live stream.

In a sandbox of its own (`bench.services`), the bridge, the API and the simulator feed run as
processes over the real PostgreSQL, Redis and Kafka of `scripts/services.sh up`. One watcher
client (`bench.watching`) subscribes `quotes` for every symbol over `graphql-transport-ws` and,
whenever its socket drops, reconnects and resumes with `since` (the last sequence it saw of each
symbol), as a careful client would. Then, in turn: Kafka stopped and restarted, the feed killed
(-9) and restarted, PostgreSQL stopped and restarted, Redis restarted, the bridge killed (-9)
and restarted, the API killed (-9) and restarted. Each fault is followed by `settle` seconds and
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
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from bench.services import Started, processes, sandbox, spawn, wait_http
from bench.targets import ROOT, TargetFailed, free_port, universe, write_instruments
from bench.watching import FeedCounter, Phase, Watcher, readiness_state

FAULTS = ("kafka", "feed", "postgres", "redis", "bridge", "api")
SERVICES = ROOT / "scripts" / "services.sh"
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
        "readyz": phase.readiness_path(),
    }
