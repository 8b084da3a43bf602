"""CPU% and memory of a process (with its children) over a time window, sampled from /proc by
psutil in a background thread, so the harness can charge each target for what it used."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil

INTERVAL = 0.2
MIN_SAMPLES = 2  # a CPU rate is a difference of two samples


@dataclass(frozen=True)
class Usage:
    cpu_percent: float  # of one core: 150 means one and a half cores busy
    peak_rss_mb: float
    end_rss_mb: float


class Sampler:
    """Samples (time, CPU seconds, RSS) of `pid` and its children until stopped."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sampler-{pid}", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = self.sample()
            if sample is None:
                return
            self.samples.append(sample)
            self._stop.wait(INTERVAL)

    def sample(self) -> tuple[float, float, int] | None:
        """None once the process is gone. A child that ends meanwhile (a PostgreSQL backend,
        say) does not end the sampling: it is left out until its parent reaps it, and from
        then on counts in the parent's `children_user`/`children_system`."""
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
        return time.time(), cpu, rss

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
