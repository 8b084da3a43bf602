"""Scenario `e2e` (issue 6, b): full mode end to end, feed → Kafka → bridge → Redis → hub →
clients, at a stated tick rate and N subscribers.

In a sandbox of its own (`bench.services`), three processes start with full-mode settings over
the first 100 reference instruments: the bridge (`python -m commands.bridge`), the API
(`python server.py`) and the feed (`python -m commands.feed simulator --rate R`), whose ticks
carry their production time as exchange time. Then the load client (`bench.load`, the same as
`fanout`'s) subscribes N clients to 10 symbols each and measures receive time - `timestamp`.
Server CPU and memory are the API's plus the bridge's; the feed, redis-server, the Kafka broker
and PostgreSQL are reported apart, with what Redis carried (`bench.fullmode_costs`). With
`api_processes` K > 1 the API runs K processes on its one port (`API_PROCESSES`): `api` is
all of them (and their idle parent), each is also reported apart, and `all CPU%` adds up every
part of the machine measured, the load client included, to set against the cores. With a
profile folder, py-spy records the API (each of its processes), the bridge and the feed during
the window.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench import profile as profiling
from bench.fullmode_costs import Endpoints, WindowProbe, service_pids
from bench.load import run_configured_load
from bench.procstats import Sampler, Usage
from bench.scenarios import PER_SUBSCRIPTION, UNIVERSE, FanoutConfig, Step, _profile_json
from bench.services import (
    Sandbox,
    Started,
    processes,
    sandbox,
    scrape,
    spawn,
    start_api,
    start_bridge,
)
from bench.targets import ROOT, TargetFailed, universe, write_instruments

TARGET = "trado-full"
PROCESS_COLUMNS = (
    ("api_cpu_percent", "api CPU%"),
    ("api_each_cpu_percent", "api CPU% each"),
    ("bridge_cpu_percent", "bridge CPU%"),
    ("feed_cpu_percent", "feed CPU%"),
    ("redis_cpu_percent", "redis CPU%"),
    ("kafka_cpu_percent", "kafka CPU%"),
    ("postgres_cpu_percent", "pg CPU%"),
    ("publishes_per_second", "PUBLISH/s"),
    ("publishes_per_tick", "PUBLISH/tick"),
    ("ticks_per_bridge_batch", "ticks/batch"),
    ("hub_messages_per_second", "hub msg/s"),
    ("api_redis_connections", "api Redis conns"),
    ("all_cpu_percent", "all CPU%"),
    ("load_average", "load"),
)
# What `all CPU%` adds up: every process measured, and the load client.
MEASURED_PARTS = ("api", "bridge", "feed", "redis", "kafka", "postgres")
JWT_SECRET = "the bench's secret, shared by the API processes"
PROFILED = ("api", "bridge", "feed")
FIRST_TICK_TIMEOUT = 60.0


@dataclass(frozen=True)
class FullStack:
    """The bridge, the API and the feed of one sandbox, ticks already flowing."""

    api: Started
    bridge: Started
    feed: Started
    box: Sandbox
    api_workers: tuple[int, ...]  # the pid of each API process (the API's own when one)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.api.port}/graphql"


@contextmanager
def full_stack(
    rate: float, seed: int, workdir: Path, checkout: Path = ROOT, api_processes: int = 1
) -> Iterator[FullStack]:
    """A fresh sandbox with its three processes (the code of `checkout`), once the bridge has
    applied its first tick and every API process answers; all stopped and removed after."""
    instruments = write_instruments(workdir, universe(UNIVERSE))
    with sandbox(workdir, instruments, checkout) as box, processes() as started:
        bridge = start_bridge(started, box.env, workdir)
        several = {"API_PROCESSES": str(api_processes), "JWT_SECRET": JWT_SECRET}
        api_env = box.env | several if api_processes > 1 else box.env
        api = start_api(started, api_env, workdir)
        simulator = ["-m", "commands.feed", "simulator", "--rate", str(rate), "--seed", str(seed)]
        feed = spawn(started, "feed", simulator, env=box.env, workdir=workdir)
        assert bridge.port is not None
        workers = _api_workers(api, api_processes)
        _wait_first_ticks(bridge.port, feed)
        yield FullStack(api, bridge, feed, box, workers)


def e2e(config: FanoutConfig, workdir: Path, on_step: Callable[[Step], None]) -> list[Step]:
    steps: list[Step] = []
    for subscribers in config.subscribers:
        with full_stack(
            config.rate, config.seed, workdir, api_processes=config.api_processes
        ) as stack:
            step = _measure(config, subscribers, stack)
        steps.append(step)
        on_step(step)
    return steps


def _api_workers(api: Started, count: int) -> tuple[int, ...]:
    """The pids of the API's `count` processes, once each has opened its runtime (its gauges
    appear in /metrics, labelled with its pid, before it serves)."""
    if count == 1:
        return (api.pid,)
    deadline = time.monotonic() + FIRST_TICK_TIMEOUT
    while time.monotonic() < deadline:
        url = f"http://127.0.0.1:{api.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        pids = {
            int(sample.labels["pid"])
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "trado_lean_websockets"
        }
        if len(pids) == count:
            return tuple(sorted(pids))
        time.sleep(0.5)
    raise TargetFailed(f"{count} API processes were not all up within {FIRST_TICK_TIMEOUT:.0f}s")


def _measure(config: FanoutConfig, subscribers: int, stack: FullStack) -> Step:
    """One window of the load against a running stack, with every process's CPU, what Redis
    carried, and (with a profile folder) py-spy on the Python processes."""
    api, bridge = stack.api, stack.bridge
    assert api.port is not None
    assert bridge.port is not None
    pids = {"api": api.pid, "bridge": bridge.pid, "feed": stack.feed.pid}
    workers = _worker_names(stack.api_workers) if len(stack.api_workers) > 1 else {}
    pids |= workers | service_pids(stack.box.env)
    probe = WindowProbe(
        Endpoints(stack.box.env["REDIS_URL"], bridge.port, api.port, stack.api_workers)
    )
    profiled = {name: pid for name, pid in pids.items() if not (workers and name == "api")}
    profilers = _Profilers(config, subscribers, profiled)
    with ExitStack() as samplers_open:
        samplers = {n: samplers_open.enter_context(Sampler(pid)) for n, pid in pids.items()}

        def on_window(start: float, end: float) -> None:
            probe.on_window(start, end)
            profilers.start(end - time.time())

        try:
            load = run_configured_load(
                config,
                url=stack.url,
                subscribers=subscribers,
                symbols=universe(UNIVERSE),
                per_subscription=PER_SUBSCRIPTION,
                on_window=on_window,
            )
        finally:
            profiles = profilers.finish()
    load_average = round(os.getloadavg()[0], 1)
    usage = {name: s.usage(load.start, load.end) for name, s in samplers.items()}
    extra = {**probe.figures(), "load_average": load_average, "profiles": profiles}
    extra |= _per_process(usage, load.deliveries_per_second, extra.get("ticks_applied_per_second"))
    extra |= _shares(usage, list(workers), load.client_cpu_percent)
    server = _combined(usage["api"], usage["bridge"])
    return Step(TARGET, subscribers, config.rate, load, server, extra=extra)


def _worker_names(pids: tuple[int, ...]) -> dict[str, int]:
    return {f"api-{number}": pid for number, pid in enumerate(pids, start=1)}


def _shares(
    usage: dict[str, Usage | None], workers: list[str], client_cpu_percent: float
) -> dict[str, object]:
    """Each API process's CPU% ("41/38"), and every part's summed with the load client's: the
    share of the cores the run took (200 = two cores)."""
    figures: dict[str, object] = {}
    if workers:
        each = [usage[name] for name in workers]
        shown = "/".join(f"{u.cpu_percent:g}" if u else "–" for u in each)
        figures["api_each_cpu_percent"] = shown
    parts = [usage.get(name) for name in MEASURED_PARTS]
    measured = sum(u.cpu_percent for u in parts if u is not None)
    figures["all_cpu_percent"] = round(measured + client_cpu_percent, 1)
    return figures


def _per_process(
    usage: dict[str, Usage | None], deliveries_per_second: float, ticks_per_second: object
) -> dict[str, object]:
    """CPU% and peak RSS of each process; its CPU per tick (µs), and the API's per delivery."""
    figures: dict[str, object] = {}
    for name, used in usage.items():
        figures[f"{name}_cpu_percent"] = used.cpu_percent if used else None
        figures[f"{name}_peak_rss_mb"] = used.peak_rss_mb if used else None
        if used and isinstance(ticks_per_second, float) and ticks_per_second > 0:
            # 1% of a core is 10,000 µs of CPU per second
            figures[f"{name}_cpu_us_per_tick"] = round(used.cpu_percent * 1e4 / ticks_per_second, 1)
    api = usage.get("api")
    if api and deliveries_per_second:
        figures["api_cpu_us_per_delivery"] = round(api.cpu_percent * 1e4 / deliveries_per_second, 2)
    return figures


class _Profilers:
    """py-spy on the API, the bridge and the feed during the window (with a profile folder)."""

    def __init__(self, config: FanoutConfig, subscribers: int, pids: dict[str, int]) -> None:
        self.folder = config.profile_dir
        self.pids = {n: pid for n, pid in pids.items() if n.partition("-")[0] in PROFILED}
        self.tag = f"{subscribers}-{config.rate:g}"
        self.running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(self, seconds: float) -> None:
        if self.folder is None:
            return
        for name, pid in self.pids.items():
            folded = self.folder / f"{TARGET}-{name}-{self.tag}.folded"
            self.running[name] = (profiling.start(pid, seconds, folded), folded)

    def finish(self) -> dict[str, object]:
        return {
            name: _profile_json(profiling.finish(process, folded))
            for name, (process, folded) in self.running.items()
        }


def _combined(*usages: Usage | None) -> Usage | None:
    if any(u is None for u in usages):
        return None
    present = [u for u in usages if u is not None]
    return Usage(
        cpu_percent=round(sum(u.cpu_percent for u in present), 1),
        peak_rss_mb=round(sum(u.peak_rss_mb for u in present), 1),
        end_rss_mb=round(sum(u.end_rss_mb for u in present), 1),
    )


def _wait_first_ticks(bridge_port: int, feed: Started) -> None:
    """Until the bridge has applied ticks: the feed, Kafka and the bridge all work."""
    deadline = time.monotonic() + FIRST_TICK_TIMEOUT
    while time.monotonic() < deadline:
        if feed.process.poll() is not None:
            raise TargetFailed(f"the feed exited: {feed.tail()}")
        if scrape(bridge_port).get("trado_ticks_consumed_total", 0) > 0:
            return
        time.sleep(0.2)
    raise TargetFailed(f"no tick reached the bridge within {FIRST_TICK_TIMEOUT:.0f}s")
