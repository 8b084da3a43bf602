"""Shared start-up of the worker processes (bridge, feeds): settings, logging, runtime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from runtime import Runtime, open_runtime, run_until_stopped
from settings import Settings, load_settings
from streaming.metrics import serve_metrics

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run_worker(start: Callable[[Runtime], object], **overrides: object) -> None:
    """Open the runtime (never with the in-process feed), `start` the role's tasks, wait."""
    settings = load_settings().model_copy(update={"run_feed_in_process": False, **overrides})
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    serve_metrics(settings.metrics_port, settings.host)

    async def main(settings: Settings) -> None:
        async with open_runtime(settings) as runtime:
            start(runtime)
            await run_until_stopped()

    asyncio.run(main(settings))
