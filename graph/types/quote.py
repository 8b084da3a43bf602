from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from graph.scalars import BigInt, Written
from graph.types.market import DayStatsType
from streaming.tick import Tick
from trading.day_stats import DayStats


@strawberry.type(description="The latest trade and touch of one instrument.")
class Quote:
    symbol: str
    price: Decimal
    bid: Decimal
    ask: Decimal
    bid_size: Decimal | None = strawberry.field(
        description="Size at the bid, where the feed sends quotes with sizes (else null)."
    )
    ask_size: Decimal | None = strawberry.field(
        description="Size at the ask, where the feed sends quotes with sizes (else null)."
    )
    volume: Decimal = strawberry.field(
        description="Size of this update's trade: 0 when the update is a quote, book or "
        "status change (not the day's total: that is `day.volume`)."
    )
    timestamp: datetime = strawberry.field(description="Exchange time of this update.")
    sequence: BigInt = strawberry.field(
        description="Per-symbol sequence number: each tick is the previous one's plus one, across "
        "every restart, so a jump means ticks this stream did not deliver. Give the last one "
        "seen to `quotes(since:)` to resume after a reconnect."
    )
    halted: bool = strawberry.field(
        description="Trading in the instrument is halted (its resting LIMIT orders do not fill "
        "until it resumes)."
    )
    tick: strawberry.Private[Tick]

    @strawberry.field(description="The current session's statistics, as of this tick.")
    def day(self) -> DayStatsType:
        """Worked out only when selected (the shared fan-out builds a Quote per tick)."""
        return DayStatsType.of(self.tick.day or _alone(self.tick))

    @classmethod
    def from_tick(cls, tick: Tick) -> Quote:
        return cls(
            symbol=tick.symbol,
            price=Written(tick.price),
            bid=Written(tick.bid),
            ask=Written(tick.ask),
            bid_size=tick.bid_size,
            ask_size=tick.ask_size,
            volume=tick.volume,
            timestamp=tick.exchange_ts,
            sequence=BigInt(tick.sequence),
            halted=bool(tick.halted),
            tick=tick,
        )


def _alone(tick: Tick) -> DayStats:
    """A tick published before the bridge kept day statistics: the day as far as it shows."""
    return DayStats.first(tick.exchange_ts.date(), tick.price, tick.volume, None)


@strawberry.input(description="The last sequence a client saw of one symbol, to resume from.")
class SymbolSequence:
    symbol: str
    sequence: BigInt
