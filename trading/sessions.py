"""Exchange sessions from the `exchange_calendars` library (regular hours, early closes and
holidays as each exchange publishes them), plus the extended-hours windows around them.

Two questions are asked of it. `session_of`: which trading session an instant belongs to,
for day statistics: the latest session whose open is at or before it, so the evening after a
close, the night and a holiday all still belong to the last session, and the previous close
of a session is the last trade before its open (whether or not a feed ticks around the
clock). `status`: OPEN, PRE, POST or CLOSED at an instant, and when that next changes.
`exchange_calendars` has no extended hours, so PRE is `pre_minutes` before each session's
open and POST `post_minutes` after its close (defaults: 04:00 to 09:30 and 16:00 to 20:00 New
York time, as NYSE and NASDAQ run them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

import exchange_calendars
import pandas

# The names the reference list uses, to the calendar library's codes (ISO 10383 MICs; the
# library's "24/7" for crypto venues, which never close: one session a UTC day).
EXCHANGE_CODES = {
    "NYSE": "XNYS",
    "NASDAQ": "XNAS",
    "XNYS": "XNYS",
    "XNAS": "XNAS",
    "BINANCE": "24/7",
    "CRYPTO": "24/7",
}
ALWAYS_OPEN = frozenset({"24/7"})  # calendars without extended hours: each session opens
# as the one before closes


class MarketPhase(StrEnum):
    PRE = "PRE"
    OPEN = "OPEN"
    POST = "POST"
    CLOSED = "CLOSED"
    HALTED = "HALTED"


class UnknownExchange(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SessionSpan:
    """One session as day statistics see it: from its open to the next session's open."""

    day: date
    opens: datetime
    next_opens: datetime

    def holds(self, instant: datetime) -> bool:
        return self.opens <= instant < self.next_opens


@dataclass(frozen=True, slots=True)
class PhaseAt:
    phase: MarketPhase
    until: datetime  # when the phase next changes
    next_phase: MarketPhase


def exchange_code(exchange: str) -> str:
    """The calendar code of an exchange named as in the reference list or by its MIC."""
    code = EXCHANGE_CODES.get(exchange.strip().upper())
    if code is None:
        known = ", ".join(sorted(EXCHANGE_CODES))
        raise UnknownExchange(f"unknown exchange {exchange.strip()[:32]!r}; known: {known}")
    return code


@dataclass
class ExchangeClock:
    """One exchange's calendar (built once: a few hundred milliseconds)."""

    code: str
    pre_minutes: int = 330
    post_minutes: int = 240

    @cached_property
    def calendar(self) -> Any:
        return exchange_calendars.get_calendar(self.code)

    def session_of(self, instant: datetime) -> SessionSpan:
        """The latest session that opened at or before `instant` (see the module text)."""
        minute = _minute(instant)
        calendar = self.calendar
        if minute < calendar.first_minute or minute >= calendar.last_minute:
            day = instant.astimezone(UTC).date()  # beyond the calendar: UTC days
            opens = datetime.combine(day, datetime.min.time(), UTC)
            return SessionSpan(day, opens, opens + timedelta(days=1))
        session = calendar.minute_to_session(minute, direction="previous")
        opens = calendar.session_open(session)
        if opens > minute:  # (a minute before the first session's open)
            session = calendar.previous_session(session)
            opens = calendar.session_open(session)
        following = calendar.next_session(session)
        return SessionSpan(
            session.date(), opens.to_pydatetime(), calendar.session_open(following).to_pydatetime()
        )

    def status(self, instant: datetime) -> PhaseAt:
        """The phase at `instant` and when it changes: PRE, OPEN (regular hours), POST, CLOSED."""
        minute = _minute(instant)
        for start, end, phase, after in self._windows(minute):
            if minute < start:
                return PhaseAt(MarketPhase.CLOSED, start.to_pydatetime(), phase)
            if minute < end:
                return PhaseAt(phase, end.to_pydatetime(), after)
        raise AssertionError("the windows end after the next session")  # pragma: no cover

    def _windows(self, minute: pandas.Timestamp) -> list[tuple[Any, Any, MarketPhase, MarketPhase]]:
        """The PRE, OPEN and POST windows of the sessions around `minute`, in time order
        (each with the phase after it: CLOSED, or OPEN straight after PRE)."""
        calendar = self.calendar
        session = calendar.minute_to_session(minute, direction="previous")
        windows = []
        for day in (session, calendar.next_session(session)):
            opens, closes = calendar.session_open(day), calendar.session_close(day)
            pre = opens - pandas.Timedelta(minutes=self.pre_minutes)
            post = closes + pandas.Timedelta(minutes=self.post_minutes)
            # the next session opening as this one closes (a 24/7 calendar): no CLOSED
            post_next = (
                MarketPhase.OPEN
                if calendar.session_open(calendar.next_session(day)) <= post
                else MarketPhase.CLOSED
            )
            windows += [
                (pre, opens, MarketPhase.PRE, MarketPhase.OPEN),
                (
                    opens,
                    closes,
                    MarketPhase.OPEN,
                    MarketPhase.POST if self.post_minutes else post_next,
                ),
                (closes, post, MarketPhase.POST, post_next),
            ]
        return [w for w in windows if w[1] > w[0]]


@dataclass
class SessionClock:
    """Every exchange's clock, built on first use."""

    pre_minutes: int = 330
    post_minutes: int = 240
    _clocks: dict[str, ExchangeClock] = field(default_factory=dict)

    _phases: dict[str, PhaseAt] = field(default_factory=dict)

    def is_open(self, exchange: str, instant: datetime) -> bool:
        """Whether `exchange` is in regular hours (the phase is kept until it changes, so
        asking per tick costs a comparison)."""
        phase = self._phases.get(exchange)
        if phase is None or instant >= phase.until:
            phase = self._phases[exchange] = self.exchange(exchange).status(instant)
        return phase.phase is MarketPhase.OPEN

    def exchange(self, exchange: str) -> ExchangeClock:
        code = exchange_code(exchange)
        clock = self._clocks.get(code)
        if clock is None:
            pre, post = (0, 0) if code in ALWAYS_OPEN else (self.pre_minutes, self.post_minutes)
            clock = self._clocks[code] = ExchangeClock(code, pre, post)
        return clock


def _minute(instant: datetime) -> pandas.Timestamp:
    """`instant` as the calendar's UTC minute (the minute it falls in)."""
    return pandas.Timestamp(instant).tz_convert(UTC).floor("min")
