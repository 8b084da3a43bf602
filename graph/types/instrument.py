from __future__ import annotations

from decimal import Decimal

import strawberry

from graph.context import Info
from graph.query_cost import LOADER, cost
from graph.types.quote import Quote
from graph.types.records import from_record
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

    @classmethod
    def of(cls, record: InstrumentRecord) -> Instrument:
        return from_record(cls, record)


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
