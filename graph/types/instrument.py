from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from graph.context import Info
from graph.query_cost import LOADER, cost
from graph.scalars import Written
from graph.types.market import DayStatsType, MarketStatus
from graph.types.quote import Quote
from graph.types.records import from_record
from models.types import at_precision, plain
from resolvers.market import exchange_status
from trading.instruments import InstrumentRecord


@strawberry.type(description="A listed instrument of the reference list.")
class Instrument:
    id: strawberry.ID
    symbol: str
    name: str
    exchange: str
    sector: str
    isin: str | None
    currency: str
    lot_size: Decimal = strawberry.field(description="Quantities are multiples of this.")
    tick_size: Decimal = strawberry.field(description="Limit prices are multiples of this.")

    @strawberry.field(
        description="The latest quote, or null before the first tick.", metadata=cost(LOADER)
    )
    async def quote(self, info: Info) -> Quote | None:
        tick = await info.context.loaders.quote.load(self.symbol)
        return Quote.from_tick(tick) if tick else None

    @strawberry.field(
        description="The current session's statistics (the quote's `day`), or null before the "
        "first tick.",
        metadata=cost(LOADER),
    )
    async def day(self, info: Info) -> DayStatsType | None:
        quote = await self.quote(info)
        return quote.day() if quote else None

    @strawberry.field(
        description="Its exchange's status now, or HALTED while the instrument is halted.",
        metadata=cost(LOADER),
    )
    async def market_status(self, info: Info) -> MarketStatus:
        tick = await info.context.loaders.quote.load(self.symbol)
        return market_status(info, self.exchange, halted=bool(tick and tick.halted))

    @classmethod
    def of(cls, record: InstrumentRecord) -> Instrument:
        return from_record(cls, record)


def market_status(
    info: Info, exchange: str, *, at: datetime | None = None, halted: bool = False
) -> MarketStatus:
    """`exchange`'s status at `at` (default now), from the process's calendars."""
    code, phase = exchange_status(info.context.runtime.clock, exchange, at=at, halted=halted)
    return MarketStatus.of(code, phase)


async def at_tick_precision(
    info: Info, instrument_id: int, price: Decimal | None
) -> Decimal | None:
    """`price` written at its instrument's tick precision (`models.types.at_precision`), as
    the quotes it came from are: a fill at "400.20" reads "400.20" from the database too."""
    if price is None:
        return None
    record = await info.context.loaders.instrument.load(instrument_id)
    return Written(price if record is None else at_precision(price, plain(record.tick_size)))


async def load_instrument(info: Info, instrument_id: int) -> Instrument:
    record = await info.context.loaders.instrument.load(instrument_id)
    assert record is not None, f"instrument {instrument_id} vanished"
    return Instrument.of(record)


@strawberry.input(description="One row of the reference list, for `upsertInstruments`.")
class InstrumentInput:
    symbol: str
    name: str
    exchange: str
    sector: str
    currency: str
    lot_size: Decimal
    tick_size: Decimal
    isin: str | None = None
