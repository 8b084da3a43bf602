from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from models.tables import Candle as CandleRow


@strawberry.enum(description="Bar length.")
class CandleInterval(Enum):
    ONE_MINUTE = "1m"
    FIVE_MINUTES = "5m"
    FIFTEEN_MINUTES = "15m"
    ONE_HOUR = "1h"
    ONE_DAY = "1d"


@strawberry.type(description="One OHLCV bar; `start` is the bar's opening time (UTC).")
class Candle:
    symbol: str
    interval: CandleInterval
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @classmethod
    def of(cls, row: CandleRow) -> Candle:
        return cls(
            symbol=row.symbol, interval=CandleInterval(row.interval), start=row.start,
            open=row.open, high=row.high, low=row.low, close=row.close, volume=row.volume,
        )  # fmt: skip
