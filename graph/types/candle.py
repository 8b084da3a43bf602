"""Candles: the `CandleInterval` enum and the `Candle` type (shared by the subscription and
the history query)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import msgspec
import strawberry

from graph.scalars import BigInt, Written
from models.types import at_precision
from streaming.candles import Bar, Interval


@strawberry.enum(description="Length of a candle. Bars are aligned in UTC; days start at 00:00.")
class CandleInterval(Enum):
    ONE_MINUTE = Interval.M1.value
    FIVE_MINUTES = Interval.M5.value
    FIFTEEN_MINUTES = Interval.M15.value
    ONE_HOUR = Interval.H1.value
    ONE_DAY = Interval.D1.value

    @property
    def interval(self) -> Interval:
        return Interval(self.value)

    @classmethod
    def of(cls, interval: Interval) -> CandleInterval:
        return cls(interval.value)


@strawberry.type(description="One OHLCV bar; the forming bar changes until its interval ends.")
class Candle:
    symbol: str
    interval: CandleInterval
    start: datetime = strawberry.field(description="Start of the bar (inclusive), UTC.")
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = strawberry.field(description="Sum of the trade sizes in the bar.")
    last_sequence: BigInt = strawberry.field(
        description="Sequence of the last tick folded into the bar; rises as the bar updates."
    )

    @classmethod
    def from_bar(cls, bar: Bar, tick_size: Decimal | None = None) -> Candle:
        """A bar as a screen shows it: its prices keep their places (at `tick_size`'s when
        given: a bar read back from the database has lost its trailing zeros)."""
        fields = msgspec.structs.asdict(bar)
        prices = {
            name: Written(fields[name] if not tick_size else at_precision(fields[name], tick_size))
            for name in ("open", "high", "low", "close")
        }
        return cls(**{**fields, **prices, "interval": CandleInterval.of(bar.interval)})
