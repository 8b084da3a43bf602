"""Paper trading: placing, filling and cancelling orders, all-or-nothing, with exact money.

Cash model: `User.cash` is the cash free to spend. A resting BUY limit order moves
quantity x limit price out of it into `Order.reserved_cash`; a fill spends from the
reservation and returns the rest; a cancel returns all of it. A SELL may not exceed the
position minus what the user's other open SELL orders already offer. These checks run with
the user's row locked (see `resolvers/locking.py`), so concurrent orders of one user can never
overspend cash or oversell a position.

`fill_order` is THE fill: a MARKET order calls it at placement; the streaming bridge calls it
for resting LIMIT orders whose price a tick crosses (`open_limit_orders_crossing`, or the whole
loop in `match_crossing_orders`). Orders fill completely or not at all (no partial fills).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import case
from sqlalchemy.exc import IntegrityError
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
from resolvers.auth import CurrentUser
from resolvers.event_outbox import publish_recorded, record_events
from resolvers.events import NotificationEvent, OrderEvent, Recorded
from resolvers.instruments import InstrumentRecord, instrument_by_symbol
from resolvers.locking import lock_user, money_transaction
from resolvers.money import (
    MAX_PRICE,
    MAX_QUANTITY,
    average,
    exact,
    exact_aggregate,
    fits_scale,
    is_multiple,
)
from resolvers.quotes import latest_quotes
from resolvers.records import NotificationRecord, OrderRecord
from streaming.cache import Cache
from streaming.pubsub import PubSub
from streaming.tick import Tick

log = logging.getLogger(__name__)
MAX_CLIENT_ORDER_ID = 64


class RejectReason(StrEnum):
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    INSUFFICIENT_POSITION = "INSUFFICIENT_POSITION"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_PRICE = "INVALID_PRICE"
    NO_MARKET_PRICE = "NO_MARKET_PRICE"
    INVALID_CLIENT_ORDER_ID = "INVALID_CLIENT_ORDER_ID"


class NoFillReason(StrEnum):
    """Why `fill_order` left an order alone."""

    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    NOT_OPEN = "NOT_OPEN"
    PRICE_NOT_CROSSED = "PRICE_NOT_CROSSED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"  # the order is then REJECTED
    INSUFFICIENT_POSITION = "INSUFFICIENT_POSITION"  # the order is then REJECTED


class CancelFailure(StrEnum):
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    message: str


@dataclass(frozen=True, slots=True)
class CancelRefused:
    reason: CancelFailure
    message: str


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


# --------------------------------------------------------------------------- the fill


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
    order = await _lock_order(session, order_id)
    assert user is not None
    assert order is not None
    assert order.id is not None
    instrument = await session.get(Instrument, order.instrument_id)
    assert instrument is not None
    symbol = instrument.symbol
    if order.status != OrderStatus.OPEN:
        return FillOutcome(OrderRecord.of(order), symbol, NoFillReason.NOT_OPEN)
    if order.limit_price is not None and not _crosses(order.side, order.limit_price, price):
        return FillOutcome(OrderRecord.of(order), symbol, NoFillReason.PRICE_NOT_CROSSED)

    quantity = order.quantity - order.filled_quantity
    amount = exact(quantity * price)
    now = utcnow()
    position = await _position(session, order.user_id, order.instrument_id)
    if order.side == OrderSide.BUY:
        available = user.cash + order.reserved_cash
        if amount > available:
            return await _reject(session, order, user, symbol, NoFillReason.INSUFFICIENT_FUNDS)
        user.cash = available - amount
        if position is None:
            position = Position(
                user_id=order.user_id, instrument_id=order.instrument_id,
                quantity=quantity, average_price=price, updated_at=now,
            )  # fmt: skip
        else:
            held = position.quantity * position.average_price
            position.average_price = average(held + amount, position.quantity + quantity)
            position.quantity += quantity
            position.updated_at = now
        session.add(position)
    else:
        if position is None or position.quantity < quantity:
            return await _reject(session, order, user, symbol, NoFillReason.INSUFFICIENT_POSITION)
        user.cash += amount
        position.quantity -= quantity
        position.updated_at = now
        if position.quantity == 0:
            await session.delete(position)
        else:
            session.add(position)
    order.reserved_cash = Decimal(0)
    order.filled_quantity = order.quantity
    order.average_fill_price = price
    order.status = OrderStatus.FILLED
    order.updated_at = now
    session.add_all([user, order])
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
        user_id=order.user_id, kind=NotificationKind.ORDER_FILLED, order_id=order.id,
        message=f"{verb} {plain(quantity)} {symbol} at {plain(price)}", created_at=now,
    )  # fmt: skip
    session.add(note)
    await session.flush()
    record = OrderRecord.of(order)
    notification = NotificationRecord.of(note)
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
    return _crosses(side, limit, match_price(side, bid, ask))


async def match_crossing_orders(
    sessions: SessionFactory, pubsub: PubSub, tick: Tick
) -> list[FillOutcome]:
    """The bridge's whole matching step for one tick: find the crossing limit orders and fill
    each in its own transaction (one user's failure never blocks another's), then publish."""
    async with sessions() as session:
        candidates = await session.exec(
            select(Order.id, Order.user_id, Order.side)
            .join(Instrument, col(Instrument.id) == col(Order.instrument_id))
            .where(
                col(Order.id).in_(
                    await open_limit_orders_crossing(session, tick.symbol, tick.bid, tick.ask)
                )
            )
            .order_by(col(Order.created_at), col(Order.id))
        )
        rows = list(candidates.all())
    outcomes = []
    for order_id, user_id, side in rows:
        assert order_id is not None
        async with money_transaction(sessions, user_id) as session:
            price = match_price(OrderSide(side), tick.bid, tick.ask)
            outcome = await fill_order(session, order_id, price)
        await publish_recorded(sessions, pubsub, outcome.events)
        outcomes.append(outcome)
    return outcomes


# --------------------------------------------------------------------------- placing


async def place_order(
    sessions: SessionFactory, cache: Cache, pubsub: PubSub, user: CurrentUser, request: OrderRequest
) -> OrderRecord | Rejection:
    """Validate, then in one transaction: reserve, record, and for a MARKET order (or a LIMIT
    order the current quote already crosses) fill at once. The same `client_order_id` from
    the same user returns the first order. Rejections write nothing."""
    if request.client_order_id is not None:
        problem = _client_order_id_problem(request.client_order_id)
        if problem:
            return Rejection(RejectReason.INVALID_CLIENT_ORDER_ID, problem)
        async with sessions() as session:
            earlier = await _by_client_id(session, user.id, request.client_order_id)
        if earlier is not None:
            return OrderRecord.of(earlier)
    instrument = await instrument_by_symbol(sessions, cache, request.symbol)
    if instrument is None:
        return Rejection(RejectReason.UNKNOWN_SYMBOL, f"No instrument {request.symbol.strip()!r}.")
    rejection = _validate(request, instrument)
    if rejection:
        return rejection
    quotes = await latest_quotes(cache, [instrument.symbol])
    quote = quotes[0] if quotes else None
    fill_price: Decimal | None = None
    if quote is not None:
        fill_price = match_price(request.side, quote.bid, quote.ask)
        if request.limit_price is not None and not _crosses(
            request.side, request.limit_price, fill_price
        ):
            fill_price = None
    if request.type == OrderType.MARKET and fill_price is None:
        return Rejection(
            RejectReason.NO_MARKET_PRICE, f"{instrument.symbol} has no quote yet; try again."
        )
    try:
        async with money_transaction(sessions, user.id) as session:
            result = await _place_locked(session, user, request, instrument, fill_price)
    except IntegrityError:  # the unique (user, client_order_id) backstop: return the winner
        assert request.client_order_id is not None
        async with sessions() as session:
            earlier = await _by_client_id(session, user.id, request.client_order_id)
        assert earlier is not None
        return OrderRecord.of(earlier)
    if isinstance(result, Rejection | OrderRecord):
        return result
    await publish_recorded(sessions, pubsub, result.events)
    assert result.order is not None
    return result.order


async def _place_locked(
    session: AsyncSession,
    user: CurrentUser,
    request: OrderRequest,
    instrument: InstrumentRecord,
    fill_price: Decimal | None,
) -> Rejection | OrderRecord | FillOutcome:
    account = await lock_user(session, user.id)
    assert account is not None
    if request.client_order_id is not None:
        earlier = await _by_client_id(session, user.id, request.client_order_id)
        if earlier is not None:
            return OrderRecord.of(earlier)
    reserve = Decimal(0)
    if request.side == OrderSide.BUY:
        price = request.limit_price if request.limit_price is not None else fill_price
        assert price is not None
        reserve = exact(request.quantity * price)
        if reserve > account.cash:
            return Rejection(
                RejectReason.INSUFFICIENT_FUNDS,
                f"Needs {plain(reserve)} {instrument.currency}; "
                f"{plain(account.cash)} is available.",
            )
        account.cash -= reserve
        session.add(account)
    else:
        free = await _sellable(session, user.id, instrument.id)
        if request.quantity > free:
            return Rejection(
                RejectReason.INSUFFICIENT_POSITION,
                f"Can sell at most {plain(free)} {instrument.symbol}; "
                f"asked {plain(request.quantity)}.",
            )
    now = utcnow()
    order = Order(
        user_id=user.id, instrument_id=instrument.id, side=request.side, type=request.type,
        status=OrderStatus.OPEN, quantity=request.quantity, limit_price=request.limit_price,
        reserved_cash=reserve, client_order_id=request.client_order_id,
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(order)
    await session.flush()
    assert order.id is not None
    if fill_price is None:
        record = OrderRecord.of(order)
        events = record_events(session, account, [OrderEvent(record, instrument.symbol)])
        return FillOutcome(record, instrument.symbol, NoFillReason.PRICE_NOT_CROSSED, events=events)
    outcome = await fill_order(session, order.id, fill_price)
    if not outcome.filled:  # cannot happen after the checks above; never leave half a trade
        raise RuntimeError(f"order {order.id} did not fill at placement: {outcome.reason}")
    return outcome


def _validate(request: OrderRequest, instrument: InstrumentRecord) -> Rejection | None:
    q = request.quantity
    if not q.is_finite() or q <= 0 or q > MAX_QUANTITY or not fits_scale(q):
        return Rejection(
            RejectReason.INVALID_QUANTITY, f"Quantity must be above 0 and at most {MAX_QUANTITY}."
        )
    if not is_multiple(q, instrument.lot_size):
        return Rejection(
            RejectReason.INVALID_QUANTITY,
            f"Quantity must be a multiple of the lot size {plain(instrument.lot_size)}.",
        )
    price = request.limit_price
    if request.type == OrderType.MARKET:
        if price is not None:
            return Rejection(RejectReason.INVALID_PRICE, "A MARKET order takes no limit price.")
        return None
    if price is None:
        return Rejection(RejectReason.INVALID_PRICE, "A LIMIT order needs a limit price.")
    if not price.is_finite() or price <= 0 or price > MAX_PRICE or not fits_scale(price):
        return Rejection(
            RejectReason.INVALID_PRICE, f"Limit price must be above 0 and at most {MAX_PRICE}."
        )
    if not is_multiple(price, instrument.tick_size):
        return Rejection(
            RejectReason.INVALID_PRICE,
            f"Limit price must be a multiple of the tick size {plain(instrument.tick_size)}.",
        )
    if not fits_scale(q * price):
        return Rejection(
            RejectReason.INVALID_QUANTITY, "Quantity x price is finer than 8 decimals."
        )
    return None


def _client_order_id_problem(value: str) -> str | None:
    if not 1 <= len(value) <= MAX_CLIENT_ORDER_ID:
        return f"clientOrderId must be 1 to {MAX_CLIENT_ORDER_ID} characters."
    if not value.isprintable() or value.strip() != value:
        return "clientOrderId must be printable, without leading or trailing spaces."
    return None


def _crosses(side: OrderSide, limit: Decimal, price: Decimal) -> bool:
    return price <= limit if side == OrderSide.BUY else price >= limit


async def _sellable(session: AsyncSession, user_id: int, instrument_id: int) -> Decimal:
    """The position less what the user's open SELL orders of it already offer."""
    position = await _position(session, user_id, instrument_id)
    held = position.quantity if position else Decimal(0)
    offered = (
        await session.exec(
            select(func.coalesce(func.sum(Order.quantity - Order.filled_quantity), 0)).where(
                Order.user_id == user_id,
                Order.instrument_id == instrument_id,
                Order.side == OrderSide.SELL,
                Order.status == OrderStatus.OPEN,
            )
        )
    ).one()
    return held - Decimal(offered)


# --------------------------------------------------------------------------- cancelling


async def cancel_order(
    sessions: SessionFactory, pubsub: PubSub, user: CurrentUser, order_id: int
) -> OrderRecord | CancelRefused:
    """Cancel one of the caller's OPEN orders and return its reserved cash."""
    not_found = CancelRefused(CancelFailure.ORDER_NOT_FOUND, f"You have no order {order_id}.")
    async with money_transaction(sessions, user.id) as session:
        account = await lock_user(session, user.id)
        order = await _lock_order(session, order_id)
        if account is None or order is None or order.user_id != user.id:
            return not_found
        if order.status != OrderStatus.OPEN:
            return CancelRefused(
                CancelFailure.ORDER_NOT_OPEN, f"Order {order_id} is {order.status}, not OPEN."
            )
        account.cash += order.reserved_cash
        order.reserved_cash = Decimal(0)
        order.status = OrderStatus.CANCELLED
        order.updated_at = utcnow()
        session.add_all([account, order])
        await session.flush()
        record = OrderRecord.of(order)
        instrument = await session.get(Instrument, order.instrument_id)
        assert instrument is not None
        events = record_events(session, account, [OrderEvent(record, instrument.symbol)])
    await publish_recorded(sessions, pubsub, events)
    return record


# --------------------------------------------------------------------------- reading


async def list_orders(
    session: AsyncSession,
    user_id: int,
    status: OrderStatus | None,
    size: int,
    before_id: int | None,
) -> Sequence[OrderRecord]:
    """The user's orders, newest first; size + 1 rows so the caller can tell a next page."""
    query = select(Order).where(Order.user_id == user_id)
    if status is not None:
        query = query.where(Order.status == status)
    if before_id is not None:
        query = query.where(col(Order.id) < before_id)
    rows = await session.exec(query.order_by(col(Order.id).desc()).limit(size + 1))
    return [OrderRecord.of(r) for r in rows]


async def _by_client_id(session: AsyncSession, user_id: int, client_order_id: str) -> Order | None:
    query = select(Order).where(Order.user_id == user_id, Order.client_order_id == client_order_id)
    return (await session.exec(query)).first()


async def _lock_order(session: AsyncSession, order_id: int) -> Order | None:
    query = (
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).first()


async def _position(session: AsyncSession, user_id: int, instrument_id: int) -> Position | None:
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
    record = OrderRecord.of(order)
    log.warning("order %s rejected at fill time: %s", order.id, reason)
    return FillOutcome(
        record, symbol, reason, events=record_events(session, user, [OrderEvent(record, symbol)])
    )
