"""Scenario `slow-consumer` (issue 6, e): N normal subscribers and one that subscribes to every
symbol and then stops reading its socket, against the embedded-mode `trado` target.

The stalled client is a `LeanSocket` whose transport stops reading after the subscribe (so the
kernel buffers fill and the server's writes back up). Over the run the server's RSS is taken
every second (from the 0.2 s samples of `bench.procstats`), and the normal clients' latency
per one-second slice of the window: whether one stalled reader costs the server memory
(it should not grow: a slow subscriber keeps the latest quote per symbol, bounded) or delays
the others (their p99 should stay flat).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.leanws import LeanSocket
from bench.load import LoadResult
from bench.loadclient import INIT, PROTOCOL, subscribe_message
from bench.procstats import Sampler, megabytes
from bench.scenarios import UNIVERSE
from bench.steady import SteadyConfig, each_run, nearest, run_steady_load, seconds_of
from bench.targets import started, universe

COLUMNS = (
    ("run", "run"),
    ("subscribers", "N"),
    ("rate", "ticks/s"),
    ("seconds", "seconds"),
    ("deliveries_per_second", "delivered/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("max_ms", "max ms"),
    ("worst_slice_p99_ms", "worst 1 s p99"),
    ("rss_start_mb", "RSS start MB"),
    ("rss_peak_mb", "RSS peak MB"),
    ("rss_end_mb", "RSS end MB"),
    ("server_cpu_percent", "srv CPU%"),
    ("stalled_subscribed", "stalled sub."),
    ("stalled_closed_by_server", "stalled closed"),
    ("errors", "errors"),
)
SERIES_COLUMNS = (
    ("run", "run"),
    ("second", "second"),
    ("rss_mb", "srv RSS MB"),
    ("p99_ms", "others' p99 ms"),
)


@dataclass(frozen=True)
class SlowConfig(SteadyConfig):
    control: bool = False  # first the same run without the stalled client, to compare with


class StalledClient:
    """Subscribes to `symbols`, then never reads again; runs its own loop in a thread."""

    def __init__(self, url: str, symbols: list[str]) -> None:
        self.url, self.symbols = url, symbols
        self.subscribed = threading.Event()
        self.error: BaseException | None = None
        self.closed_by_server: bool | None = None  # known once the run is over
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="stalled-client", daemon=True)

    def __enter__(self) -> StalledClient:
        self._thread.start()
        if not self.subscribed.wait(30):
            raise RuntimeError(f"the stalled client did not subscribe: {self.error!r}")
        return self

    def __exit__(self, *_: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as error:
            self.error = error
            self.subscribed.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        acked = asyncio.get_running_loop().create_future()

        def first(raw: bytes) -> None:
            if not acked.done():
                acked.set_result(raw)

        socket = await LeanSocket.connect(self.url, PROTOCOL, first)
        try:
            socket.send_text(INIT)
            await acked
            socket.send_text(subscribe_message(self.symbols))
            assert socket.transport is not None
            socket.transport.pause_reading()  # from here on, nothing is read
            self.subscribed.set()
            await self._stop.wait()
            self.closed_by_server = socket.closed.done()
        finally:
            socket.close()


class NoStalledClient:
    """The control run's stand-in."""

    subscribed = threading.Event()
    error: BaseException | None = None
    closed_by_server: bool | None = None

    def __enter__(self) -> NoStalledClient:
        return self

    def __exit__(self, *_: object) -> None:
        pass


def slow_consumer(
    config: SlowConfig, workdir: Path, on_row: Callable[[dict[str, object]], None]
) -> list[dict[str, object]]:
    """One row per run (`control` first when asked, then `stalled`); returns the per-second
    series of every run."""
    runs = (False, True) if config.control else (True,)
    return each_run(runs, lambda stalled: _run(config, workdir, stalled), on_row)


def _run(
    config: SlowConfig, workdir: Path, stalled: bool
) -> tuple[dict[str, object], list[dict[str, object]]]:
    symbols = universe(UNIVERSE)
    name = "stalled" if stalled else "control"
    with (
        started(
            "trado",
            rate=config.rate,
            symbols=symbols,
            seed=config.seed,
            workdir=workdir,
            pin=config.pin,
        ) as target,
        Sampler(target.pid) as sampler,
        StalledClient(target.url, symbols) if stalled else NoStalledClient() as client,
    ):
        load = run_steady_load(config, target.url, symbols)
        usage = sampler.usage(load.start, load.end)
        rss_samples = sampler.rss
    # (the stalled client has stopped here: its figures are final)
    series = [{"run": name, **point} for point in _series(load, rss_samples)]
    rss = [float(str(point["rss_mb"])) for point in series if point["rss_mb"] is not None]
    slice_p99 = [float(str(p["p99_ms"])) for p in series if p["p99_ms"] is not None]
    row: dict[str, object] = {
        "run": name,
        "subscribers": config.subscribers,
        "rate": config.rate,
        "seconds": config.seconds,
        "delivered": load.delivered,
        "deliveries_per_second": round(load.deliveries_per_second, 1),
        "p50_ms": load.latency_ms(0.5),
        "p90_ms": load.latency_ms(0.9),
        "p99_ms": load.latency_ms(0.99),
        "max_ms": round(load.histogram.max_micros / 1000, 2) if load.histogram.total else None,
        "worst_slice_p99_ms": max(slice_p99, default=None),
        "rss_start_mb": rss[0] if rss else None,
        "rss_peak_mb": max(rss, default=None),
        "rss_end_mb": rss[-1] if rss else None,
        "server_cpu_percent": usage.cpu_percent if usage else None,
        "server_peak_rss_mb": usage.peak_rss_mb if usage else None,
        "client_cpu_percent": load.client_cpu_percent,
        "connected": load.connected,
        "errors": load.errors,
        "first_error": load.first_error,
        "stalled_subscribed": (client.subscribed.is_set() and client.error is None)
        if stalled
        else None,
        "stalled_closed_by_server": client.closed_by_server,
    }
    return row, series


def _series(load: LoadResult, rss: list[tuple[float, int]]) -> list[dict[str, object]]:
    """One point per second of the window: the server's RSS at its start, the p99 inside it."""
    return [
        {
            "second": second.index,
            "rss_mb": megabytes(nearest(rss, second.at)),
            "p99_ms": second.p99_ms,
        }
        for second in seconds_of(load)
    ]
