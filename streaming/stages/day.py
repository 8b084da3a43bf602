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
from typing import NamedTuple

import msgspec
from sqlalchemy.exc import SQLAlchemyError

from models.db import SessionFactory, session_scope
from models.types import at_precision, plain
from streaming.cache import Cache
from streaming.channels import quote_key
from streaming.day_store import DayState, load_day_states, upsert_day_states
from streaming.errors import BadTick
from streaming.tick import Depth, Tick
from trading.day_stats import DayStats
from trading.instruments import tick_sizes
from trading.sessions import SessionClock, SessionSpan

log = logging.getLogger(__name__)

DEFAULT_EXCHANGE = "NYSE"  # for a symbol missing from the reference list
TICK_SIZE_LOOKUP_SECONDS = 2.0
TICK_SIZE_RETRY_SECONDS = 30.0


class _Written(NamedTuple):
    price: Decimal
    bid: Decimal
    ask: Decimal
    book: Depth | None


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
        symbols = {t.symbol for t in ticks}
        unsized = sorted(symbols - self.tick_sizes.keys())
        if unsized:
            await self._look_up_tick_sizes(unsized)
        unknown = sorted(symbols - self._state.keys())
        if unknown:
            self._state.update(await self._load(unknown))
        staged: dict[str, DayState] = {}
        published = []
        for tick in ticks:
            day, halted = staged.get(tick.symbol) or self._state[tick.symbol]
            written = self._written(tick)
            kind = tick.kind
            if tick.halted is not None:
                halted, kind = tick.halted, "status"
            elif kind == "trade":
                day = self._folded(day, tick, written.price)
            staged[tick.symbol] = (day, halted)
            last = written.price if kind == "trade" or day is None else day.last
            published.append(
                msgspec.structs.replace(
                    tick,
                    price=last,
                    bid=written.bid,
                    ask=written.ask,
                    book=written.book,
                    kind=kind,
                    halted=halted,
                    day=day,
                )
            )
        self._staged = staged
        return published

    def _folded(self, day: DayStats | None, tick: Tick, price: Decimal) -> DayStats:
        """`day` with one more trade; a first session is measured from the reference price.
        (Its prices stay at the tick precision: each comes from a written tick.)"""
        session = self._session(tick).day
        if day is not None:
            return day.fold(session, price, tick.volume)
        first = DayStats.first(session, price, tick.volume, self.references.get(tick.symbol))
        return self._day_written(tick.symbol, first)

    def _written(self, tick: Tick) -> _Written:
        """The tick's prices at its instrument's tick precision (as they are, unlisted)."""
        tick_size = self.tick_sizes.get(tick.symbol)
        if not tick_size:
            return _Written(tick.price, tick.bid, tick.ask, tick.book)
        book = tick.book
        if book is not None:
            book = msgspec.structs.replace(
                book,
                bids=tuple((at_precision(p, tick_size), size) for p, size in book.bids),
                asks=tuple((at_precision(p, tick_size), size) for p, size in book.asks),
            )
        return _Written(
            at_precision(tick.price, tick_size),
            at_precision(tick.bid, tick_size),
            at_precision(tick.ask, tick_size),
            book,
        )

    def _day_written(self, symbol: str, day: DayStats) -> DayStats:
        """`day` at the tick precision: for figures read back or begun from the reference
        list (those folded from written ticks already are)."""
        tick_size = self.tick_sizes.get(symbol)
        return day.at_precision(tick_size) if tick_size else day

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
        self.tick_sizes.update({symbol: plain(size) for symbol, size in found.items()})
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
        loaded = {s: states.get(s, (None, False)) for s in symbols}
        return {
            s: (None if day is None else self._day_written(s, day), halted)
            for s, (day, halted) in loaded.items()
        }


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
