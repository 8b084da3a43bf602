"""Scenario `faults` (issue 25): the replicated topology, one node killed for good at a time,
and what each cost the live stream, the traders and the books.

Over `scripts/services.sh up --replicated` (three Kafka brokers, a Redis Cluster of three
primaries and three replicas, a PostgreSQL primary with a synchronous standby), in a sandbox
of its own (database, Redis prefix, topic and group), Trado's processes run as
`scripts/replicated/run.sh` runs them: two bridge workers, the simulator, two API processes
behind nginx (`bench.topology`). Through nginx, a watcher subscribes every symbol and resumes
with `since` whenever its socket drops (`bench.watching`), and accounts place and cancel
orders throughout as careful clients (`bench.traders`). First a phase with no fault (the
baseline), then each of `faults`, in turn, on a healthy topology:

- `kafka`: `kill -9` of the broker leading the most partitions of the tick topic;
- `redis`: of a Redis primary (its replica takes over);
- `pg-primary`: of the PostgreSQL primary, then `postgres.sh promote` of its standby after
  `PROMOTE_AFTER_SECONDS`, as an operator or a guard would;
- `pg-standby`: of the standby (the guard relaxes synchronous replication: unprotected);
- `api`: of the API process holding the watcher's socket (clients reconnect through nginx);
- `bridge`: of one bridge worker (its partitions move to the other).

Nothing killed is started again for `phase_seconds`, the measured phase. Then the traders
pause, the database is audited against what they were told (`bench.ledger`), the fault is
healed (the node started again or rebuilt, the process restarted) and the run waits until
everything is healthy, trading again, before the next fault. A row per phase: ticks acked by
Kafka and delivered to the watcher, lost and duplicated (by sequence, from the kill until the
next fault: the healing counts too), mutations the clients saw answered, the problems the
audit found first in this phase, cash and positions as re-added from the fills, the longest
silence the watcher saw, `recover` (seconds from the kill until the last late tick or
silence of a second or more) and what each API process's own `/readyz` said (polled
directly every half second).
"""

from __future__ import annotations

import asyncio
import csv
import math
import secrets
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.ledger import Audit, audit, read_snapshot
from bench.services import processes, read_replicated, sandbox
from bench.targets import universe, write_instruments
from bench.topology import APIS, BRIDGES, Processes, inject, script, wait_healthy
from bench.traders import Belief, Traders
from bench.watching import FeedCounter, Phase, Watcher, labelled_sum, readiness_state
from settings import Settings
from streaming.cache import make_cache
from streaming.channels import quote_key
from streaming.tick import Tick

FAULTS = ("kafka", "redis", "pg-primary", "pg-standby", "api", "bridge")
TRADED = 8  # symbols the accounts trade (the first of the universe)
COLUMNS = (
    ("fault", "fault"),
    ("acked", "acked"),
    ("delivered", "delivered"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("mutations", "orders+cancels acked"),
    ("orders_lost", "orders lost"),
    ("orders_twice", "orders twice"),
    ("cancels_lost", "cancels lost"),
    ("cancels_misanswered", "cancels told not open"),
    ("events_lost", "events lost"),
    ("events_twice", "events twice"),
    ("cash", "cash"),
    ("positions", "positions"),
    ("longest_silence_s", "longest silence s"),
    ("recover_s", "recover s"),
    ("longest_mutation_s", "slowest mutation s"),
    ("readyz_a1", "a1 /readyz"),
    ("readyz_a2", "a2 /readyz"),
    ("standbys_b1", "b1 sync standbys"),
)


@dataclass(frozen=True)
class FaultsConfig:
    rate: float = 100.0
    faults: tuple[str, ...] = FAULTS
    phase_seconds: float = 20.0
    warmup_seconds: float = 5.0  # trading before each fault (and the baseline's length)
    symbols: int = 100
    accounts: int = 4
    seed: int = 7
    logs_dir: Path | None = None  # where the processes' logs are kept (else dropped)


def faults(
    config: FaultsConfig, workdir: Path, on_row: Callable[[dict[str, object]], None]
) -> None:
    services = read_replicated()
    script("services", "status", "--replicated")  # every node up, or stop here
    symbols = universe(config.symbols)
    instruments = write_instruments(workdir, symbols)
    try:
        with sandbox(workdir, instruments, services=services) as box, processes() as started:
            env = {**box.env, "JWT_SECRET": secrets.token_urlsafe(48)}
            stack = Processes(workdir, env, started, config.rate, config.seed)
            stack.start_all()
            run = Run(config, stack, symbols, _tick_sizes(instruments), box.dsn)
            asyncio.run(run.all(on_row))
    finally:
        if config.logs_dir is not None:
            config.logs_dir.mkdir(parents=True, exist_ok=True)
            for log in [*workdir.glob("*.log"), *workdir.glob("balancer/*.log")]:
                shutil.copy(log, config.logs_dir / log.name)


def _tick_sizes(instruments: Path) -> dict[str, Decimal]:
    with instruments.open(newline="") as file:
        return {row["symbol"]: Decimal(row["tick_size"]) for row in csv.DictReader(file)}


class Run:
    def __init__(
        self,
        config: FaultsConfig,
        stack: Processes,
        symbols: list[str],
        tick_sizes: dict[str, Decimal],
        dsn: str,
    ) -> None:
        self.config = config
        self.stack = stack
        self.dsn = dsn
        self.redis_url = stack.env["REDIS_URL"]
        self.watcher = Watcher(stack.balancer, symbols)
        self.counter = FeedCounter(stack.ports["feed"])
        self.traders = Traders(stack.balancer, symbols[:TRADED], tick_sizes)
        self.starting_cash = Settings.model_fields["starting_cash"].default
        self.audited: Audit | None = None

    async def all(self, on_row: Callable[[dict[str, object]], None]) -> None:
        await self.traders.register(self.config.accounts)
        tasks = [
            asyncio.create_task(self.watcher.run()),
            asyncio.create_task(self.traders.run(self.config.seed)),
            asyncio.create_task(self._poll()),
        ]
        try:
            await self._until_every_symbol_seen()
            phases = [("none", None), *((fault, fault) for fault in self.config.faults)]
            for index, (name, fault) in enumerate(phases):
                on_row(await self._phase(name, fault, last=index == len(phases) - 1))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.traders.close()

    async def _until_every_symbol_seen(self, checks: int = 120) -> None:
        """Until the watcher has a tick of every symbol (checked every half second)."""
        for _ in range(checks):
            if len(self.watcher.last) >= len(self.watcher.symbols):
                return
            await asyncio.sleep(0.5)

    async def _phase(self, name: str, fault: str | None, *, last: bool) -> dict[str, object]:
        """Wait until healthy, trade for the warm-up, kill, measure, audit, heal: the phase's
        row, whose window runs from the end of the previous one (the last one's until the
        stream is drained: the feed stopped, every tick delivered)."""
        before = self.watcher.phase = Phase(f"{name} before")
        acked, beliefs = self.counter.total(), len(self.traders.beliefs)
        await wait_healthy(self.stack, self.redis_url)
        self.traders.resume(f"{name} warm-up")
        await asyncio.sleep(self.config.warmup_seconds)
        phase = self.watcher.phase = Phase(name)
        self.traders.resume(name)
        injected = await inject(fault, self.stack) if fault else None
        await asyncio.sleep(self.config.phase_seconds)
        measured = time.monotonic()
        await self.traders.pause()
        found = audit(
            await read_snapshot(self.dsn, [a.user_id for a in self.traders.accounts]),
            self.traders.beliefs,
            self.starting_cash,
        )
        healing = self.watcher.phase = Phase(f"{name} healing")
        healed = time.monotonic()
        if injected is not None:
            await injected.heal()
            await wait_healthy(self.stack, self.redis_url)
        heal_s = round(time.monotonic() - healed, 1)
        tail = await self._drain() if last else 0
        window = (before, phase, healing)
        row = _row(window, measured, self.traders.beliefs[beliefs:], (found, self.audited))
        self.audited = found
        return row | {
            "killed": injected.killed if injected else "nothing",
            "acked": int(self.counter.total() - acked),
            "lost": sum(p.lost for p in window) + tail,
            "lost_at_the_end": tail,
            "heal_s": heal_s,
        }

    async def _drain(self, quiet_seconds: float = 3.0) -> int:
        """The feed stopped (a clean stop: what it holds is sent), then, once no tick has
        arrived for `quiet_seconds` and both bridge workers have consumed everything, the ticks
        the bridge applied (each symbol's latest quote in the cache) that the watcher never
        got: a loss at the very end would leave no later tick to show it as a gap."""
        await asyncio.to_thread(self.stack.stop, "feed")
        arrived, still = -1, 0.0
        for _ in range(240):
            count = len(self.watcher.seen)
            still = still + 0.5 if count == arrived else 0.0
            arrived = count
            if still >= quiet_seconds and await asyncio.to_thread(self._consumed_all):
                break
            await asyncio.sleep(0.5)
        cache = make_cache(Settings(**_cache_settings(self.stack.env)))
        await cache.connect()
        try:
            symbols = self.watcher.symbols
            quotes = await cache.get_many([quote_key(symbol) for symbol in symbols])
        finally:
            await cache.close()
        applied = {s: Tick.from_json(q).sequence for s, q in zip(symbols, quotes, strict=True) if q}
        return sum(max(0, n - self.watcher.last.get(s, 0)) for s, n in applied.items())

    def _consumed_all(self) -> bool:
        return all(
            labelled_sum(self.stack.ports[name], "trado_consumer_lag") == 0 for name in BRIDGES
        )

    async def _poll(self) -> None:
        """Both API processes' own /readyz, the synchronous standbys each bridge worker
        counts (its metrics) and the feed's counter, every half second."""
        while True:
            for name in APIS:
                state = await asyncio.to_thread(readiness_state, self.stack.ports[name])
                self.watcher.phase.note_ready(state, name)
            for name in BRIDGES:
                standbys = await asyncio.to_thread(_standbys, self.stack.ports[name])
                self.watcher.phase.note_ready(standbys, name)
            await asyncio.to_thread(self.counter.total)
            await asyncio.sleep(0.5)


def _standbys(port: int) -> str:
    """A bridge worker's trado_database_sync_standbys, as a word."""
    try:
        count = labelled_sum(port, "trado_database_sync_standbys")
    except OSError:
        return "no answer"
    return "unknown" if math.isnan(count) else f"{count:g}"


def _cache_settings(env: dict[str, str]) -> dict[str, Any]:
    return {
        "redis_url": env["REDIS_URL"],
        "redis_key_prefix": env["REDIS_KEY_PREFIX"],
        "redis_cluster": env.get("REDIS_CLUSTER", "").lower() == "true",
    }


def _row(
    window: tuple[Phase, Phase, Phase],
    measured: float,
    beliefs: list[Belief],
    audits: tuple[Audit, Audit | None],
) -> dict[str, object]:
    """`window`: before the kill (healthy, warm-up), from the kill, healing. `audits`: this
    phase's, and the one before (whose problems were told then)."""
    _, phase, healing = window
    found, before = audits
    answered = [b for b in beliefs if b.answer != "gave up"]
    new = found.new_since(before)
    told = set(before.details()) if before else set()
    return {
        "fault": phase.fault,
        "delivered": sum(p.delivered for p in window),
        "lost": sum(p.lost for p in window),
        "duplicated": sum(p.duplicated for p in window),
        "lost_healing": healing.lost,
        "duplicated_healing": healing.duplicated,
        "mutations": len(answered),
        "gave_up": len(beliefs) - len(answered),
        # cancels told ORDER_NOT_OPEN that an earlier attempt of their own had applied
        "cancels_misanswered": sum(1 for b in beliefs if b.answer == "not open: CANCELLED"),
        "retried": sum(1 for b in beliefs if b.attempts > 1),
        "longest_mutation_s": max((b.seconds for b in beliefs), default=None),
        **new,
        "cash": _state(found.cash_off, "accounts"),
        "positions": _state(found.positions_off, "positions"),
        "longest_silence_s": round(phase.longest_silence(measured), 2),
        "recover_s": phase.disturbed_for(),
        **{f"readyz_{name}": phase.readiness_path(name) for name in APIS},
        **{f"standbys_{name}": phase.readiness_path(name) for name in BRIDGES},
        "orders_checked": found.orders,
        "problems": [p for p in found.details() if p not in told],
        "answers": _answers(beliefs),
    }


def _state(off: Mapping[Any, Decimal], what: str) -> str:
    if not off:
        return "reconciled"
    return f"{len(off)} {what} off by {sum(off.values())}"


def _answers(beliefs: list[Belief]) -> dict[str, int]:
    """How many mutations of each kind got each answer (`place OPEN`, `cancel CANCELLED`...)."""
    counted: dict[str, int] = {}
    for belief in beliefs:
        key = f"{belief.kind} {belief.answer}"
        counted[key] = counted.get(key, 0) + 1
    return dict(sorted(counted.items()))
