"""What the scenarios that stream to steady subscribers and report each second share
(`slow-consumer`, `storm`): the load choices of their config, the seconds of their window, and
one row and one per-second series per run."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bench.histogram import Histogram
from bench.load import LoadResult, run_configured_load
from bench.loadclient import ClientKind
from bench.scenarios import PER_SUBSCRIPTION

SLICE_SECONDS = 1.0

Row = dict[str, object]
Run = TypeVar("Run")
Value = TypeVar("Value")


@dataclass(frozen=True)
class SteadyConfig:
    """The steady subscribers: `subscribers` clients (10 symbols each) of a market ticking
    `rate` times a second, measured for `seconds` after `warmup`."""

    subscribers: int
    rate: float
    seconds: float
    warmup: float = 1.0
    workers: int | None = None
    client: ClientKind = "lean"
    seed: int = 7
    pin: bool = False  # the target on the server core, the load client on the other


def run_steady_load(
    config: SteadyConfig,
    url: str,
    symbols: list[str],
    *,
    on_window: Callable[[float, float], None] | None = None,
    seconds: float | None = None,
) -> LoadResult:
    """The steady subscribers' run, its latencies kept per second of the window."""
    return run_configured_load(
        config,
        url=url,
        subscribers=config.subscribers,
        symbols=symbols,
        per_subscription=PER_SUBSCRIPTION,
        on_window=on_window,
        slice_seconds=SLICE_SECONDS,
        seconds=seconds,
    )


@dataclass(frozen=True)
class Second:
    """One second of the measured window: its index, when it began (epoch seconds) and the
    latencies delivered in it (empty when nothing was)."""

    index: int
    at: float
    histogram: Histogram

    @property
    def p99_ms(self) -> float | None:
        p99 = self.histogram.percentile(0.99)
        return round(p99 / 1000, 2) if p99 is not None else None


def seconds_of(load: LoadResult) -> list[Second]:
    count = round((load.end - load.start) / SLICE_SECONDS)
    return [
        Second(index, load.start + index * SLICE_SECONDS, load.slices.get(index, Histogram()))
        for index in range(count)
    ]


def nearest(samples: Sequence[tuple[float, Value]], at: float) -> Value | None:
    """The value of the sample taken nearest to `at` (epoch seconds); None without samples."""
    near = min(samples, key=lambda sample: abs(sample[0] - at), default=None)
    return near[1] if near is not None else None


def each_run(
    runs: Iterable[Run],
    measure: Callable[[Run], tuple[Row, list[Row]]],
    on_row: Callable[[Row], None],
) -> list[Row]:
    """Measures each run in turn, giving its row to `on_row` as soon as it is known; returns
    every run's per-second series, one after the other."""
    series: list[Row] = []
    for run in runs:
        row, points = measure(run)
        on_row(row)
        series += points
    return series
