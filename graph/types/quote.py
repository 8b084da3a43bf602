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
    sequence: BigInt = strawberry.field(
        description="Per-symbol sequence number: each tick is the previous one's plus one, across "
        "every restart, so a jump means ticks this stream did not deliver. Give the last one "
        "seen to `quotes(since:)` to resume after a reconnect."
    )

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


@strawberry.input(description="The last sequence a client saw of one symbol, to resume from.")
class SymbolSequence:
    symbol: str
    sequence: BigInt
