"""The resources one process owns (engine, cache, pub/sub, hub, tick log), opened and closed
in one place so the API, the bridge and the feeds wire them the same way."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import (
    SessionFactory,
    create_tables,
    make_engine,
    make_session_factory,
    session_scope,
    sync_standbys,
)
from models.instrument_file import read_instrument_file
from models.types import plain
from settings import Settings
from streaming.bridge import Bridge
from streaming.cache import Cache, make_cache
from streaming.feed_resume import ResumeLookup, ResumePoint, resume_lookup
from streaming.feed_sender import FeedSender, Overflow
from streaming.feeds import Feed
from streaming.feeds.market import EventFeed
from streaming.feeds.providers import make_adapter
from streaming.feeds.simulator import SimulatedInstrument, Simulator
from streaming.hub import Hub
from streaming.log import TickLog, make_tick_log
from streaming.metrics import DATABASE_SYNC_STANDBYS
from streaming.pubsub import PubSub, make_pubsub
from streaming.stages import Stage
from streaming.stages.alerts import AlertStage
from streaming.stages.candles import CandleStage
from streaming.stages.day import DayEnricher, DayStatsStage
from streaming.stages.matching import MatchingStage
from streaming.stages.quotes import QuoteStage
from streaming.supervisor import Supervisor
from streaming.user_events import run_relay
from trading.instruments import count_instruments, upsert_instruments
from trading.sessions import SessionClock

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    cache: Cache
    pubsub: PubSub
    hub: Hub
    tick_log: TickLog
    supervisor: Supervisor
    bridge: Bridge | None = None
    clock: SessionClock = field(default_factory=SessionClock)  # the exchanges' calendars


@asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with AsyncExitStack() as stack:
        engine = make_engine(settings)
        stack.push_async_callback(engine.dispose)
        pubsub = make_pubsub(settings)  # one per process: it publishes and feeds the hub
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            cache=make_cache(settings),
            pubsub=pubsub,
            hub=Hub(pubsub, mailbox_limit=settings.subscriber_buffer_messages),
            tick_log=make_tick_log(settings),
            supervisor=Supervisor(),
            clock=session_clock(settings),
        )
        if settings.uses_sqlite:
            await create_tables(engine)
            await seed_instruments(runtime)
        for closeable in (runtime.cache, runtime.pubsub):
            await closeable.connect()
            stack.push_async_callback(closeable.close)
        stack.push_async_callback(runtime.tick_log.close)
        await runtime.hub.start()
        stack.push_async_callback(runtime.hub.stop)
        stack.push_async_callback(runtime.supervisor.stop)
        if settings.feed_in_process:
            start_feed_and_bridge(runtime)
        # Everything built so far lives as long as the process: keep it out of the garbage
        # collector's full passes, whose pauses otherwise show up as live-data latency spikes.
        gc.collect()
        gc.freeze()
        yield runtime


async def seed_instruments(runtime: Runtime) -> None:
    """Load the reference list when the database has no instruments yet."""
    async with session_scope(runtime.sessions) as session:
        if await count_instruments(session):
            return
        rows = read_instrument_file(runtime.settings.instruments_file)
        await upsert_instruments(session, rows)
        log.info("loaded %d instruments from %s", len(rows), runtime.settings.instruments_file)


def make_simulator(
    settings: Settings, resume: Mapping[str, ResumePoint] | None = None
) -> Simulator:
    """The reference instruments, each walking on from its last price when `resume` has one
    (snapped to the tick grid), else from its reference price."""
    instruments = []
    rows = read_instrument_file(settings.instruments_file)
    for row in rows:
        point = (resume or {}).get(row.symbol)
        start = row.reference_price or row.tick_size * 10_000
        if point is not None:
            start = (point.price / row.tick_size).to_integral_value() * row.tick_size
        instruments.append(SimulatedInstrument(row.symbol, row.tick_size, start))
    trading = None
    if settings.market_hours == "calendar":  # ticks only in each exchange's regular hours
        clock, exchanges = session_clock(settings), {row.symbol: row.exchange for row in rows}

        def trading(symbol: str, now: datetime) -> bool:
            return clock.is_open(exchanges[symbol], now)

    return Simulator(
        instruments,
        ticks_per_second=settings.simulator_ticks_per_second,
        seed=settings.simulator_seed,
        trading=trading,
    )


def feed_resume(runtime: Runtime) -> ResumeLookup:
    """Resume points from the log, the cache and the database (see `streaming.feed_resume`)."""
    return resume_lookup(runtime.tick_log, runtime.cache, runtime.sessions)


async def run_feed(
    feed: Feed,
    tick_log: TickLog,
    name: str,
    *,
    resume: ResumeLookup,
    overflow: Overflow,
    buffer_ticks: int,
    known: Mapping[str, ResumePoint] | None = None,
) -> None:
    """Run `feed` into the log through a `FeedSender` (bounded buffer, numbering, re-sends)
    until it returns (a replay: once the log has acknowledged everything) or is cancelled
    (a bounded flush). `known` are resume points already looked up."""
    producer = tick_log.producer()
    await producer.start()
    try:
        sender = FeedSender(
            producer, name, resume=resume, overflow=overflow, capacity=buffer_ticks, known=known
        )
        async with sender:
            await feed.run(sender.offer)
    finally:
        await producer.stop()


async def run_simulator(runtime: Runtime) -> None:
    """The simulator, continuing each symbol's numbering and walk where the last run ended."""
    settings = runtime.settings
    symbols = [r.symbol for r in read_instrument_file(settings.instruments_file)]
    resume = feed_resume(runtime)
    known = await resume(symbols)
    simulator = make_simulator(settings, known)
    await feed_into_log(
        runtime, simulator, "simulator", Overflow.DROP_OLDEST, resume=resume, known=known
    )


async def feed_into_log(
    runtime: Runtime,
    feed: Feed,
    name: str,
    overflow: Overflow,
    *,
    resume: ResumeLookup | None = None,
    known: Mapping[str, ResumePoint] | None = None,
) -> None:
    """`run_feed` with this process's log, resume points and buffer size."""
    await run_feed(
        feed,
        runtime.tick_log,
        name,
        resume=resume or feed_resume(runtime),
        overflow=overflow,
        buffer_ticks=runtime.settings.feed_buffer_ticks,
        known=known,
    )


CRYPTO_EXCHANGES = frozenset({"BINANCE"})


def provider_symbols(settings: Settings) -> list[str]:
    """PROVIDER_SYMBOLS, else the reference list's symbols that PROVIDER carries: Binance
    its crypto pairs (exchange BINANCE), a stock feed every other row."""
    if settings.provider_symbol_list:
        return settings.provider_symbol_list
    crypto = settings.provider == "binance"
    rows = read_instrument_file(settings.instruments_file)
    return [r.symbol for r in rows if (r.exchange in CRYPTO_EXCHANGES) == crypto]


def make_provider(settings: Settings) -> EventFeed:
    """PROVIDER's adapter as a feed; ValueError when it cannot be built."""
    return EventFeed(make_adapter(settings, provider_symbols(settings)))


def make_bridge(runtime: Runtime) -> Bridge:
    """The bridge with its two lanes: quotes live (Redis only: latest quote, publish,
    history), then, in order, candles, price alerts and limit-order matching (the last two only
    note ticks in `apply` and query, fire and fill once per flush, publishing after their
    commit), which may fall behind while PostgreSQL is away."""
    stages: list[Stage] = [
        DayStatsStage(runtime.sessions),
        CandleStage(runtime.sessions, runtime.cache, runtime.pubsub),
        AlertStage(runtime.sessions, runtime.pubsub),
        MatchingStage(runtime.sessions, runtime.pubsub),
    ]
    return Bridge(
        tick_log=runtime.tick_log,
        group=runtime.settings.kafka_bridge_group,
        cache=runtime.cache,
        pubsub=runtime.pubsub,
        stages=stages,
        live_stages=[QuoteStage(runtime.cache, runtime.pubsub)],
        enrichers=[make_day_enricher(runtime)],
        flush_interval=runtime.settings.bridge_flush_interval_ms / 1000,
        max_backlog_ticks=runtime.settings.bridge_max_backlog_ticks,
    )


def session_clock(settings: Settings) -> SessionClock:
    return SessionClock(settings.market_pre_minutes, settings.market_post_minutes)


def make_day_enricher(runtime: Runtime) -> DayEnricher:
    """Day statistics and halts, with each symbol's exchange and reference price (its first
    previous close) from the reference list."""
    rows = read_instrument_file(runtime.settings.instruments_file)
    exchanges = {row.symbol: row.exchange for row in rows}
    references = {row.symbol: row.reference_price for row in rows if row.reference_price}
    tick_sizes = {row.symbol: plain(row.tick_size) for row in rows}
    return DayEnricher(
        runtime.cache, runtime.sessions, runtime.clock, exchanges, references, tick_sizes
    )


def start_bridge(runtime: Runtime) -> Bridge:
    """The bridge, and beside it the relay of user events a crash left unpublished (and,
    with DATABASE_SYNC_STANDBYS, the count of synchronous standbys in its metrics)."""
    bridge = make_bridge(runtime)
    runtime.bridge = bridge
    runtime.supervisor.start("bridge", bridge.run)
    runtime.supervisor.start("event-relay", lambda: run_relay(runtime.sessions, runtime.pubsub))
    if runtime.settings.database_sync_standbys:
        runtime.supervisor.start("sync-standbys", lambda: watch_sync_standbys(runtime))
    return bridge


async def watch_sync_standbys(runtime: Runtime) -> None:
    """`trado_database_sync_standbys` as this worker sees the primary (an API process's
    readiness checks keep its own), every READINESS_CHECK_INTERVAL_SECONDS: what a commit of
    the bridge's (a fill, a candle) is protected by. NaN while the database does not answer."""
    settings = runtime.settings
    while True:
        try:
            async with asyncio.timeout(settings.readiness_check_timeout_seconds):
                DATABASE_SYNC_STANDBYS.set(await sync_standbys(runtime.engine))
        except Exception:  # any failure: unknown, as readiness reports it
            DATABASE_SYNC_STANDBYS.set(math.nan)
        await asyncio.sleep(settings.readiness_check_interval_seconds)


def start_simulator(runtime: Runtime) -> None:
    runtime.supervisor.start("simulator", lambda: run_simulator(runtime))


def start_provider(runtime: Runtime) -> None:
    provider = make_provider(runtime.settings)  # fails at once when misconfigured
    runtime.supervisor.start("provider", lambda: run_provider(runtime, provider))


async def run_provider(runtime: Runtime, provider: Feed) -> None:
    """A live feed: its oldest unsent ticks go first when the buffer is full."""
    await feed_into_log(runtime, provider, "provider", Overflow.DROP_OLDEST)


async def run_replay(runtime: Runtime, replay: Feed) -> None:
    """A recorded file into the log: waits for room rather than drop (backpressure)."""
    await feed_into_log(runtime, replay, "replay", Overflow.WAIT)


def start_feed_and_bridge(runtime: Runtime) -> None:
    """The bridge and FEED in this process: the simulator, or PROVIDER's adapter."""
    start_bridge(runtime)
    if runtime.settings.feed == "provider":
        start_provider(runtime)
    else:
        start_simulator(runtime)
