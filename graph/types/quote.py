from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from graph.scalars import BigInt
from streaming.tick import Tick


@strawberry.type(description="The latest trade and touch of one instrument.")
class Quote:
    symbol: str
    price: Decimal
    bid: Decimal
    ask: Decimal
    volume: Decimal = strawberry.field(
        description="Size of the last trade (not the day's total: that is the volume of the "
        "forming ONE_DAY candle)."
    )
    timestamp: datetime = strawberry.field(description="Exchange time of the last trade.")
    sequence: BigInt = strawberry.field(description="Per-symbol sequence number; always rises.")

    @classmethod
    def from_tick(cls, tick: Tick) -> Quote:
        return cls(
            symbol=tick.symbol,
            price=tick.price,
            bid=tick.bid,
            ask=tick.ask,
            volume=tick.volume,
            timestamp=tick.exchange_ts,
            sequence=BigInt(tick.sequence),
        )
