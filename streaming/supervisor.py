"""Background tasks that are kept, watched and restarted with backoff when they crash."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from tenacity import wait_exponential

from streaming.retry import retrying

log = logging.getLogger(__name__)


class _Returned(Exception):
    """A background task returned: it is meant to run until cancelled, so it is restarted."""


class Supervisor:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        self._tasks[name] = asyncio.create_task(self._keep_running(name, work), name=name)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    @staticmethod
    async def _keep_running(name: str, work: Callable[[], Awaitable[None]]) -> None:
        """`work` again whenever it returns or crashes: after 0.5 s, doubling up to 30 s."""

        def restarting(error: BaseException, _attempt: int, delay: float) -> None:
            if isinstance(error, _Returned):
                log.warning("%s returned; restarting", name)
            else:
                log.error("%s crashed; restarting in %.1fs", name, delay, exc_info=error)

        wait = wait_exponential(multiplier=0.5, max=30.0)
        async for attempt in retrying(name, wait=wait, report=restarting):
            with attempt:
                await work()
                raise _Returned(name)
