"""Day statistics and halts: what the bridge adds to each tick before it is published.

`DayEnricher` runs on the live lane before the quote stage: for each fresh tick it folds the
trade into its symbol's session statistics (`trading.day_stats`, sessions from the exchange's
calendar: `trading.sessions`) and stamps the tick with them and with the symbol's halt state,
so the published quote carries everything a subscriber renders (every API replica, with no
lookup). Only trades fold, and any other tick carries the last trade's price; a tick a feed
sent with `halted` set is a status message (it halts or resumes the symbol) and goes on as
kind `status`. Its prices are written at the instrument's tick precision (`249` as `249.00`,
`249.030000` as `249.03`) when that keeps them exact, so every feed's numbers read as a
screen shows them. The state is staged per
batch and committed by the bridge once the batch is published, so a retried batch folds its
ticks once.

State survives restarts: a worker meeting a symbol for the first time reads it from the
cached quote (which carries it), else from the database, where `DayStatsStage` (durable
lane) upserts it on each flush. Only then, after a cache loss, does the live lane read the
database (once per symbol). A symbol with no state at all starts its first session with its
reference price (the reference list's `reference_price`) as the previous close.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec
from sqlalchemy.exc import SQLAlchemyError

from models.db import SessionFactory, session_scope
from models.types import at_precision
from streaming.cache import Cache
from streaming.channels import quote_key
from streaming.day_store import DayState, load_day_states, upsert_day_states
from streaming.errors import BadTick
from streaming.tick import Tick
from trading.day_stats import DayStats
from trading.instruments import tick_sizes
from trading.sessions import SessionClock, SessionSpan

log = logging.getLogger(__name__)

DEFAULT_EXCHANGE = "NYSE"  # for a symbol missing from the reference list
TICK_SIZE_LOOKUP_SECONDS = 2.0
TICK_SIZE_RETRY_SECONDS = 30.0


@dataclass
class DayEnricher:
    cache: Cache
    sessions: SessionFactory
    clock: SessionClock
    exchanges: Mapping[str, str]  # symbol -> exchange, from the reference list
    references: Mapping[str, Decimal] = field(default_factory=dict)  # symbol -> its price there
    tick_sizes: dict[str, Decimal] = field(default_factory=dict)  # symbol -> its tick size
    _state: dict[str, DayState] = field(default_factory=dict)
    _staged: dict[str, DayState] = field(default_factory=dict)
    _spans: dict[str, SessionSpan] = field(default_factory=dict)  # exchange -> latest span
    _sizes_retry_at: float = 0.0  # when to look listed tick sizes up again after a failure

    async def enrich(self, ticks: list[Tick]) -> list[Tick]:
        """The ticks as they are published; the new state waits for `commit`."""
        unknown = sorted({t.symbol for t in ticks} - self._state.keys())
        if unknown:
            self._state.update(await self._load(unknown))
        unsized = sorted({t.symbol for t in ticks} - self.tick_sizes.keys())
        if unsized:
            await self._look_up_tick_sizes(unsized)
        staged: dict[str, DayState] = {}
        published = []
        for tick in ticks:
            day, halted = staged.get(tick.symbol) or self._state[tick.symbol]
            tick = self._at_tick_precision(tick)
            if tick.halted is not None:
                halted = tick.halted
                tick = msgspec.structs.replace(tick, kind="status")
            elif tick.is_trade:
                session = self._session(tick).day
                if day is None:  # a first session: measured from the reference price
                    reference = self.references.get(tick.symbol)
                    day = DayStats.first(session, tick.price, tick.volume, reference)
                else:
                    day = day.fold(session, tick.price, tick.volume)
            tick_size = self.tick_sizes.get(tick.symbol)
            if day is not None and tick_size:
                day = day.at_precision(tick_size)
            staged[tick.symbol] = (day, halted)
            price = tick.price if tick.is_trade else self._last_price(tick, day)
            published.append(msgspec.structs.replace(tick, price=price, halted=halted, day=day))
        self._staged = staged
        return published

    def _last_price(self, tick: Tick, day: DayStats | None) -> Decimal:
        """A quote, book or status update carries the last trade's price: the one the day's
        figures hold (across feed restarts), else the feed's own (its last trade, or the
        midpoint before any)."""
        return day.last if day is not None else tick.price

    def _at_tick_precision(self, tick: Tick) -> Tick:
        tick_size = self.tick_sizes.get(tick.symbol)
        if not tick_size:
            return tick
        book = tick.book
        if book is not None:
            book = msgspec.structs.replace(
                book,
                bids=tuple((at_precision(p, tick_size), size) for p, size in book.bids),
                asks=tuple((at_precision(p, tick_size), size) for p, size in book.asks),
            )
        return msgspec.structs.replace(
            tick,
            price=at_precision(tick.price, tick_size),
            bid=at_precision(tick.bid, tick_size),
            ask=at_precision(tick.ask, tick_size),
            book=book,
        )

    def commit(self) -> None:
        self._state.update(self._staged)
        self._staged = {}

    def forget(self) -> None:
        self._state.clear()
        self._staged = {}

    def halted(self, symbol: str) -> bool:
        return self._state.get(symbol, (None, False))[1]

    def _session(self, tick: Tick) -> SessionSpan:
        exchange = self.exchanges.get(tick.symbol, DEFAULT_EXCHANGE)
        span = self._spans.get(exchange)
        if span is None or not span.holds(tick.exchange_ts):
            span = self._spans[exchange] = self.clock.exchange(exchange).session_of(
                tick.exchange_ts
            )
        return span

    async def _look_up_tick_sizes(self, symbols: list[str]) -> None:
        """Listed instruments' tick sizes (beyond the reference list), best effort: while the
        database is away, prices go on as the feed wrote them and the lookup waits a while,
        so live prices never wait on PostgreSQL."""
        if time.monotonic() < self._sizes_retry_at:
            return
        try:
            async with asyncio.timeout(TICK_SIZE_LOOKUP_SECONDS):
                async with session_scope(self.sessions) as session:
                    found = await tick_sizes(session, symbols)
        except (TimeoutError, OSError, SQLAlchemyError) as error:
            log.warning("tick sizes not looked up (%r); prices as the feed wrote them", error)
            self._sizes_retry_at = time.monotonic() + TICK_SIZE_RETRY_SECONDS
            return
        self.tick_sizes.update(found)
        self.tick_sizes.update({s: Decimal(0) for s in symbols if s not in found})  # unlisted

    async def _load(self, symbols: list[str]) -> dict[str, DayState]:
        """From the cached quotes, else the database, else nothing yet."""
        states: dict[str, DayState] = {}
        for symbol, raw in zip(
            symbols, await self.cache.get_many([quote_key(s) for s in symbols]), strict=True
        ):
            cached = _parse(raw)
            if cached is not None and cached.day is not None:
                states[symbol] = (cached.day, bool(cached.halted))
        missing = [s for s in symbols if s not in states]
        if missing:
            async with session_scope(self.sessions) as session:
                states.update(await load_day_states(session, missing))
        return {s: states.get(s, (None, False)) for s in symbols}


def _parse(raw: bytes | None) -> Tick | None:
    if raw is None:
        return None
    try:
        return Tick.from_json(raw)
    except BadTick:
        return None


@dataclass
class DayStatsStage:
    """Durable lane: the latest state of each symbol seen, upserted on flush."""

    sessions: SessionFactory
    name: str = "day-stats"
    _latest: dict[str, Tick] = field(default_factory=dict)

    async def apply(self, ticks: list[Tick]) -> None:
        for tick in ticks:
            self._latest[tick.symbol] = tick

    async def flush(self) -> None:
        if not self._latest:
            return
        async with session_scope(self.sessions) as session:
            await upsert_day_states(session, list(self._latest.values()))
        self._latest.clear()

    def forget(self) -> None:
        self._latest.clear()
