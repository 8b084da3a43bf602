"""The load client as seen by the harness: spread N subscribers over worker processes
(`bench.loadclient`), open the same measurement window in all of them, merge their figures."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Protocol

import orjson

from bench.histogram import Histogram
from bench.loadclient import ClientKind, Connecting

CONNECTIONS_PER_WORKER = 500
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class LoadError(RuntimeError):
    pass


@dataclass
class LoadResult:
    subscribers: int
    connected: int
    failed: int
    closed_early: int
    errors: int
    first_error: str | None
    seconds: float
    delivered: int
    workers: int
    client_cpu_percent: float  # summed over workers, of one core
    histogram: Histogram = field(repr=False)
    start: float = 0.0
    end: float = 0.0
    slices: dict[int, Histogram] = field(default_factory=dict, repr=False)
    opened: int = 0  # connections that had their first quote (`Connecting.await_opening`)
    last_opened_at: float | None = None  # epoch seconds of the latest of those first quotes
    # From the first connection attempt until every worker reported all its connections
    # subscribed (or failed).
    connect_seconds: float | None = None

    @classmethod
    def broken(cls, subscribers: int, seconds: float, error: Exception) -> LoadResult:
        """A step the load client could not finish (e.g. a saturated target that never
        accepted every connection): nothing delivered, so the step does not hold."""
        now = time.time()
        return cls(
            subscribers=subscribers,
            connected=0,
            failed=subscribers,
            closed_early=0,
            errors=1,
            first_error=repr(error),
            seconds=seconds,
            delivered=0,
            workers=0,
            client_cpu_percent=0.0,
            histogram=Histogram(),
            start=now - seconds,
            end=now,
        )

    @property
    def deliveries_per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    def latency_ms(self, fraction: float) -> float | None:
        value = self.histogram.percentile(fraction)
        return None if value is None else round(value / 1000, 2)


def default_workers(subscribers: int) -> int:
    """Enough processes that none carries more than CONNECTIONS_PER_WORKER, capped by cores."""
    return max(1, min(os.cpu_count() or 1, math.ceil(subscribers / CONNECTIONS_PER_WORKER)))


def run_load(
    *,
    url: str,
    subscribers: int,
    seconds: float,
    symbols: list[str],
    warmup: float = 1.0,
    workers: int | None = None,
    per_subscription: int = 10,
    seed: int = 7,
    client: ClientKind = "lean",
    connect_timeout: float = 120.0,
    on_window: Callable[[float, float], None] | None = None,
    slice_seconds: float = 0.0,
    connecting: Connecting = Connecting(),
) -> LoadResult:
    """`on_window(start, end)` is called once every worker is connected and told the window
    (epoch seconds; measuring begins after `warmup`), e.g. to start a profiler. `connecting`:
    when and how fast the workers open their connections, and when one counts as connected."""
    workers = min(workers or default_workers(subscribers), subscribers)
    shares = [
        subscribers // workers + (1 if i < subscribers % workers else 0) for i in range(workers)
    ]
    processes: list[subprocess.Popen[str]] = []
    try:
        first = 0
        for share in shares:
            processes.append(
                _start_worker(
                    url,
                    share,
                    first,
                    symbols,
                    per_subscription=per_subscription,
                    seed=seed,
                    client=client,
                    slice_seconds=slice_seconds,
                    connecting=connecting,
                )
            )
            first += share
        connect_deadline = time.monotonic() + connect_timeout
        connect_deadline += max(connecting.start_at - time.time(), 0)
        connected = [expect_line(p, "connected", connect_deadline) for p in processes]
        connect_seconds = time.time() - min(_first_attempt(line) for line in connected)
        start = time.time() + warmup
        end = start + seconds
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(f"go {start} {end}\n")
            process.stdin.flush()
        if on_window is not None:
            on_window(start, end)
        report_deadline = time.monotonic() + warmup + seconds + 30
        reports = [orjson.loads(expect_line(p, "{", report_deadline)) for p in processes]
        result = _merge(reports, subscribers, seconds, start, end)
        result.connect_seconds = round(connect_seconds, 3)
        return result
    finally:
        for process in processes:
            _stop(process)


def _first_attempt(connected: str) -> float:
    """The epoch time of a worker's first connection attempt, from its `connected` line."""
    _, _ok, _failed, first_attempt = connected.split()
    return float(first_attempt)


class LoadSettings(Protocol):
    """The load-client choices every scenario's config carries."""

    @property
    def seconds(self) -> float: ...
    @property
    def warmup(self) -> float: ...
    @property
    def workers(self) -> int | None: ...
    @property
    def seed(self) -> int: ...
    @property
    def client(self) -> ClientKind: ...


def run_configured_load(
    config: LoadSettings,
    *,
    url: str,
    subscribers: int,
    symbols: list[str],
    per_subscription: int,
    on_window: Callable[[float, float], None] | None = None,
    slice_seconds: float = 0.0,
    seconds: float | None = None,
    client: ClientKind | None = None,
) -> LoadResult:
    """`run_load` with a scenario config's duration (unless `seconds`), warm-up, workers, seed
    and client (unless the target needs its own `client`)."""
    return run_load(
        url=url,
        subscribers=subscribers,
        seconds=seconds or config.seconds,
        symbols=symbols,
        warmup=config.warmup,
        workers=config.workers,
        per_subscription=per_subscription,
        seed=config.seed,
        client=client or config.client,
        on_window=on_window,
        slice_seconds=slice_seconds,
    )


def _start_worker(
    url: str,
    connections: int,
    first: int,
    symbols: list[str],
    *,
    per_subscription: int,
    seed: int,
    client: ClientKind,
    slice_seconds: float = 0.0,
    connecting: Connecting = Connecting(),
) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "bench.loadclient",
        "--url",
        url,
        "--connections",
        str(connections),
        "--first",
        str(first),
        "--symbols",
        ",".join(symbols),
        "--per-subscription",
        str(per_subscription),
        "--seed",
        str(seed),
        "--client",
        client,
        "--slice-seconds",
        str(slice_seconds),
        "--connect-concurrency",
        str(connecting.concurrency),
        "--start-at",
        str(connecting.start_at),
    ]
    if connecting.await_opening:
        command.append("--await-opening")
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def expect_line(process: subprocess.Popen[str], prefix: str, deadline: float) -> str:
    """The worker's next stdout line, which must start with `prefix`, read before `deadline`."""
    assert process.stdout is not None
    line = _readline_before(process.stdout, deadline)
    if line is None:
        raise LoadError(f"load worker {process.pid} said nothing before the deadline")
    if not line.startswith(prefix):
        raise LoadError(f"load worker {process.pid}: expected {prefix!r}, got {line[:200]!r}")
    return line


def _readline_before(stream: IO[str], deadline: float) -> str | None:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(max(deadline - time.monotonic(), 0))
    return result[0].strip() if result and result[0] else None


def _merge(
    reports: list[dict[str, object]], subscribers: int, seconds: float, start: float, end: float
) -> LoadResult:
    histogram = Histogram()
    slices: dict[int, Histogram] = {}
    for report in reports:
        raw = report["histogram"]
        assert isinstance(raw, dict)
        histogram.merge(Histogram.from_json(raw))
        parts = report.get("slices") or {}
        assert isinstance(parts, dict)
        for index, part in parts.items():
            slices.setdefault(int(index), Histogram()).merge(Histogram.from_json(part))

    def total(name: str) -> int:
        return sum(int(str(r[name])) for r in reports)

    errors = [str(r["first_error"]) for r in reports if r.get("first_error")]
    opened_at = [float(str(r["last_opened_at"])) for r in reports if r.get("last_opened_at")]
    cpu = sum(float(str(r["cpu_seconds"])) for r in reports)
    return LoadResult(
        subscribers=subscribers,
        connected=total("connected"),
        failed=total("failed"),
        closed_early=total("closed_early"),
        errors=total("errors"),
        first_error=errors[0] if errors else None,
        seconds=seconds,
        delivered=total("delivered"),
        workers=len(reports),
        client_cpu_percent=round(100 * cpu / seconds, 1),
        histogram=histogram,
        start=start,
        end=end,
        slices=dict(sorted(slices.items())),
        opened=sum(int(str(r.get("opened") or 0)) for r in reports),
        last_opened_at=max(opened_at, default=None),
    )


def _stop(process: subprocess.Popen[str]) -> None:
    """Close stdin (the worker exits after its report), then end its process group if needed."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
