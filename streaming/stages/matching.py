"""Matching stage: fill the resting LIMIT orders that a batch's quotes cross.

One query per batch, of a fixed shape (`limit_bounds`: per symbol of the batch, the highest
resting BUY and lowest resting SELL limit). Only a symbol whose lowest ask or highest bid
reaches a bound costs a second query (`limit_orders_in_ranges`, the candidate orders); only
the ticks that cross a candidate go through `match_crossing_orders`, THE fill loop (one
transaction per order, the user's row locked, the order re-checked OPEN; events published
after commit). So a batch without crossings costs one read, and an order fills at the first
tick that crosses it.

Re-delivery and a second worker are harmless: `fill_order` re-checks OPEN under the lock, so
an order fills once; the loser sees NOT_OPEN and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from models.db import SessionFactory
from models.tables import OrderSide
from resolvers.trading import (
    crosses_quote,
    limit_bounds,
    limit_orders_in_ranges,
    match_crossing_orders,
)
from streaming.metrics import ORDERS_FILLED
from streaming.pubsub import PubSub
from streaming.stages.ranges import by_symbol, quote_ranges
from streaming.tick import Tick


@dataclass
class MatchingStage:
    sessions: SessionFactory
    pubsub: PubSub
    name: str = "matching"

    async def apply(self, ticks: list[Tick]) -> None:
        if not ticks:
            return
        grouped = by_symbol(ticks)
        async with self.sessions() as session:
            bounds = await limit_bounds(session, list(grouped))
            reached = {
                symbol: (low_ask, high_bid)
                for symbol, (low_ask, high_bid) in quote_ranges(grouped).items()
                if symbol in bounds and _reaches(low_ask, high_bid, *bounds[symbol])
            }
            if not reached:
                return
            resting = await limit_orders_in_ranges(session, reached)
        for symbol, orders in resting.items():
            await self._match(grouped[symbol], orders)

    async def _match(
        self, ticks: list[Tick], waiting: list[tuple[int, OrderSide, Decimal]]
    ) -> None:
        for tick in ticks:
            if not waiting:
                return
            if not any(
                crosses_quote(side, limit, tick.bid, tick.ask) for _i, side, limit in waiting
            ):
                continue
            outcomes = await match_crossing_orders(self.sessions, self.pubsub, tick)
            ORDERS_FILLED.inc(sum(1 for o in outcomes if o.filled))
            # Crossed orders are settled now (filled, rejected, or filled elsewhere already).
            waiting = [
                (i, side, limit)
                for i, side, limit in waiting
                if not crosses_quote(side, limit, tick.bid, tick.ask)
            ]

    async def flush(self) -> None:
        return None  # every fill commits in `apply`, before its events are published

    def forget(self) -> None:
        return None


def _reaches(
    low_ask: Decimal, high_bid: Decimal, highest_buy: Decimal | None, lowest_sell: Decimal | None
) -> bool:
    return (highest_buy is not None and low_ask <= highest_buy) or (
        lowest_sell is not None and high_bid >= lowest_sell
    )
