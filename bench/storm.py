"""Scenario `storm` (issue 16, item 3): a connect storm beside a steady stream.

The target streams to `subscribers` steady clients (10 symbols each, at `rate` ticks/s); after
the warm-up and `seconds` of steady measurement, `storm` more clients connect and subscribe all
at once (spread over load-client workers started ahead, so Python's start-up is not counted),
stay `storm_seconds` once every one of them has had its first quote, then all leave. Meanwhile:

- the steady clients' p99 and deliveries per second (one histogram per second);
- `/readyz`, polled every 100 ms: answers other than 200 (the first kept with its body), and
  polls with no answer within 2 s (a load balancer's health check would fail those too; the
  next poll starts when one ends, so a stalled server is polled every 2 s);
- the server's RSS (0.2 s samples; in full mode the API process's);
- in full mode (`full`: bridge, API and feed as processes over the real services, as `e2e`
  starts them), the API's Redis connections, once a second: the `CLIENT LIST` entries whose
  address is one of the API process's sockets to Redis (and every client Redis has).

The row gives how long the storm took to be fully subscribed (from its start to the last first
quote), the steady clients' p99 before, during and after it, readiness, RSS before the storm,
at its peak and `after_seconds` after the storm left, and the Redis connections likewise. With
`baseline` (a checkout), the same run against its code first (`trado-baseline`), then this one.
With `pin` (embedded only), the server runs on the server core (`bench.pinning`).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import psutil
from redis import Redis

from bench.e2e import full_stack
from bench.histogram import Histogram
from bench.load import LoadResult, run_load
from bench.loadclient import Connecting
from bench.procstats import Every, Sampler, megabytes
from bench.scenarios import PER_SUBSCRIPTION, UNIVERSE
from bench.steady import (
    SLICE_SECONDS,
    Row,
    SteadyConfig,
    each_run,
    nearest,
    run_steady_load,
    seconds_of,
)
from bench.targets import ROOT, compared_targets, started_configured, universe

# Room the steady window leaves for the storm to connect: this much, or more for a big storm.
CONNECT_ALLOWANCE, CONNECTS_PER_SECOND_ALLOWED = 5.0, 100
READYZ_EVERY, READYZ_TIMEOUT = 0.1, 2.0
REDIS_EVERY = 1.0
BODY_LIMIT = 300
COLUMNS = (
    ("target", "target"),
    ("mode", "mode"),
    ("subscribers", "N"),
    ("storm", "storm"),
    ("rate", "ticks/s"),
    ("storm_subscribed_s", "storm subscribed s"),
    ("storm_failed", "storm failed"),
    ("p99_before_ms", "p99 before"),
    ("p99_during_ms", "p99 storm"),
    ("worst_second_p99_ms", "worst 1 s p99"),
    ("p99_after_ms", "p99 after"),
    ("delivered_before", "delivered/s before"),
    ("delivered_during", "delivered/s storm"),
    ("readyz_refused", "readyz not 200"),
    ("readyz_unanswered", "readyz no answer"),
    ("readyz_slowest_ms", "readyz slowest ms"),
    ("rss_before_mb", "RSS before"),
    ("rss_peak_mb", "RSS peak"),
    ("rss_after_mb", "RSS after"),
    ("rss_after_vs_before", "after/before"),
    ("redis_before", "Redis conns before"),
    ("redis_peak", "Redis peak"),
    ("redis_after", "Redis after"),
)
SERIES_COLUMNS = (
    ("target", "target"),
    ("mode", "mode"),
    ("second", "s from storm"),
    ("phase", "phase"),
    ("delivered", "steady delivered/s"),
    ("p99_ms", "steady p99 ms"),
    ("rss_mb", "srv RSS MB"),
    ("readyz_refused", "readyz not 200"),
    ("readyz_unanswered", "readyz no answer"),
    ("readyz_slowest_ms", "readyz slowest ms"),
    ("redis_api", "API Redis conns"),
    ("redis_all", "Redis clients"),
)


@dataclass(frozen=True)
class StormConfig(SteadyConfig):  # `seconds`: steady seconds measured before the storm
    storm: int = 2000
    storm_seconds: float = 5.0
    after_seconds: float = 10.0  # RSS and Redis connections this long after the storm left
    full: bool = False
    baseline: Path | None = None  # a checkout to run first, as `trado-baseline`

    @property
    def mode(self) -> str:
        return "full" if self.full else "embedded"

    @property
    def window(self) -> float:
        """The steady clients' measured seconds: before, the storm's connecting, its stay, and
        after (a storm slower to connect than allowed leaves fewer seconds after it)."""
        allowance = max(CONNECT_ALLOWANCE, self.storm / CONNECTS_PER_SECOND_ALLOWED)
        return self.seconds + allowance + self.storm_seconds + self.after_seconds


@dataclass(frozen=True)
class Server:
    url: str  # the GraphQL WebSocket
    pid: int  # the API process
    redis_url: str | None  # full mode's Redis

    @property
    def readyz(self) -> str:
        parts = urlsplit(self.url)
        return f"http://{parts.netloc}/readyz"


@dataclass(frozen=True)
class Poll:
    """One `/readyz` answer: status 0 when none came within the timeout."""

    status: int
    ms: float
    body: str | None  # kept when not 200

    @property
    def refused(self) -> bool:
        """Answered, with another status than 200 (a load balancer takes the replica out)."""
        return self.status not in {0, HTTPStatus.OK}

    @property
    def unanswered(self) -> bool:
        return self.status == 0


@dataclass(frozen=True)
class RedisClients:
    api: int  # connections of the API process
    all: int  # every client Redis has


def poll_readyz(url: str) -> Poll:
    started_at = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=READYZ_TIMEOUT) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        status, body = 0, repr(error).encode()
    ms = round((time.monotonic() - started_at) * 1000, 1)
    kept = None if status == HTTPStatus.OK else body.decode(errors="replace")[:BODY_LIMIT]
    return Poll(status, ms, kept)


def count_redis_clients(redis: Redis, pid: int, redis_port: int) -> RedisClients:
    """The API's connections as Redis lists them: entries whose address is one of the API
    process's sockets to Redis."""
    ports = {
        c.laddr.port
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == redis_port
    }
    clients = redis.client_list()
    api = sum(1 for c in clients if int(str(c["addr"]).rsplit(":", 1)[1]) in ports)
    return RedisClients(api, len(clients))


@dataclass
class Burst:
    """The storm's clients, run in a thread from `start` on: connect at `at`, stay, leave."""

    config: StormConfig
    url: str
    symbols: list[str]
    at: float = 0.0
    load: LoadResult | None = None
    left_at: float | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self, at: float) -> None:
        self.at = at
        self._thread = threading.Thread(target=self._run, name="storm", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        config = self.config
        try:
            self.load = run_load(
                url=self.url,
                subscribers=config.storm,
                seconds=config.storm_seconds,
                symbols=self.symbols,
                warmup=0.0,
                workers=config.workers,
                per_subscription=PER_SUBSCRIPTION,
                seed=config.seed + 1,
                client=config.client,
                connecting=Connecting(config.storm, self.at, await_opening=True),
            )
        except BaseException as error:  # reported with the row, the steady run goes on
            self.error = error
        finally:
            self.left_at = time.time()


@contextmanager
def serving(config: StormConfig, target: str, workdir: Path) -> Iterator[Server]:
    """Embedded `trado` (or `trado-baseline`), or the full-mode stack of `e2e` (of the
    baseline's checkout for `trado-baseline`)."""
    if config.full:
        checkout = config.baseline if target == "trado-baseline" and config.baseline else ROOT
        with full_stack(config.rate, config.seed, workdir, checkout) as stack:
            yield Server(stack.url, stack.api.pid, stack.box.env["REDIS_URL"])
        return
    symbols = universe(UNIVERSE)
    with started_configured(target, config, symbols, workdir, pin=config.pin) as running:
        yield Server(running.url, running.pid, None)


@dataclass
class Observed:
    """Everything taken while the run went on."""

    steady: LoadResult
    burst: Burst
    rss: list[tuple[float, int]]  # (time, the server's RSS)
    readyz: list[tuple[float, Poll]]
    redis: list[tuple[float, RedisClients]]


def storm(
    config: StormConfig, workdir: Path, on_row: Callable[[dict[str, object]], None]
) -> list[dict[str, object]]:
    """One row per target (the baseline first, when given); returns their per-second series."""

    def measure(target: str) -> tuple[Row, list[Row]]:
        observed = observe(config, target, workdir)
        points = [{"target": target, **point} for point in per_second(config, observed)]
        return {"target": target, **summary_row(config, observed, points)}, points

    return each_run(compared_targets(config), measure, on_row)


def observe(config: StormConfig, target: str, workdir: Path) -> Observed:
    symbols = universe(UNIVERSE)
    with ExitStack() as stack:
        server = stack.enter_context(serving(config, target, workdir))
        sampler = stack.enter_context(Sampler(server.pid))
        readyz = stack.enter_context(Every(READYZ_EVERY, lambda: poll_readyz(server.readyz)))
        redis_counts: Every[RedisClients] | None = None
        if server.redis_url:
            redis = stack.enter_context(Redis.from_url(server.redis_url))
            port = urlsplit(server.redis_url).port or 6379
            probe = lambda: count_redis_clients(redis, server.pid, port)  # noqa: E731
            redis_counts = stack.enter_context(Every(REDIS_EVERY, probe))
        burst = Burst(config, server.url, symbols)
        steady = run_steady_load(
            config,
            server.url,
            symbols,
            on_window=lambda start, _end: burst.start(start + config.seconds),
            seconds=config.window,
        )
        burst.join()
        if burst.left_at is not None:  # RSS and connections once the storm is long gone
            time.sleep(max(burst.left_at + config.after_seconds + 1 - time.time(), 0))
        return Observed(
            steady,
            burst,
            sampler.rss,
            list(readyz.results),
            list(redis_counts.results) if redis_counts else [],
        )


def _phase(at: float, burst: Burst) -> str:
    if at < burst.at:
        return "before"
    if burst.left_at is None or at < burst.left_at:
        return "storm"
    return "after"


def per_second(config: StormConfig, observed: Observed) -> list[dict[str, object]]:
    """One point per second of the steady window, counted from the storm's start."""
    burst = observed.burst
    points: list[dict[str, object]] = []
    for second in seconds_of(observed.steady):
        polls = [p for t, p in observed.readyz if second.at <= t < second.at + SLICE_SECONDS]
        redis = nearest(observed.redis, second.at)
        points.append(
            {
                "mode": config.mode,
                "second": round(second.at - burst.at),
                "phase": _phase(second.at, burst),
                "delivered": round(second.histogram.total / SLICE_SECONDS),
                "p99_ms": second.p99_ms,
                "rss_mb": megabytes(nearest(observed.rss, second.at)),
                "readyz_refused": sum(1 for p in polls if p.refused),
                "readyz_unanswered": sum(1 for p in polls if p.unanswered),
                "readyz_slowest_ms": max((p.ms for p in polls), default=None),
                "redis_api": redis.api if redis else None,
                "redis_all": redis.all if redis else None,
            }
        )
    return points


def _p99(observed: Observed, phase: str) -> float | None:
    """The steady clients' p99 over the seconds of one phase."""
    steady, merged = observed.steady, Histogram()
    for index, part in steady.slices.items():
        if _phase(steady.start + index * SLICE_SECONDS, observed.burst) == phase:
            merged.merge(part)
    p99 = merged.percentile(0.99)
    return round(p99 / 1000, 2) if p99 is not None else None


def _mean(points: list[dict[str, object]], phase: str, key: str) -> float | None:
    values = [float(str(p[key])) for p in points if p["phase"] == phase]
    return round(sum(values) / len(values)) if values else None


def summary_row(
    config: StormConfig, observed: Observed, series: list[dict[str, object]]
) -> dict[str, object]:
    burst, load = observed.burst, observed.burst.load
    rss = [(t, size / 2**20) for t, size in observed.rss]
    after_at = (burst.left_at or 0.0) + config.after_seconds
    rss_before = nearest(rss, burst.at)
    rss_after = nearest(rss, after_at)
    redis = [(t, c.api) for t, c in observed.redis]
    refused = [p for _, p in observed.readyz if p.refused]
    during = [p for p in series if p["phase"] == "storm"]
    everyone_opened = load is not None and load.opened == config.storm
    return {
        "mode": config.mode,
        "subscribers": config.subscribers,
        "storm": config.storm,
        "rate": config.rate,
        "storm_subscribed_s": round(load.last_opened_at - burst.at, 2)
        if load and load.last_opened_at and everyone_opened
        else None,
        "storm_opened": load.opened if load else 0,
        "storm_failed": load.failed if load else config.storm,
        "storm_error": repr(burst.error) if burst.error else (load.first_error if load else None),
        "storm_p99_ms": load.latency_ms(0.99) if load else None,
        "p99_before_ms": _p99(observed, "before"),
        "p99_during_ms": _p99(observed, "storm"),
        "worst_second_p99_ms": max(
            (float(str(p["p99_ms"])) for p in during if p["p99_ms"] is not None), default=None
        ),
        "p99_after_ms": _p99(observed, "after"),
        "delivered_before": _mean(series, "before", "delivered"),
        "delivered_during": _mean(series, "storm", "delivered"),
        "steady_errors": observed.steady.errors,
        "steady_first_error": observed.steady.first_error,
        "steady_connected": observed.steady.connected,
        "readyz_polls": len(observed.readyz),
        "readyz_refused": len(refused),
        "readyz_first_refusal": refused[0].body if refused else None,
        "readyz_unanswered": sum(1 for _, p in observed.readyz if p.unanswered),
        "readyz_slowest_ms": max((p.ms for _, p in observed.readyz), default=None),
        "rss_before_mb": round(rss_before, 1) if rss_before else None,
        "rss_peak_mb": max((round(m, 1) for t, m in rss if t >= burst.at), default=None),
        "rss_after_mb": round(rss_after, 1) if rss_after else None,
        "rss_after_vs_before": round(rss_after / rss_before, 3)
        if rss_after and rss_before
        else None,
        "redis_before": nearest(redis, burst.at),
        "redis_peak": max((n for t, n in redis if t >= burst.at), default=None),
        "redis_after": nearest(redis, after_at),
    }
