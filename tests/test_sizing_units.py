"""The sizing table's arithmetic (bench/sizing.py): costs read from an e2e run's two steps,
and the counts the formulas give for them."""

from __future__ import annotations

import pytest

from bench.sizing import Costs, costs_from, plan, report


def step(subscribers: int, deliveries: float, api_percent: float, redis: float) -> dict[str, float]:
    return {
        "subscribers": subscribers,
        "deliveries_per_second": deliveries,
        "api_cpu_percent": api_percent,
        "api_cpu_us_per_tick": api_percent * 1e4 / 1000,
        "rss_kb_per_connection": 40.0,
        "bridge_cpu_us_per_tick": 60.0,
        "feed_cpu_us_per_tick": 30.0,
        "kafka_cpu_us_per_tick": 10.0,
        "redis_cpu_us_per_tick": redis,
        "publishes_per_tick": 4.0,
    }


COSTS = Costs(
    api_per_tick=20.0,
    api_per_delivery=8.0,
    kb_per_connection=40.0,
    bridge_per_tick=60.0,
    feed_per_tick=30.0,
    kafka_per_tick=10.0,
    redis_per_tick=12.0,
    redis_per_message_out=1.0,
    publishes_per_tick=4.0,
)


def test_costs_come_from_the_difference_between_the_two_steps() -> None:
    run = {"steps": [step(1000, 100_000.0, 90.0, 12.0), step(10, 1000.0, 2.0, 12.0)]}
    two_api = {"steps": [step(10, 1000.0, 2.0, 16.0), step(1000, 100_000.0, 90.0, 16.0)]}
    costs = costs_from(run, two_api)
    assert costs.api_per_tick == 20.0  # the few-subscriber step: 2% of a core over 1,000 ticks/s
    assert costs.api_per_delivery == pytest.approx(880_000 / 99_000)
    assert costs.redis_per_message_out == 1.0  # 4 µs more per tick over 4 publishes
    without = {"steps": [{**s, "rss_kb_per_connection": None} for s in run["steps"]]}
    assert costs_from(without, kb_per_connection=55.0).kb_per_connection == 55.0
    with pytest.raises(ValueError, match="KB per connection"):
        costs_from(without)
    with pytest.raises(ValueError, match="two subscriber counts"):
        costs_from({"steps": [step(10, 1000.0, 2.0, 12.0)]})


def test_the_counts_follow_the_formulas() -> None:
    small = plan(COSTS, 10_000, 1_000)
    assert small.deliveries_per_second == 20_000  # 1,000 x 10,000 x 10 / 5,000
    assert small.api_processes == 1  # 160,000 µs of deliveries beside 20,000 of ticks
    assert (small.bridge_workers, small.partitions, small.kafka_brokers) == (1, 3, 3)
    big = plan(COSTS, 1_000_000, 10_000)
    assert big.deliveries_per_second == 20_000_000
    assert big.api_processes == 400  # 160e6 µs over the 400,000 µs each has left
    assert big.bridge_workers == 1  # 600,000 µs of 600,000
    assert big.redis_shards == 27  # (120,000 + 10,000 x 4 x 399 x 1) / 600,000 = 26.8
    assert plan(COSTS, 10_000, 100_000).api_processes is None  # every tick alone: 2 s a second


def test_the_report_holds_every_load() -> None:
    text = report(COSTS)
    assert text.count("\n| ") == 9 + 2 + 9 + 1  # costs, headers, nine loads
    assert "split by symbol" in text
