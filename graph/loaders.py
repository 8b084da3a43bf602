"""DataLoaders, made per context (per HTTP request, per WebSocket connection), never globally.

Each batch is one statement (or one Redis MGET) however many objects a page holds, so a page of
50 orders with their instruments costs the same number of queries as a page of 5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from delivery.quotes import latest_quotes
from resolvers.watchlists import ItemRecord, items_of
from streaming.tick import Tick
from trading.instruments import InstrumentRecord, instruments_by_ids

if TYPE_CHECKING:
    from streaming.runtime import Runtime


class Loaders:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.instrument = DataLoader[int, InstrumentRecord | None](self._instruments)
        # Quotes change every tick: batch them, never cache them for the connection's life.
        self.quote = DataLoader[str, Tick | None](self._quotes, cache=False)
        # A WebSocket context lives as long as the connection: only instruments (which change
        # by admin action alone) are cached across operations; lists and quotes are batched.
        self.watchlist_items = DataLoader[int, list[ItemRecord]](self._items, cache=False)

    async def _instruments(self, ids: Sequence[int]) -> list[InstrumentRecord | None]:
        async with self._runtime.sessions() as session:
            found = await instruments_by_ids(session, ids)
        return [found.get(i) for i in ids]

    async def _quotes(self, symbols: Sequence[str]) -> list[Tick | None]:
        found = {t.symbol: t for t in await latest_quotes(self._runtime.cache, symbols)}
        return [found.get(s) for s in symbols]

    async def _items(self, ids: Sequence[int]) -> list[list[ItemRecord]]:
        async with self._runtime.sessions() as session:
            found = await items_of(session, list(ids))
        return [found[i] for i in ids]
