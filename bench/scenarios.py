"""Scenarios: each starts its targets, drives them with the load client and returns steps.

`fanout` (issue 6, scenario a): for each target and each subscriber count N, start the target
at a tick rate, measure, and (with `ramp`) multiply the rate until p99 latency passes the
limit or the target stops delivering what it is sent; the sustained maximum is the best
deliveries/s of a step that held. `raw-ceiling` is the same against the raw `ws` peer only: it
shows how much the load client itself can absorb on this machine (client CPU% beside it).
With `tape` (`--with-tape`, `--with-candles`), each N runs at one rate twice: quotes alone, then
quotes while `bench/tape_load.py` streams trades, books or candles from the same target
(connected before the quote subscribers, counted in the same window) (step `<target>+tape`, or
`+candles`, whose `quotes_vs_alone` is its deliveries/s over the first's, and
`side_cpu_us_per_delivery` the server CPU the side streams added per message they got): what
time and sales, depth and candles cost. With `pin` (`bench.pinning`), each target runs on the
server core, this process and the load client on the other; each step records the CPUs its
server (and publisher) could run on, as read back from the kernel.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import orjson

from bench import profile as profiling
from bench.load import LoadError, LoadResult, expect_line, run_configured_load
from bench.loadclient import ClientKind
from bench.pinning import cpus_of
from bench.procstats import Sampler, Usage
from bench.profile import Profile
from bench.targets import PYTHON_TARGETS, started, universe

PER_SUBSCRIPTION = 10
UNIVERSE = 100
SIDE_STREAMS = ("trades", "books", "candles")
SIDE_CONNECT_SECONDS = 120.0
REFERENCE = "trado"  # every target's summary figures are also given as a ratio to this one's


@dataclass(frozen=True)
class TapeLoad:
    """Streams beside the quote load: `trades` connections (10 symbols each), `books` (one),
    `candles` (one symbol's, at ONE_MINUTE)."""

    trades: int = 100
    books: int = 20
    candles: int = 0
    unshared_candles: bool = False  # each candle connection its own alias: no shared selection

    @property
    def label(self) -> str:
        """What the step beside them is called after: `tape`, `candles` or both."""
        kinds = ("tape",) if self.trades or self.books else ()
        return "+".join(kinds + (("candles",) if self.candles else ()))


@dataclass(frozen=True)
class FanoutConfig:
    targets: tuple[str, ...]
    subscribers: tuple[int, ...]
    rate: float
    seconds: float
    ramp: bool = True
    factor: float = 2.0
    max_steps: int = 8
    refine: int = 2  # bisections after the ramp brackets the limit
    p99_limit_ms: float = 100.0
    min_delivered: float = 0.9  # of the expected deliveries, for a step to count as sustained
    warmup: float = 1.0
    workers: int | None = None
    client: ClientKind = "lean"
    seed: int = 7
    profile_dir: Path | None = None  # py-spy the Python target of every step into this folder
    baseline: Path | None = None  # the checkout the `trado-baseline` target runs
    tape: TapeLoad | None = None  # each step alone, then with trades and books streaming
    api_processes: int = 1  # e2e: API_PROCESSES of the full-mode API
    pin: bool = False  # the target on the server core, the load client on the other


@dataclass(frozen=True)
class Step:
    target: str
    subscribers: int
    rate: float
    load: LoadResult
    server: Usage | None
    profile: Profile | None = None
    extra: dict[str, object] = field(default_factory=dict)  # a scenario's own figures
    idle_rss_mb: float | None = None  # the target started, before any client connected
    publisher: Usage | None = None  # what fed the target from outside (centrifugo's), alone

    @property
    def cpu_us_per_delivery(self) -> float | None:
        """The target's CPU time over the window per delivery in it (tick generation and
        everything else it runs included)."""
        delivered = self.load.deliveries_per_second
        if self.server is None or not delivered:
            return None
        return round(self.server.cpu_percent / 100 / delivered * 1e6, 2)

    @property
    def rss_kb_per_connection(self) -> float | None:
        """(RSS at the window's end, N subscribed - RSS idle before they connected) / N."""
        if self.server is None or self.idle_rss_mb is None or not self.subscribers:
            return None
        grown = self.server.end_rss_mb - self.idle_rss_mb
        return round(grown * 1024 / self.subscribers, 1)

    @property
    def expected_per_second(self) -> float:
        """Each tick goes to the subscribers of its symbol: N x 10/100 of them on average."""
        return self.rate * self.subscribers * PER_SUBSCRIPTION / UNIVERSE

    @property
    def delivered_ratio(self) -> float:
        expected = self.expected_per_second
        return self.load.deliveries_per_second / expected if expected else 0.0

    def holds(self, config: FanoutConfig) -> bool:
        """p99 within the limit, every subscriber connected, no errors, and at least
        `min_delivered` of the expected deliveries (less three standard deviations: ticks pick
        symbols at random, so a short run with few subscribers varies)."""
        p99 = self.load.latency_ms(0.99)
        expected = self.expected_per_second * self.load.seconds
        enough = config.min_delivered * expected - 3 * math.sqrt(expected)
        return (
            p99 is not None
            and p99 <= config.p99_limit_ms
            and self.load.delivered >= enough
            and self.load.connected == self.subscribers
            and self.load.errors == 0
        )

    def to_json(self) -> dict[str, object]:
        load = self.load
        return {
            "target": self.target,
            "subscribers": self.subscribers,
            "rate": self.rate,
            "expected_per_second": round(self.expected_per_second, 1),
            "deliveries_per_second": round(load.deliveries_per_second, 1),
            "delivered_ratio": round(self.delivered_ratio, 3),
            "delivered": load.delivered,
            "seconds": load.seconds,
            "p50_ms": load.latency_ms(0.50),
            "p90_ms": load.latency_ms(0.90),
            "p99_ms": load.latency_ms(0.99),
            "max_ms": round(load.histogram.max_micros / 1000, 2) if load.histogram.total else None,
            "connected": load.connected,
            "failed": load.failed,
            "closed_early": load.closed_early,
            "errors": load.errors,
            "first_error": load.first_error,
            "server_cpu_percent": self.server.cpu_percent if self.server else None,
            "publisher_cpu_percent": self.publisher.cpu_percent if self.publisher else None,
            "server_peak_rss_mb": self.server.peak_rss_mb if self.server else None,
            "server_end_rss_mb": self.server.end_rss_mb if self.server else None,
            "server_idle_rss_mb": self.idle_rss_mb,
            "server_cpu_us_per_delivery": self.cpu_us_per_delivery,
            "rss_kb_per_connection": self.rss_kb_per_connection,
            "connect_seconds": load.connect_seconds,
            "client_cpu_percent": load.client_cpu_percent,
            "client_workers": load.workers,
            "profile": _profile_json(self.profile),
            **self.extra,
        }


def run_step(
    config: FanoutConfig,
    target_name: str,
    subscribers: int,
    rate: float,
    workdir: Path,
    *,
    tape: TapeLoad | None = None,
) -> Step:
    symbols = universe(UNIVERSE)
    profiler: list[subprocess.Popen[bytes]] = []
    name = f"{target_name}+{tape.label}" if tape else target_name
    folded = (config.profile_dir or workdir) / f"{name}-{subscribers}-{rate:g}.folded"
    with ExitStack() as running:
        target = running.enter_context(
            started(
                target_name,
                rate=rate,
                symbols=symbols,
                seed=config.seed,
                workdir=workdir,
                baseline=config.baseline,
                pin=config.pin,
            )
        )
        sampler = running.enter_context(Sampler(target.pid))
        extra: dict[str, object] = {"server_cpus": cpus_of(target.pid)}
        publishing = None
        if target.publisher is not None:
            publishing = running.enter_context(Sampler(target.publisher, children=False))
            extra["publisher_cpus"] = cpus_of(target.publisher)
        idle = sampler.sample()
        # The side streams connect first (a target may take seconds to accept a thousand).
        beside = _start_tape(tape, target.url, symbols, config.seed) if tape else None

        def on_window(start: float, end: float) -> None:
            """Every subscriber is connected: measure the side streams in the same window."""
            if beside is not None:
                _tell(beside, f"go {start} {end}")
            if config.profile_dir is not None and target_name in PYTHON_TARGETS:
                profiler.append(profiling.start(target.pid, end - time.time(), folded))

        try:
            load = run_configured_load(
                config,
                url=target.url,
                subscribers=subscribers,
                symbols=symbols,
                per_subscription=PER_SUBSCRIPTION,
                on_window=on_window,
                client=target.client,
            )
        except LoadError as error:  # the target gave out: a failed step, not a failed run
            load = LoadResult.broken(subscribers, config.seconds, error)
        finally:
            profile = profiling.finish(profiler[0], folded) if profiler else None
            if beside:
                extra["tape"] = _stop_tape(beside)
    usage = sampler.usage(load.start, load.end)
    publisher = publishing.usage(load.start, load.end) if publishing else None
    idle_rss_mb = round(idle[2] / 2**20, 1) if idle else None
    return Step(name, subscribers, rate, load, usage, profile, extra, idle_rss_mb, publisher)


def _start_tape(tape: TapeLoad, url: str, symbols: list[str], seed: int) -> subprocess.Popen[str]:
    """The side streams' process, once every one of its connections has subscribed."""
    command = [sys.executable, "-m", "bench.tape_load", "--url", url]
    command += ["--symbols", ",".join(symbols), "--seed", str(seed)]
    command += ["--trades", str(tape.trades), "--books", str(tape.books)]
    command += ["--candles", str(tape.candles)]
    command += ["--unshared-candles"] if tape.unshared_candles else []
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        expect_line(process, "connected", time.monotonic() + SIDE_CONNECT_SECONDS)
    except LoadError:
        _stop_tape(process)
        raise
    return process


def _tell(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def _stop_tape(process: subprocess.Popen[str]) -> dict[str, object]:
    """Its counts, per second of the measurement window."""
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    counts: dict[str, float] = orjson.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    seconds = counts.get("seconds") or 1.0
    return {
        **{f"{kind}_per_second": round(counts.get(kind, 0) / seconds, 1) for kind in SIDE_STREAMS},
        "connected": counts.get("connected"),
        "errors": counts.get("errors"),
    }


def _side_cost(alone: Step, beside: Step) -> float | None:
    """Server CPU µs the side streams added per message they delivered (noisy: the
    difference of two runs' CPU)."""
    tape = beside.extra.get("tape")
    if alone.server is None or beside.server is None or not isinstance(tape, dict):
        return None
    per_second = sum(float(tape[f"{kind}_per_second"]) for kind in SIDE_STREAMS)
    added = (beside.server.cpu_percent - alone.server.cpu_percent) / 100
    return round(added / per_second * 1e6, 1) if per_second else None


def _profile_json(profile: Profile | None) -> dict[str, object] | None:
    if profile is None:
        return None
    return {
        "folded": str(profile.folded),
        "samples": profile.samples,
        "top_self": profile.top_self,
        "top_total": profile.top_total,
        "by_package": profile.by_package,
    }


def fanout(config: FanoutConfig, workdir: Path, on_step: Callable[[Step], None]) -> list[Step]:
    """With `ramp`: multiply the rate while steps hold; if the very first step already fails,
    divide it instead until one holds, so every N ends with a sustained figure. Then `refine`
    geometric bisections between the best rate that held and the lowest that failed."""
    steps: list[Step] = []

    def measure(target: str, subscribers: int, rate: float) -> bool:
        step = run_step(config, target, subscribers, rate, workdir)
        steps.append(step)
        on_step(step)
        return step.holds(config)

    def alone_then_with_tape(target: str, subscribers: int) -> None:
        alone = run_step(config, target, subscribers, config.rate, workdir)
        steps.append(alone)
        on_step(alone)
        beside = run_step(config, target, subscribers, config.rate, workdir, tape=config.tape)
        alone_rate = alone.load.deliveries_per_second
        ratio = beside.load.deliveries_per_second / alone_rate if alone_rate else 0.0
        beside.extra["quotes_vs_alone"] = round(ratio, 3)
        beside.extra["side_cpu_us_per_delivery"] = _side_cost(alone, beside)
        steps.append(beside)
        on_step(beside)

    for target in config.targets:
        for subscribers in config.subscribers:
            holds_at = partial(measure, target, subscribers)
            if config.tape:
                alone_then_with_tape(target, subscribers)
            elif config.ramp:
                _ramp(config, holds_at)
            else:
                holds_at(config.rate)
    return steps


def _ramp(config: FanoutConfig, holds_at: Callable[[float], bool]) -> None:
    """One target and N: the ramp from `config.rate`, then the bisections (see `fanout`)."""
    held_at: float | None = None
    failed_at: float | None = None
    rate = config.rate
    for _ in range(config.max_steps):
        if holds_at(rate):
            held_at = rate
        else:
            failed_at = rate
        if held_at is not None and failed_at is not None:
            break
        rate = rate * config.factor if failed_at is None else rate / config.factor
        if rate < 1:
            break
    for _ in range(config.refine):
        if held_at is None or failed_at is None:
            break
        rate = round(math.sqrt(held_at * failed_at), 1)
        if holds_at(rate):
            held_at = rate
        else:
            failed_at = rate


def sustained(steps: list[Step], config: FanoutConfig) -> list[dict[str, object]]:
    """Per target and N: the best deliveries/s of a step that held, where the ramp ended, and
    the costs at the first rate (the same offered load on every target); each also as a ratio
    to `trado`'s (beside side streams, `trado+tape`'s or `trado+candles`'s) at the same N."""
    rows = []
    tape = config.tape
    names = [n for t in config.targets for n in ((t, f"{t}+{tape.label}") if tape else (t,))]
    for target in names:
        for subscribers in config.subscribers:
            mine = [s for s in steps if s.target == target and s.subscribers == subscribers]
            if not mine:
                continue
            held = [s for s in mine if s.holds(config)]
            best = max(held, key=lambda s: s.load.deliveries_per_second, default=None)
            rows.append(
                {
                    "target": target,
                    "subscribers": subscribers,
                    "sustained_per_second": round(best.load.deliveries_per_second, 1)
                    if best
                    else None,
                    "at_rate": best.rate if best else None,
                    "p99_ms": best.load.latency_ms(0.99) if best else None,
                    "steps": len(mine),
                    "limit_reached": any(not s.holds(config) for s in mine),
                    **_costs(next((s for s in mine if s.rate == config.rate), mine[0])),
                }
            )
    return _with_ratios(rows)


RATIOS = {
    "sustained_per_second": "sustained_vs_trado",
    "cpu_us_per_delivery": "cpu_vs_trado",
    "rss_kb_per_connection": "rss_vs_trado",
    "connect_seconds": "connect_vs_trado",
}


def _costs(step: Step) -> dict[str, object]:
    return {
        "cost_at_rate": step.rate,
        "cpu_us_per_delivery": step.cpu_us_per_delivery,
        "rss_kb_per_connection": step.rss_kb_per_connection,
        "connect_seconds": step.load.connect_seconds,
    }


def _with_ratios(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Each figure of `RATIOS` over the reference target's at the same N (None without one)."""
    by_key = {(row["target"], row["subscribers"]): row for row in rows}
    for row in rows:
        _, plus, beside = str(row["target"]).partition("+")  # a step beside side streams
        reference = by_key.get((REFERENCE + plus + beside, row["subscribers"]), {})
        for figure, ratio in RATIOS.items():
            row[ratio] = _ratio(row.get(figure), reference.get(figure))
    return rows


def _ratio(mine: object, theirs: object) -> float | None:
    if isinstance(mine, int | float) and isinstance(theirs, int | float) and theirs:
        return round(mine / theirs, 2)
    return None
