"""Shared start-up of the worker processes (bridge, feeds): settings, logging, runtime."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from commands.logs import configure_logging
from commands.tracing import configure_tracing, flush_traces
from settings import Settings, load_settings
from streaming.metrics import serve_metrics
from streaming.runtime import Runtime, open_runtime


def run_worker(start: Callable[[Runtime], object], service: str, **overrides: object) -> None:
    """Open the runtime (never with the in-process feed), `start` the role's tasks, wait.
    `service` names the process in traces (unless OTEL_SERVICE_NAME does)."""
    settings = load_settings().model_copy(update={"run_feed_in_process": False, **overrides})
    configure_logging(settings)
    configure_tracing(settings, service)
    serve_metrics(settings.metrics_port, settings.host)

    async def main(settings: Settings) -> None:
        async with open_runtime(settings) as runtime:
            start(runtime)
            await run_until_stopped()

    asyncio.run(main(settings))
    flush_traces()


async def run_until_stopped() -> None:
    """Park a worker process until SIGINT or SIGTERM, so its `open_runtime` closes cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
