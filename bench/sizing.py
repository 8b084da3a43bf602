"""Room to grow, on paper (issue 25): how many processes and nodes a load needs, worked out
from the per-process costs an `e2e` run measured on this machine, never from guesses.

`python -m bench sizing RESULTS.json [RESULTS-2-API.json] --kb-per-connection K` reads an
`e2e` results file with two steps at one tick rate (few subscribers and many: `--subscribers
10,200`) and, optionally, a run of the same with `--api-processes 2` (what one more API process
costs Redis), and prints the costs it took and the table for 10,000 / 100,000 / 1,000,000
subscribers at 1,000 / 10,000 / 100,000 ticks/s (K: a `fanout` run's KB/conn: e2e measures no
idle memory). Per-tick costs fall as the rate rises (a flush or a batch serves more ticks), so
measure at a high rate: the table is then a little pessimistic at the lower ones. The formulas
are here and in docs/operations.md; rerun it when a cost moves.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORE_US = 1_000_000  # µs of CPU one core gives per second
BUDGET = 0.6  # of a core a process is planned to use: room for bursts, GC and a failover's catch-up
API_MEMORY_MB = 2048  # planned resident memory per API process
SYMBOLS = 5_000  # the universe the ticks spread over
PER_SUBSCRIBER = 10  # symbols each subscriber watches
REPLICAS = 3  # Kafka's replication factor: each tick is written by three brokers
MIN_BROKERS = 3
SUBSCRIBERS = (10_000, 100_000, 1_000_000)
TICK_RATES = (1_000, 10_000, 100_000)


@dataclass(frozen=True)
class Costs:
    """Per-process costs measured on this machine, µs of CPU unless named otherwise."""

    api_per_tick: float  # one API process, per tick it receives (hub, decode, render)
    api_per_delivery: float  # one API process, per frame to one subscriber
    kb_per_connection: float  # API resident memory per subscribed connection
    bridge_per_tick: float
    feed_per_tick: float
    kafka_per_tick: float  # the one broker, replication factor 1
    redis_per_tick: float  # Redis with one API process subscribed
    redis_per_message_out: float  # Redis, per message to each further subscribed API process
    publishes_per_tick: float


@dataclass(frozen=True)
class Plan:
    subscribers: int
    ticks_per_second: int
    deliveries_per_second: float
    api_processes: int | None  # None: one process cannot take every tick (split by symbol)
    bridge_workers: int
    partitions: int
    feed_processes: int
    kafka_brokers: int
    redis_shards: int | None


def costs_from(
    results: dict[str, Any],
    two_api: dict[str, Any] | None = None,
    kb_per_connection: float | None = None,
) -> Costs:
    """The costs of an `e2e` run's steps (the fewest and the most subscribers, one rate);
    `kb_per_connection` where the run has none (e2e measures no idle RSS: take `fanout`'s)."""
    few, many = _two_steps(results)
    extra_delivered = many["deliveries_per_second"] - few["deliveries_per_second"]
    api_cpu = [step["api_cpu_percent"] * CORE_US / 100 for step in (few, many)]
    redis = float(many["redis_cpu_us_per_tick"])
    per_message = 0.0
    if two_api is not None:
        _, many_two = _two_steps(two_api)
        extra = float(many_two["redis_cpu_us_per_tick"]) - redis
        per_message = max(0.0, extra / float(many["publishes_per_tick"]))
    return Costs(
        api_per_tick=float(few["api_cpu_us_per_tick"]),
        api_per_delivery=(api_cpu[1] - api_cpu[0]) / extra_delivered,
        kb_per_connection=_memory(many, kb_per_connection),
        bridge_per_tick=float(many["bridge_cpu_us_per_tick"]),
        feed_per_tick=float(many["feed_cpu_us_per_tick"]),
        kafka_per_tick=float(many["kafka_cpu_us_per_tick"]),
        redis_per_tick=redis,
        redis_per_message_out=per_message,
        publishes_per_tick=float(many["publishes_per_tick"]),
    )


def _memory(step: dict[str, Any], given: float | None) -> float:
    measured = step.get("rss_kb_per_connection")
    if measured is not None:
        return float(measured)
    if given is None:
        raise ValueError("this run has no KB per connection: give a fanout run's (KB/conn)")
    return given


def _two_steps(results: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    steps = sorted(results["steps"], key=lambda step: step["subscribers"])
    if steps[0]["subscribers"] == steps[-1]["subscribers"]:  # one count (or one step)
        raise ValueError("an e2e run with two subscriber counts is needed (--subscribers 10,1000)")
    return steps[0], steps[-1]


def plan(costs: Costs, subscribers: int, ticks: int) -> Plan:
    """The processes and nodes for `subscribers` watching PER_SUBSCRIBER of SYMBOLS symbols
    while `ticks` ticks/s spread over them, each process at most BUDGET of a core."""
    budget = BUDGET * CORE_US
    deliveries = ticks * subscribers * PER_SUBSCRIBER / SYMBOLS
    bridge = _at_least_one(ticks * costs.bridge_per_tick / budget)
    api = _api_processes(costs, subscribers, ticks, deliveries)
    redis = None
    if api is not None:  # every API process takes every channel's messages
        out = ticks * costs.publishes_per_tick * (api - 1) * costs.redis_per_message_out
        redis = _at_least_one((ticks * costs.redis_per_tick + out) / budget)
    brokers = max(MIN_BROKERS, math.ceil(REPLICAS * ticks * costs.kafka_per_tick / budget))
    return Plan(
        subscribers=subscribers,
        ticks_per_second=ticks,
        deliveries_per_second=deliveries,
        api_processes=api,
        bridge_workers=bridge,
        partitions=max(MIN_BROKERS, 2 * bridge),  # room to double the workers
        feed_processes=_at_least_one(ticks * costs.feed_per_tick / budget),
        kafka_brokers=brokers,
        redis_shards=redis,
    )


def _api_processes(costs: Costs, subscribers: int, ticks: int, deliveries: float) -> int | None:
    """Enough for the deliveries beside each process's own share of every tick, and for the
    connections' memory; None when every tick alone passes the budget."""
    left = BUDGET * CORE_US - ticks * costs.api_per_tick
    if left <= 0:
        return None
    for_cpu = deliveries * costs.api_per_delivery / left
    for_memory = subscribers * costs.kb_per_connection / 1024 / API_MEMORY_MB
    return _at_least_one(max(for_cpu, for_memory))


def _at_least_one(count: float) -> int:
    return max(1, math.ceil(count))


def report(costs: Costs) -> str:
    """The costs, then the table, in Markdown."""
    lines = ["| cost (µs of CPU unless named) | value |", "| --- | ---: |"]
    lines += [f"| {name} | {value:.2f} |" for name, value in vars(costs).items()]
    lines += [
        "",
        "| subscribers | ticks/s | deliveries/s | API processes | bridge workers "
        "| partitions | feed processes | Kafka brokers | Redis shards |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for subscribers in SUBSCRIBERS:
        for ticks in TICK_RATES:
            p = plan(costs, subscribers, ticks)
            lines.append(
                f"| {subscribers:,} | {ticks:,} | {p.deliveries_per_second:,.0f} "
                f"| {_count(p.api_processes)} | {p.bridge_workers} | {p.partitions} "
                f"| {p.feed_processes} | {p.kafka_brokers} | {_count(p.redis_shards)} |"
            )
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "split by symbol"


def main(results: Path, two_api: Path | None = None, kb_per_connection: float | None = None) -> str:
    loaded = json.loads(results.read_text())
    other = json.loads(two_api.read_text()) if two_api is not None else None
    return report(costs_from(loaded, other, kb_per_connection))
