"""Day statistics and market status: how a session is going, and whether it is open."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from graph.scalars import Written, written
from trading.day_stats import DayStats as DayFigures
from trading.sessions import MarketPhase, PhaseAt

strawberry.enum(
    MarketPhase,
    description="PRE / POST: extended hours before the open and after the close; OPEN: regular "
    "hours; CLOSED: none of those (nights, weekends, holidays); HALTED: trading in the "
    "instrument is halted by its feed until resumed.",
)


@strawberry.type(
    name="DayStats",
    description="The instrument's figures for its current exchange session (from the exchange "
    "calendar: a session runs from one regular open to the next, so after-hours trades count "
    "in the session they follow). Exact decimals; vwap is rounded half-even to 4 decimal "
    "places, changePercent to 2; change is exact.",
)
class DayStatsType:
    """Each figure worked out only when selected (a live quote carries the day with each
    tick, and the board shows three of them)."""

    figures: strawberry.Private[DayFigures]

    @strawberry.field(description="The session's date (exchange calendar).")
    def session(self) -> date:
        return self.figures.session

    @strawberry.field(
        description="The last trade of the previous session (in a symbol's first session: its "
        "reference price, if the reference list has one; else null)."
    )
    def previous_close(self) -> Decimal | None:
        return written(self.figures.previous_close)

    @strawberry.field(description="The session's first trade.")
    def open(self) -> Decimal:
        return Written(self.figures.open)

    @strawberry.field
    def high(self) -> Decimal:
        return Written(self.figures.high)

    @strawberry.field
    def low(self) -> Decimal:
        return Written(self.figures.low)

    @strawberry.field(description="The session's total traded size.")
    def volume(self) -> Decimal:
        return self.figures.volume

    @strawberry.field(description="Volume-weighted average price (null while volume is 0).")
    def vwap(self) -> Decimal | None:
        return written(self.figures.vwap)

    @strawberry.field(description="Last price - previousClose.")
    def change(self) -> Decimal | None:
        return written(self.figures.change)

    @strawberry.field(description="change / previousClose x 100, rounded to 2 decimal places.")
    def change_percent(self) -> Decimal | None:
        return written(self.figures.change_percent)

    @classmethod
    def of(cls, day: DayFigures) -> DayStatsType:
        return cls(figures=day)


@strawberry.type(description="Whether an exchange is trading, and until when.")
class MarketStatus:
    exchange: str = strawberry.field(description="The calendar's code (XNYS, XNAS).")
    status: MarketPhase
    next_change: datetime = strawberry.field(description="When the status next changes.")
    next_status: MarketPhase = strawberry.field(description="The status from `nextChange`.")

    @classmethod
    def of(cls, exchange: str, phase: PhaseAt) -> MarketStatus:
        return cls(
            exchange=exchange,
            status=phase.phase,
            next_change=phase.until,
            next_status=phase.next_phase,
        )
