"""A symbol's statistics for its current session, folded trade by trade.

`DayStats` is what travels with each published quote (so every API replica renders it from
the message alone) and what is stored per symbol to survive restarts. It keeps the running
sums, not the derived figures; those are worked out where they are shown, with one rounding
rule each:

- `vwap` = turnover / volume, rounded half-even to 4 decimal places (finer than any tick
  size in the reference list), written as the last price is (`models.types.at_precision`);
  null while the session has no volume.
- `change` = last - previous close: exact (a difference of two exact prices), no rounding.
- `change_percent` = change / previous close x 100, rounded half-even to 2 decimal places.
  Both are null before the symbol has a previous session.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

from models.types import at_precision

VWAP_QUANTUM = Decimal("0.0001")
PERCENT_QUANTUM = Decimal("0.01")


class DayStats(msgspec.Struct, frozen=True, gc=False):
    """`session` is the date of the exchange session these figures belong to (see
    `trading.sessions.ExchangeClock.session_of`); `previous_close` the last trade before its
    open (null for a symbol's first session); `last` the latest trade."""

    session: date
    previous_close: Decimal | None
    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    volume: Decimal
    turnover: Decimal  # sum of price x size, for the vwap

    @classmethod
    def first(
        cls, session: date, price: Decimal, size: Decimal, previous: Decimal | None
    ) -> DayStats:
        return cls(session, previous, price, price, price, price, size, price * size)

    def fold(self, session: date, price: Decimal, size: Decimal) -> DayStats:
        """With one more trade: a later session starts afresh from this trade, with the last
        trade of this one as its previous close. (A trade stamped before the current session,
        out of order, counts in the current one rather than reopening a finished session.)"""
        if session > self.session:
            return DayStats.first(session, price, size, self.last)
        return DayStats(
            self.session,
            self.previous_close,
            self.open,
            max(self.high, price),
            min(self.low, price),
            price,
            self.volume + size,
            self.turnover + price * size,
        )

    def at_precision(self, tick_size: Decimal) -> DayStats:
        """Its prices as a screen shows them at `tick_size` (`models.types.at_precision`)."""

        def price(value: Decimal) -> Decimal:
            return at_precision(value, tick_size)

        previous = None if self.previous_close is None else price(self.previous_close)
        return DayStats(
            self.session,
            previous,
            price(self.open),
            price(self.high),
            price(self.low),
            price(self.last),
            self.volume,
            self.turnover,
        )

    @property
    def vwap(self) -> Decimal | None:
        if not self.volume:
            return None
        vwap = (self.turnover / self.volume).quantize(VWAP_QUANTUM, ROUND_HALF_EVEN)
        return at_precision(vwap, Decimal(1).scaleb(min(self.last.as_tuple().exponent, 0)))  # type: ignore[arg-type]

    @property
    def change(self) -> Decimal | None:
        return None if self.previous_close is None else self.last - self.previous_close

    @property
    def change_percent(self) -> Decimal | None:
        change = self.change
        if change is None or not self.previous_close:
            return None
        percent = change / self.previous_close * 100
        return percent.quantize(PERCENT_QUANTUM, ROUND_HALF_EVEN)
