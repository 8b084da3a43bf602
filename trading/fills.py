"""THE fill, and the queries that find the resting LIMIT orders a quote crosses.

`fill_order` is the one place an order fills: a MARKET order (or a LIMIT order the quote
already crosses) calls it at placement (`trading.orders`); the bridge's matching stage calls
it, through `fill_crossing_orders`, for resting LIMIT orders whose price a tick crosses.
Orders fill completely or not at all (no partial fills). It runs with the user's row locked
(`trading.locking`), so concurrent paths of one user never overspend cash or oversell.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import partial

from opentelemetry.util.types import Attributes
from sqlalchemy import case
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import SessionFactory
from models.tables import (
    Fill,
    Instrument,
    Notification,
    NotificationKind,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    User,
)
from models.types import plain, utcnow
from trading.event_log import record_events
from trading.events import NotificationEvent, OrderEvent, Recorded
from trading.failover import transact_once
from trading.locking import lock_user
from trading.money import average, exact, exact_aggregate
from trading.records import NotificationRecord, OrderRecord
from trading.tracing import span_caused_by

log = logging.getLogger(__name__)


class NoFillReason(StrEnum):
    """Why `fill_order` left an order alone."""

    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    NOT_OPEN = "NOT_OPEN"
    PRICE_NOT_CROSSED = "PRICE_NOT_CROSSED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"  # the order is then REJECTED
    INSUFFICIENT_POSITION = "INSUFFICIENT_POSITION"  # the order is then REJECTED


@dataclass(slots=True)
class FillOutcome:
    """What `fill_order` did: `filled`, or `reason` says why not; `events` (recorded in the
    transaction) go out after its commit, with `publish_recorded`."""

    order: OrderRecord | None
    symbol: str | None = None
    reason: NoFillReason | None = None
    notification: NotificationRecord | None = None
    events: list[Recorded] = field(default_factory=list)

    @property
    def filled(self) -> bool:
        return self.reason is None


def match_price(side: OrderSide, bid: Decimal, ask: Decimal) -> Decimal:
    """Where an order executes against a quote: buyers pay the ask, sellers get the bid."""
    return ask if side == OrderSide.BUY else bid


async def fill_order(session: AsyncSession, order_id: int, price: Decimal) -> FillOutcome:
    """Fill the whole remaining quantity of an OPEN order at `price`, inside the caller's
    transaction (the caller commits, then publishes `outcome.events` with `publish_recorded`).

    Locks the user's row, then the order's (SELECT ... FOR UPDATE on PostgreSQL; on SQLite run
    it inside `money_transaction`), re-checks that the order is still OPEN and that a LIMIT
    price is crossed (BUY: price <= limit, SELL: price >= limit), then writes the fill row, the
    position, the cash, the order's status and average price, releases the reservation and
    adds an ORDER_FILLED notification. Returns the order and the reason when nothing was done.
    """
    owner = (await session.exec(select(Order.user_id).where(Order.id == order_id))).first()
    if owner is None:
        return FillOutcome(order=None, reason=NoFillReason.UNKNOWN_ORDER)
    user = await lock_user(session, owner)
    order = await lock_order(session, order_id)
    assert user is not None
    assert order is not None
    assert order.id is not None
    instrument = await session.get(Instrument, order.instrument_id)
    assert instrument is not None
    symbol = instrument.symbol
    if order.status != OrderStatus.OPEN:
        return FillOutcome(OrderRecord.model_validate(order), symbol, NoFillReason.NOT_OPEN)
    if order.limit_price is not None and not crosses(order.side, order.limit_price, price):
        return FillOutcome(
            OrderRecord.model_validate(order), symbol, NoFillReason.PRICE_NOT_CROSSED
        )

    trade = _Trade(order, user, order.quantity - order.filled_quantity, price, utcnow())
    settle = _settle_buy if order.side == OrderSide.BUY else _settle_sell
    shortfall = await settle(session, trade)
    if shortfall is not None:
        return await _reject(session, order, user, symbol, shortfall)
    return await _record_fill(session, trade, symbol)


@dataclass(frozen=True, slots=True)
class _Trade:
    """A fill in the making: the locked order and user, the quantity left, its price, and the
    one timestamp every row of the fill gets."""

    order: Order
    user: User
    quantity: Decimal
    price: Decimal
    now: datetime


async def _settle_buy(session: AsyncSession, trade: _Trade) -> NoFillReason | None:
    """Pay for a BUY from free cash plus its reservation and add to the position; the reason
    (nothing changed) when the cash does not cover it."""
    order, user, quantity, price = trade.order, trade.user, trade.quantity, trade.price
    position = await position_of(session, order.user_id, order.instrument_id)
    amount = exact(quantity * price)
    available = user.cash + order.reserved_cash
    if amount > available:
        return NoFillReason.INSUFFICIENT_FUNDS
    user.cash = available - amount
    if position is None:
        position = Position(
            user_id=order.user_id,
            instrument_id=order.instrument_id,
            quantity=quantity,
            average_price=price,
            updated_at=trade.now,
        )
    else:
        held = position.quantity * position.average_price
        position.average_price = average(held + amount, position.quantity + quantity)
        position.quantity += quantity
        position.updated_at = trade.now
    session.add(position)
    return None


async def _settle_sell(session: AsyncSession, trade: _Trade) -> NoFillReason | None:
    """Take a SELL out of the position (deleting it at zero) and credit the cash; the reason
    (nothing changed) when the position does not hold it."""
    order = trade.order
    position = await position_of(session, order.user_id, order.instrument_id)
    if position is None or position.quantity < trade.quantity:
        return NoFillReason.INSUFFICIENT_POSITION
    trade.user.cash += exact(trade.quantity * trade.price)
    position.quantity -= trade.quantity
    position.updated_at = trade.now
    if position.quantity == 0:
        await session.delete(position)
    else:
        session.add(position)
    return None


async def _record_fill(session: AsyncSession, trade: _Trade, symbol: str) -> FillOutcome:
    """The order FILLED with its reservation released, the fill row, the ORDER_FILLED
    notification, and their events."""
    order, user, quantity, price = trade.order, trade.user, trade.quantity, trade.price
    now = trade.now
    order.reserved_cash = Decimal(0)
    order.filled_quantity = order.quantity
    order.average_fill_price = price
    order.status = OrderStatus.FILLED
    order.updated_at = now
    session.add_all([user, order])
    assert order.id is not None
    session.add(
        Fill(
            order_id=order.id,
            user_id=order.user_id,
            instrument_id=order.instrument_id,
            side=order.side,
            quantity=quantity,
            price=price,
            created_at=now,
        )
    )
    verb = "Bought" if order.side == OrderSide.BUY else "Sold"
    note = Notification(
        user_id=order.user_id,
        kind=NotificationKind.ORDER_FILLED,
        order_id=order.id,
        message=f"{verb} {plain(quantity)} {symbol} at {plain(price)}",
        created_at=now,
    )
    session.add(note)
    await session.flush()
    record = OrderRecord.model_validate(order)
    notification = NotificationRecord.model_validate(note)
    events = record_events(
        session, user, [OrderEvent(record, symbol), NotificationEvent(notification)]
    )
    return FillOutcome(record, symbol, None, notification, events=events)


async def open_limit_orders_crossing(
    session: AsyncSession, symbol: str, bid: Decimal, ask: Decimal
) -> list[int]:
    """Ids of OPEN limit orders of `symbol` that this quote crosses, oldest first:
    BUY with limit >= ask, SELL with limit <= bid. Fill each with `fill_order` at
    `match_price(side, bid, ask)`, which re-checks everything under its locks."""
    query = (
        select(Order.id)
        .join(Instrument, col(Instrument.id) == col(Order.instrument_id))
        .where(
            Instrument.symbol == symbol,
            Order.status == OrderStatus.OPEN,
            Order.type == OrderType.LIMIT,
            or_(
                (col(Order.side) == OrderSide.BUY) & (col(Order.limit_price) >= ask),
                (col(Order.side) == OrderSide.SELL) & (col(Order.limit_price) <= bid),
            ),
        )
        .order_by(col(Order.created_at), col(Order.id))
    )
    return [order_id for order_id in (await session.exec(query)).all() if order_id is not None]


async def limit_bounds(
    session: AsyncSession, symbols: list[str]
) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """Per symbol with OPEN limit orders: (highest BUY limit, lowest SELL limit). A quote
    whose ask is above the one and whose bid is below the other crosses nothing, so most
    flushes need no other query. One statement of a fixed shape, one row per symbol."""
    if not symbols:
        return {}
    buy = col(Order.side) == OrderSide.BUY
    sell = col(Order.side) == OrderSide.SELL
    query = (
        select(
            col(Instrument.symbol),
            func.max(case((buy, col(Order.limit_price)))),
            func.min(case((sell, col(Order.limit_price)))),
        )
        .join(Instrument, col(Instrument.id) == col(Order.instrument_id))
        .where(
            Order.status == OrderStatus.OPEN,
            Order.type == OrderType.LIMIT,
            col(Instrument.symbol).in_(symbols),
        )
        .group_by(col(Instrument.symbol))
    )
    return {
        symbol: (exact_aggregate(high), exact_aggregate(low))
        for symbol, high, low in (await session.exec(query)).all()
    }


async def limit_orders_in_ranges(
    session: AsyncSession, ranges: dict[str, tuple[Decimal, Decimal]]
) -> dict[str, list[tuple[int, OrderSide, Decimal]]]:
    """OPEN limit orders that some quote since the last flush may cross, per symbol, as
    (id, side, limit): with `ranges[symbol] = (lowest ask, highest bid)` of those quotes, BUY with
    limit >= lowest ask, SELL with limit <= highest bid. One query for a whole flush; the
    bridge then calls `match_crossing_orders` only for the ticks that cross one of them."""
    if not ranges:
        return {}
    per_symbol = [
        (col(Instrument.symbol) == symbol)
        & or_(
            (col(Order.side) == OrderSide.BUY) & (col(Order.limit_price) >= low_ask),
            (col(Order.side) == OrderSide.SELL) & (col(Order.limit_price) <= high_bid),
        )
        for symbol, (low_ask, high_bid) in ranges.items()
    ]
    query = (
        select(col(Order.id), col(Instrument.symbol), col(Order.side), col(Order.limit_price))
        .join(Instrument, col(Instrument.id) == col(Order.instrument_id))
        .where(Order.status == OrderStatus.OPEN, Order.type == OrderType.LIMIT, or_(*per_symbol))
        .order_by(col(Order.created_at), col(Order.id))
    )
    found: dict[str, list[tuple[int, OrderSide, Decimal]]] = {}
    for order_id, symbol, side, limit in (await session.exec(query)).all():
        if order_id is not None and limit is not None:
            found.setdefault(symbol, []).append((order_id, OrderSide(side), limit))
    return found


def crosses_quote(side: OrderSide, limit: Decimal, bid: Decimal, ask: Decimal) -> bool:
    """Whether a quote crosses a resting limit order (the test `fill_order` re-checks)."""
    return crosses(side, limit, match_price(side, bid, ask))


async def fill_crossing_orders(
    sessions: SessionFactory, symbol: str, bid: Decimal, ask: Decimal
) -> list[FillOutcome]:
    """The bridge's whole matching step for one quote: find the crossing limit orders and
    fill each in its own transaction (one user's failure never blocks another's), each in a
    trace of its own linked to the placing operation's (`trading.tracing`). The caller
    publishes each outcome's events."""
    async with sessions() as session:
        candidates = await session.exec(
            select(Order.id, Order.user_id, Order.side, Order.trace_context)
            .join(Instrument, col(Instrument.id) == col(Order.instrument_id))
            .where(col(Order.id).in_(await open_limit_orders_crossing(session, symbol, bid, ask)))
            .order_by(col(Order.created_at), col(Order.id))
        )
        rows = list(candidates.all())
    outcomes = []
    for order_id, user_id, side, placed in rows:
        assert order_id is not None
        price = match_price(OrderSide(side), bid, ask)
        facts: Attributes = {
            "trado.order.id": order_id,
            "trado.symbol": symbol,
            "trado.price": str(price),
        }
        with span_caused_by("fill order", placed, attributes=facts):
            outcome = await transact_once(
                sessions,
                user_id,
                partial(fill_order, order_id=order_id, price=price),
                lambda outcome: outcome.events,
            )
        outcomes.append(outcome)
    return outcomes


def crosses(side: OrderSide, limit: Decimal, price: Decimal) -> bool:
    return price <= limit if side == OrderSide.BUY else price >= limit


async def lock_order(session: AsyncSession, order_id: int) -> Order | None:
    query = (
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).first()


async def position_of(session: AsyncSession, user_id: int, instrument_id: int) -> Position | None:
    query = select(Position).where(
        Position.user_id == user_id, Position.instrument_id == instrument_id
    )
    return (await session.exec(query.execution_options(populate_existing=True))).first()


async def _reject(
    session: AsyncSession, order: Order, user: User, symbol: str, reason: NoFillReason
) -> FillOutcome:
    """A resting order that can no longer be honoured: REJECTED, its reservation returned."""
    user.cash += order.reserved_cash
    order.reserved_cash = Decimal(0)
    order.status = OrderStatus.REJECTED
    order.reject_reason = reason.value
    order.updated_at = utcnow()
    session.add_all([user, order])
    await session.flush()
    record = OrderRecord.model_validate(order)
    log.warning("order %s rejected at fill time: %s", order.id, reason)
    return FillOutcome(
        record, symbol, reason, events=record_events(session, user, [OrderEvent(record, symbol)])
    )
