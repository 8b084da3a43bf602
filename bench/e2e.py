"""Scenario `e2e` (issue 6, b): full mode end to end, feed → Kafka → bridge → Redis → hub →
clients, at a stated tick rate and N subscribers.

In a sandbox of its own (`bench.services`), three processes start with full-mode settings over
the first 100 reference instruments: the bridge (`python -m commands.bridge`), the API
(`python -m commands.api`) and the feed (`python -m commands.feed simulator --rate R`), whose ticks
carry their production time as exchange time. Then the load client (`bench.load`, the same as
`fanout`'s) subscribes N clients to 10 symbols each and measures receive time - `timestamp`.
Server CPU and memory are the API's plus the bridge's; the feed is the load and is reported
apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.load import run_configured_load
from bench.procstats import Sampler, Usage
from bench.scenarios import PER_SUBSCRIPTION, UNIVERSE, FanoutConfig, Step
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
    ("bridge_cpu_percent", "bridge CPU%"),
    ("feed_cpu_percent", "feed CPU%"),
    ("api_peak_rss_mb", "api MB"),
    ("bridge_peak_rss_mb", "bridge MB"),
)
FIRST_TICK_TIMEOUT = 60.0


@dataclass(frozen=True)
class FullStack:
    """The bridge, the API and the feed of one sandbox, ticks already flowing."""

    api: Started
    bridge: Started
    feed: Started
    box: Sandbox

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.api.port}/graphql"


@contextmanager
def full_stack(rate: float, seed: int, workdir: Path, checkout: Path = ROOT) -> Iterator[FullStack]:
    """A fresh sandbox with its three processes (the code of `checkout`), once the bridge has
    applied its first tick; all stopped and removed after the block."""
    instruments = write_instruments(workdir, universe(UNIVERSE))
    with sandbox(workdir, instruments, checkout) as box, processes() as started:
        bridge = start_bridge(started, box.env, workdir)
        api = start_api(started, box.env, workdir)
        simulator = ["-m", "commands.feed", "simulator", "--rate", str(rate), "--seed", str(seed)]
        feed = spawn(started, "feed", simulator, env=box.env, workdir=workdir)
        assert bridge.port is not None
        _wait_first_ticks(bridge.port, feed)
        yield FullStack(api, bridge, feed, box)


def e2e(config: FanoutConfig, workdir: Path, on_step: Callable[[Step], None]) -> list[Step]:
    symbols = universe(UNIVERSE)
    steps: list[Step] = []
    for subscribers in config.subscribers:
        with full_stack(config.rate, config.seed, workdir) as stack:
            with ExitStack() as samplers_open:
                samplers = {
                    item.name: samplers_open.enter_context(Sampler(item.pid))
                    for item in (stack.api, stack.bridge, stack.feed)
                }
                load = run_configured_load(
                    config,
                    url=stack.url,
                    subscribers=subscribers,
                    symbols=symbols,
                    per_subscription=PER_SUBSCRIPTION,
                )
            usage = {name: s.usage(load.start, load.end) for name, s in samplers.items()}
            extra: dict[str, object] = {}
            for name, figures in usage.items():
                extra[f"{name}_cpu_percent"] = figures.cpu_percent if figures else None
                extra[f"{name}_peak_rss_mb"] = figures.peak_rss_mb if figures else None
            step = Step(
                TARGET,
                subscribers,
                config.rate,
                load,
                _combined(usage["api"], usage["bridge"]),
                extra=extra,
            )
        steps.append(step)
        on_step(step)
    return steps


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
