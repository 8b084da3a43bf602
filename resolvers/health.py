"""Readiness: does each configured backend answer right now?"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from models.db import ping as ping_database
from runtime import Runtime

CHECK_TIMEOUT_SECONDS = 3.0


async def check_backends(runtime: Runtime) -> dict[str, str]:
    """ "ok" or the error, per backend, all checked at once and each within a time limit."""
    checks: dict[str, Callable[[], Awaitable[None]]] = {
        "database": lambda: ping_database(runtime.engine),
        "cache": runtime.cache.ping,
        "pubsub": runtime.pubsub.ping,
        "log": runtime.tick_log.ping,
    }
    results = await asyncio.gather(*(_check(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


async def _check(check: Callable[[], Awaitable[None]]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check()
    except TimeoutError:
        return f"timed out after {CHECK_TIMEOUT_SECONDS:.0f}s"
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return "ok"
