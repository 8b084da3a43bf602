"""Readiness: can this API process serve, and does the live stream flow? (`/readyz`)

Backends (database, cache, pub/sub, tick log) are checked in the background, every
`READINESS_CHECK_INTERVAL_SECONDS`, all at once, each within `READINESS_CHECK_TIMEOUT_SECONDS`,
and each with a real round trip: the database on a connection of its own (never through the
app's pool, so a pool busy with a burst of requests is not taken for a database that is down),
Redis with a command on a connection of its own likewise (a pool busy with a storm of joining
subscribers is not a Redis that is down), Kafka with a metadata request on a fresh connection.
`/readyz` reads the latest results and never waits for a check, so a load balancer polling it
costs nothing.

A backend that has answered before is reported down only after
`READINESS_FAILURES_BEFORE_DOWN` consecutive failed checks (one blip does not pull a replica
out of rotation); one that never answered since start-up is down at its first failure; one
good check brings it back.

The live stream's freshness is the age of the newest tick this process has seen. While any
client here subscribes quotes, the hub notes when each quote message arrives, which proves the
whole path up to this process. With no quote subscriber the hub hears nothing, so the age is
read from the cache instead: the quote stage stamps `live:newest-tick` in the same write as
the quotes, and each check reads it (one key, whatever the number of symbols).

Status and HTTP code:
- `unavailable` (503): a backend is down; this replica cannot serve queries as it should.
- `degraded` (200): every backend answers, but no tick for `LIVE_STALE_AFTER_SECONDS` (or none
  yet). Queries, mutations and the last cached quotes still serve, and every replica sees the
  same feed: a 503 would make a load balancer pull all of them out because the market is
  quiet or the feed is down. Monitoring sees `degraded` and `trado_newest_tick_age_seconds`;
  `LIVE_STALE_FAILS_READINESS=true` makes it a 503 for those who want that.
- `ready` (200): everything answers and ticks are fresh.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import make_probe_engine, sync_standbys
from models.db import ping as ping_database
from settings import Settings
from streaming.cache import Cache, make_cache
from streaming.cancellation import raise_if_cancelled
from streaming.channels import newest_tick_key
from streaming.metrics import BACKEND_UP, DATABASE_SYNC_STANDBYS, NEWEST_TICK_AGE
from streaming.pubsub import PubSub, make_pubsub
from streaming.runtime import Runtime

log = logging.getLogger(__name__)

LiveState = Literal["fresh", "stale", "none yet"]
Status = Literal["ready", "degraded", "unavailable"]


@dataclass
class BackendHealth:
    """The recent checks of one backend: consecutive failures and the latest error."""

    failures: int = 0
    answered_once: bool = False
    error: str = ""

    def record(self, error: str | None) -> None:
        if error is None:
            self.failures, self.answered_once, self.error = 0, True, ""
        else:
            self.failures, self.error = self.failures + 1, error

    def is_down(self, failures_before_down: int) -> bool:
        needed = failures_before_down if self.answered_once else 1
        return self.failures >= needed

    def describe(self, failures_before_down: int) -> str:
        if not self.is_down(failures_before_down):
            return "ok"
        return f"down: {self.error} ({self.failures} failed checks in a row)"


@dataclass(frozen=True)
class Readiness:
    status: Status
    http_status: int
    body: dict[str, object]


@dataclass
class ReadinessMonitor:
    runtime: Runtime
    probe_engine: AsyncEngine
    probe_cache: Cache
    probe_pubsub: PubSub
    health: dict[str, BackendHealth] = field(default_factory=dict)
    newest_cached_tick: float | None = None  # Unix seconds, from `live:newest-tick`
    sync_standbys: int | None = None  # as last read from the primary; None: unknown

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    async def run(self) -> None:
        """Check every backend each interval, until cancelled."""
        while True:
            await asyncio.sleep(self.settings.readiness_check_interval_seconds)
            await self.check_once()
            raise_if_cancelled()  # a cancel lost in a Redis write (see `streaming.cancellation`)

    async def check_once(self) -> None:
        checks: dict[str, Callable[[], Awaitable[None]]] = {
            "database": lambda: ping_database(self.probe_engine),
            "cache": self._read_newest_cached_tick,  # a round trip that also reads the stamp
            "pubsub": self.probe_pubsub.ping,
            "log": self.runtime.tick_log.ping,
        }
        if self.settings.database_sync_standbys:
            checks["replication"] = self._count_sync_standbys
        errors = await asyncio.gather(*(self._check(check) for check in checks.values()))
        if checks.pop("replication", None) and errors.pop() is not None:
            self.sync_standbys = None  # the database check says why
            DATABASE_SYNC_STANDBYS.set(math.nan)
        for name, error in zip(checks, errors, strict=True):
            self.health.setdefault(name, BackendHealth()).record(error)
            BACKEND_UP.labels(name).set(0 if self._down(name) else 1)
        # Read at scrape time through `set_function`; with several API processes a scrape
        # reads each process's last written value instead (streaming/metrics.py), this one.
        NEWEST_TICK_AGE.set(self.age_for_metrics())

    async def _check(self, check: Callable[[], Awaitable[None]]) -> str | None:
        """None when the backend answered in time, else what went wrong, in one line."""
        timeout = self.settings.readiness_check_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                await check()
        except TimeoutError:
            return f"no answer within {timeout:g}s"
        except Exception as error:  # any failure of any client library means "not ready"
            return f"{type(error).__name__}: {error}"
        return None

    async def _count_sync_standbys(self) -> None:
        self.sync_standbys = await sync_standbys(self.probe_engine)
        DATABASE_SYNC_STANDBYS.set(self.sync_standbys)

    def replication(self) -> dict[str, object] | None:
        """Whether a commit is on a synchronous standby too, when DATABASE_SYNC_STANDBYS asks.
        Writes go on without one (the database's guard relaxes synchronous replication), so
        this degrades readiness, never fails it: every replica shares the one database."""
        expected = self.settings.database_sync_standbys
        if not expected:
            return None
        count = self.sync_standbys
        if count is None:
            state = "unknown"
        elif count >= expected:
            state = "protected"
        else:
            state = "standby missing: writes unprotected"
        return {"state": state, "sync_standbys": count, "expected": expected}

    async def _read_newest_cached_tick(self) -> None:
        raw = await self.probe_cache.get(newest_tick_key())
        self.newest_cached_tick = float(raw) if raw else None

    def _down(self, name: str) -> bool:
        health = self.health.get(name)
        return health is not None and health.is_down(self.settings.readiness_failures_before_down)

    def newest_tick_age(self) -> tuple[float | None, Literal["hub", "cache"]]:
        """Seconds since the newest tick this process has seen, and where that was seen."""
        hub_age = self.runtime.hub.newest_quote_age()
        if hub_age is not None:
            return hub_age, "hub"
        if self.newest_cached_tick is None:
            return None, "cache"
        return max(0.0, time.time() - self.newest_cached_tick), "cache"

    def live_state(self, age: float | None) -> LiveState:
        if age is None:
            return "none yet"
        return "fresh" if age <= self.settings.live_stale_after_seconds else "stale"

    def report(self) -> Readiness:
        threshold = self.settings.readiness_failures_before_down
        backends = {name: health.describe(threshold) for name, health in self.health.items()}
        age, source = self.newest_tick_age()
        live = self.live_state(age)
        status: Status = "ready"
        if any(state != "ok" for state in backends.values()):
            status = "unavailable"
        elif live != "fresh":
            status = "degraded"
        replication = self.replication()
        if status == "ready" and replication and replication["state"] != "protected":
            status = "degraded"
        failing = status == "unavailable" or (
            live != "fresh" and self.settings.live_stale_fails_readiness
        )
        body: dict[str, object] = {
            "status": status,
            "backends": backends,
            "live": {
                "newest_tick_age_seconds": None if age is None else round(age, 3),
                "state": live,
                "source": source,
                "stale_after_seconds": self.settings.live_stale_after_seconds,
            },
        }
        if replication:
            body["database_replication"] = replication
        return Readiness(status, 503 if failing else 200, body)

    def age_for_metrics(self) -> float:
        """The gauge's value at scrape time (NaN until a tick has been seen)."""
        age, _ = self.newest_tick_age()
        return math.nan if age is None else age


@asynccontextmanager
async def open_readiness(runtime: Runtime) -> AsyncIterator[ReadinessMonitor]:
    """A monitor whose first round of checks is done (so `/readyz` tells the truth from the
    first request), checking again in the background until the block exits."""
    settings = runtime.settings
    engine = make_probe_engine(settings, settings.readiness_check_timeout_seconds)
    async with open_probes(runtime) as (cache, pubsub):
        monitor = ReadinessMonitor(runtime, engine, cache, pubsub)
        await monitor.check_once()
        task = asyncio.create_task(_keep_checking(monitor), name="readiness")
        NEWEST_TICK_AGE.set_function(monitor.age_for_metrics)
        try:
            yield monitor
        finally:
            NEWEST_TICK_AGE.set_function(lambda: math.nan)
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            await engine.dispose()


@asynccontextmanager
async def open_probes(runtime: Runtime) -> AsyncIterator[tuple[Cache, PubSub]]:
    """The cache and pub/sub the checks use. In full mode, clients of their own on one Redis
    connection each, so a check never waits behind the app's commands for a pooled one; in
    embedded mode the process's own (in memory nothing waits, and the stamp is only there)."""
    settings = runtime.settings
    if not settings.redis_url:
        yield runtime.cache, runtime.pubsub
        return
    single = settings.model_copy(update={"redis_max_connections": 1})
    async with AsyncExitStack() as stack:
        cache, pubsub = make_cache(single), make_pubsub(single)
        for backend in (cache, pubsub):
            await backend.connect()
            stack.push_async_callback(backend.close)
        yield cache, pubsub


async def _keep_checking(monitor: ReadinessMonitor) -> None:
    """`monitor.run`, restarted after anything unforeseen: readiness must not stop updating
    (a frozen report would say "ok" forever)."""
    while True:
        try:
            await monitor.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("readiness checks failed; starting them again")
