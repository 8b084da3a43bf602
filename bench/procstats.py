"""CPU% and memory of a process (with its children) over a time window, sampled from /proc by
psutil in a background thread, so the harness can charge each target for what it used."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Self, TypeVar

import psutil

INTERVAL = 0.2
MIN_SAMPLES = 2  # a CPU rate is a difference of two samples

Result = TypeVar("Result")


@dataclass(frozen=True)
class Usage:
    cpu_percent: float  # of one core: 150 means one and a half cores busy
    peak_rss_mb: float
    end_rss_mb: float


def megabytes(size: int | None) -> float | None:
    """A size in bytes, in MiB to one decimal."""
    return round(size / 2**20, 1) if size is not None else None


class Every(Generic[Result]):
    """Calls `probe` every `interval` seconds in a thread, on a fixed cadence (beats a slow
    probe overran are skipped), keeping (epoch seconds, result) until stopped, or until the
    probe answers None (what it watches is gone)."""

    def __init__(
        self, interval: float, probe: Callable[[], Result | None], name: str = "every"
    ) -> None:
        self.interval, self.probe = interval, probe
        self.results: list[tuple[float, Result]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            at, result = time.time(), self.probe()
            if result is None:
                return
            self.results.append((at, result))
            due = max(due + self.interval, time.monotonic())
            self._stop.wait(due - time.monotonic())


class Sampler(Every[tuple[float, int]]):
    """Samples (time, CPU seconds, RSS) of `pid` and its children (without `children`: of
    `pid` alone) until stopped."""

    def __init__(self, pid: int, *, children: bool = True) -> None:
        super().__init__(INTERVAL, self._cpu_and_rss, name=f"sampler-{pid}")
        self.process = psutil.Process(pid)
        self.children = children

    @property
    def samples(self) -> list[tuple[float, float, int]]:
        return [(at, cpu, rss) for at, (cpu, rss) in self.results]

    @property
    def rss(self) -> list[tuple[float, int]]:
        """(time, RSS) of each sample."""
        return [(at, rss) for at, (_, rss) in self.results]

    def sample(self) -> tuple[float, float, int] | None:
        """One sample now; None once the process is gone."""
        reading = self._cpu_and_rss()
        return None if reading is None else (time.time(), *reading)

    def _cpu_and_rss(self) -> tuple[float, int] | None:
        """None once the process is gone. A child that ends meanwhile (a PostgreSQL backend,
        say) does not end the sampling: it is left out until its parent reaps it, and from
        then on counts in the parent's `children_user`/`children_system`."""
        if not self.children:
            return self._alone()
        try:
            processes = [self.process, *self.process.children(recursive=True)]
            reaped = self.process.cpu_times()
        except psutil.NoSuchProcess:
            return None
        cpu, rss = reaped.children_user + reaped.children_system, 0
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    cpu += times.user + times.system
                    rss += process.memory_info().rss
            except psutil.NoSuchProcess:
                if process is self.process:
                    return None
        return cpu, rss

    def _alone(self) -> tuple[float, int] | None:
        try:
            with self.process.oneshot():
                times = self.process.cpu_times()
                return times.user + times.system, self.process.memory_info().rss
        except psutil.NoSuchProcess:
            return None

    def usage(self, start: float, end: float) -> Usage | None:
        """CPU% between the samples nearest the window's edges; peak RSS from the first sample
        to the window's end (connecting N clients costs memory too)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < MIN_SAMPLES:
            return None
        (t0, cpu0, _), (t1, cpu1, end_rss) = inside[0], inside[-1]
        peak = max(rss for t, _, rss in self.samples if t <= end)
        return Usage(
            cpu_percent=round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
            peak_rss_mb=round(peak / 2**20, 1),
            end_rss_mb=round(end_rss / 2**20, 1),
        )
