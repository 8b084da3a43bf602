"""Matching stage: fill the resting LIMIT orders that the quotes since the last flush crossed.

Nothing on the tick path: `apply` only notes, per symbol, the lowest ask and highest bid and
the ticks that set a new one (the only ones that can be the first to cross a limit; see
`ranges.Extremes`). The database work runs once per flush (`BRIDGE_FLUSH_INTERVAL_MS`), before
the bridge records its watermark and commits the offsets, so an order fills at most one flush
interval after the tick that crossed it, at that tick's price. Per flush: one query of a fixed
shape (`limit_bounds`: per symbol seen, the highest resting BUY and lowest resting SELL limit).
Only a symbol whose lowest ask or highest bid reaches a bound costs a second query
(`limit_orders_in_ranges`, the candidate orders); only the ticks that cross a candidate go
through `trading.fills.fill_crossing_orders`, THE fill loop (one transaction per order, the
user's row locked, the order re-checked OPEN; events published after commit). So a flush without
crossings costs one read, and an order fills at the first tick, in log order, that crosses it.
(An order placed during an interval may fill at a quote from earlier in that interval that
crosses its limit, as it could already when the log lags.)

Re-delivery, a retried flush and a second worker are harmless: `fill_order` re-checks OPEN
under the lock, so an order fills once; the loser sees NOT_OPEN and writes nothing. What was
noted is dropped only once the flush succeeded, or by `forget` (a rebalance: the offsets were
not committed, so the ticks are delivered again). A halted symbol's ticks are not noted: its
resting orders wait for the first tick after the resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import SessionFactory
from models.tables import OrderSide
from streaming.metrics import ORDERS_FILLED
from streaming.pubsub import PubSub
from streaming.stages.ranges import Extremes, quote_extremes
from streaming.stages.thresholds import Bounds, Range, ThresholdStage
from streaming.tick import Tick
from streaming.user_events import publish_recorded
from trading.fills import crosses_quote, fill_crossing_orders, limit_bounds, limit_orders_in_ranges


@dataclass
class MatchingStage(ThresholdStage):
    sessions: SessionFactory
    pubsub: PubSub
    name: str = "matching"
    _seen: Extremes = field(default_factory=quote_extremes)

    async def apply(self, ticks: list[Tick]) -> None:
        """A halted symbol's ticks (`halted`, set by the bridge) fill nothing."""
        await super().apply([tick for tick in ticks if not tick.halted])

    async def bounds(self, session: AsyncSession, symbols: list[str]) -> dict[str, Bounds]:
        return await limit_bounds(session, symbols)

    def reaches(self, seen: Range, bounds: Bounds) -> bool:
        (low_ask, high_bid), (highest_buy, lowest_sell) = seen, bounds
        return (highest_buy is not None and low_ask <= highest_buy) or (
            lowest_sell is not None and high_bid >= lowest_sell
        )

    async def settle(self, reached: dict[str, Range]) -> None:
        async with self.sessions() as session:
            resting = await limit_orders_in_ranges(session, reached)
        crossing = self._seen.ticks()
        for symbol, orders in resting.items():
            await self._match(crossing[symbol], orders)

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
            outcomes = await fill_crossing_orders(self.sessions, tick.symbol, tick.bid, tick.ask)
            for outcome in outcomes:
                await publish_recorded(self.sessions, self.pubsub, outcome.events)
            ORDERS_FILLED.inc(sum(1 for o in outcomes if o.filled))
            # Crossed orders are settled now (filled, rejected, or filled elsewhere already).
            waiting = [
                (i, side, limit)
                for i, side, limit in waiting
                if not crosses_quote(side, limit, tick.bid, tick.ask)
            ]
