from __future__ import annotations

from datetime import datetime

import strawberry

from graph.context import Info
from graph.query_cost import LOADER, cost
from graph.types.instrument import Instrument, load_instrument
from graph.types.quote import Quote
from resolvers.watchlists import MAX_ITEMS, ItemRecord, WatchlistRecord


@strawberry.type(description="One instrument on a watchlist.")
class WatchlistItem:
    added_at: datetime
    instrument_id: strawberry.Private[int]

    @strawberry.field(metadata=cost(LOADER))
    async def instrument(self, info: Info) -> Instrument:
        return await load_instrument(info, self.instrument_id)

    @strawberry.field(
        description="The instrument's latest quote, or null before the first tick.",
        metadata=cost(LOADER),
    )
    async def quote(self, info: Info) -> Quote | None:
        instrument = await load_instrument(info, self.instrument_id)
        tick = await info.context.loaders.quote.load(instrument.symbol)
        return Quote.from_tick(tick) if tick else None

    @classmethod
    def of(cls, r: ItemRecord) -> WatchlistItem:
        return cls(added_at=r.added_at, instrument_id=r.instrument_id)


@strawberry.type(description="A named list of instruments of the signed-in user.")
class Watchlist:
    id: strawberry.ID
    name: str
    created_at: datetime
    watchlist_id: strawberry.Private[int]

    @strawberry.field(
        description="In the order they were added.", metadata=cost(LOADER, size=MAX_ITEMS)
    )
    async def items(self, info: Info) -> list[WatchlistItem]:
        found = await info.context.loaders.watchlist_items.load(self.watchlist_id)
        return [WatchlistItem.of(r) for r in found]

    @classmethod
    def of(cls, r: WatchlistRecord) -> Watchlist:
        return cls(
            id=strawberry.ID(str(r.id)), name=r.name, created_at=r.created_at, watchlist_id=r.id
        )
