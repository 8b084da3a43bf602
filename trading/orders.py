"""Placing, cancelling and listing paper orders, all-or-nothing, with exact money.

Cash model: `User.cash` is the cash free to spend. A resting BUY limit order moves
quantity x limit price out of it into `Order.reserved_cash`; a fill spends from the
reservation and returns the rest; a cancel returns all of it. A SELL may not exceed the
position minus what the user's other open SELL orders already offer. These checks run with
the user's row locked (see `trading/locking.py`), so concurrent orders of one user can never
overspend cash or oversell a position. A MARKET order (or a LIMIT order the quote already
crosses) fills at once through `trading.fills.fill_order`, THE fill.

Each function returns its result with the events it recorded (`WithEvents`); the caller
publishes them after the commit (`streaming.user_events.publish_recorded`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import SessionFactory
from models.tables import Instrument, Order, OrderSide, OrderStatus, OrderType
from models.types import plain, utcnow
from trading.depth import Depth, depth_weighted_price
from trading.echo import echo
from trading.event_log import record_events
from trading.events import OrderEvent, Recorded
from trading.failover import transact_once
from trading.fills import (
    FillOutcome,
    NoFillReason,
    crosses,
    fill_order,
    lock_order,
    match_price,
    position_of,
)
from trading.instruments import InstrumentRecord
from trading.locking import lock_user
from trading.money import MAX_PRICE, MAX_QUANTITY, exact, fits_scale, is_multiple
from trading.records import OrderRecord
from trading.tracing import current_traceparent

MAX_CLIENT_ORDER_ID = 64
T = TypeVar("T")


class RejectReason(StrEnum):
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    INSUFFICIENT_POSITION = "INSUFFICIENT_POSITION"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_PRICE = "INVALID_PRICE"
    NO_MARKET_PRICE = "NO_MARKET_PRICE"
    MARKET_CLOSED = "MARKET_CLOSED"
    INVALID_CLIENT_ORDER_ID = "INVALID_CLIENT_ORDER_ID"


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


class Quote(Protocol):
    """The touch an order executes against (a tick has it)."""

    @property
    def bid(self) -> Decimal: ...

    @property
    def ask(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class WithEvents(Generic[T]):
    """A result and the events recorded in its transaction, to publish after the commit."""

    result: T
    events: list[Recorded]


async def place_order(
    sessions: SessionFactory,
    user_id: int,
    request: OrderRequest,
    instrument: InstrumentRecord | None,
    quote: Quote | None,
    *,
    tradable: bool = True,
    depth: Depth | None = None,
) -> WithEvents[OrderRecord | Rejection]:
    """Validate, then in one transaction: reserve, record, and for a MARKET order (or a LIMIT
    order `quote` already crosses) fill at once. `instrument` is the one `request.symbol`
    names (None: unknown). A MARKET order walks `depth` (the book around `quote`) when given
    and fills at its depth-weighted price (`trading.depth`); a LIMIT order fills on the
    quote. The same `client_order_id` from the same user returns the first order.
    Rejections write nothing.

    Out of session (`tradable` false: the market is not in regular hours, or the instrument
    is halted) the one rule is: a MARKET order is refused (MARKET_CLOSED), a LIMIT order is
    accepted and rests, whatever the quote, until a tick crosses it in session."""
    if request.client_order_id is not None:
        answered = await _repeat_or_bad_client_id(sessions, user_id, request.client_order_id)
        if answered is not None:
            return WithEvents(answered, [])
    if instrument is None:
        message = f"No instrument {echo(request.symbol.strip())!r}."
        return WithEvents(Rejection(RejectReason.UNKNOWN_SYMBOL, message), [])
    rejection = _validate(request, instrument) or _needs_quote(request, instrument, quote)
    if not rejection and not tradable and request.type == OrderType.MARKET:
        message = f"{instrument.symbol} is not trading now; MARKET orders need an open market."
        rejection = Rejection(RejectReason.MARKET_CLOSED, message)
    if rejection:
        return WithEvents(rejection, [])
    fill_price = _fill_price(request, quote) if tradable else None
    if fill_price is not None and depth is not None and request.type == OrderType.MARKET:
        levels = depth.asks if request.side == OrderSide.BUY else depth.bids
        if levels:
            fill_price = depth_weighted_price(levels, request.quantity, instrument.tick_size)
    try:
        result = await transact_once(
            sessions,
            user_id,
            lambda session: _place_locked(session, user_id, request, instrument, fill_price),
            _placement_events,
        )
    except IntegrityError:  # the unique (user, client_order_id) backstop: return the winner
        assert request.client_order_id is not None
        earlier = await _placed_before(sessions, user_id, request.client_order_id)
        assert earlier is not None
        return WithEvents(earlier, [])
    if isinstance(result, Rejection | OrderRecord):
        return WithEvents(result, [])
    assert result.order is not None
    return WithEvents(result.order, result.events)


def _placement_events(result: Rejection | OrderRecord | FillOutcome) -> list[Recorded]:
    return result.events if isinstance(result, FillOutcome) else []


async def _repeat_or_bad_client_id(
    sessions: SessionFactory, user_id: int, client_order_id: str
) -> Rejection | OrderRecord | None:
    """The answer before any other check: a malformed `client_order_id` is rejected, a
    repeated one returns the order it first placed."""
    problem = _client_order_id_problem(client_order_id)
    if problem:
        return Rejection(RejectReason.INVALID_CLIENT_ORDER_ID, problem)
    return await _placed_before(sessions, user_id, client_order_id)


async def _placed_before(
    sessions: SessionFactory, user_id: int, client_order_id: str
) -> OrderRecord | None:
    async with sessions() as session:
        earlier = await _by_client_id(session, user_id, client_order_id)
    return OrderRecord.model_validate(earlier) if earlier is not None else None


def _fill_price(request: OrderRequest, quote: Quote | None) -> Decimal | None:
    """Where the order fills at once: the quote's side, if it crosses a LIMIT order's price."""
    if quote is None:
        return None
    price = match_price(request.side, quote.bid, quote.ask)
    if request.limit_price is not None and not crosses(request.side, request.limit_price, price):
        return None
    return price


def _needs_quote(
    request: OrderRequest, instrument: InstrumentRecord, quote: Quote | None
) -> Rejection | None:
    if request.type == OrderType.MARKET and _fill_price(request, quote) is None:
        message = f"{instrument.symbol} has no quote yet; try again."
        return Rejection(RejectReason.NO_MARKET_PRICE, message)
    return None


async def _place_locked(
    session: AsyncSession,
    user_id: int,
    request: OrderRequest,
    instrument: InstrumentRecord,
    fill_price: Decimal | None,
) -> Rejection | OrderRecord | FillOutcome:
    account = await lock_user(session, user_id)
    assert account is not None
    if request.client_order_id is not None:
        earlier = await _by_client_id(session, user_id, request.client_order_id)
        if earlier is not None:
            return OrderRecord.model_validate(earlier)
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
        free = await _sellable(session, user_id, instrument.id)
        if request.quantity > free:
            return Rejection(
                RejectReason.INSUFFICIENT_POSITION,
                f"Can sell at most {plain(free)} {instrument.symbol}; "
                f"asked {plain(request.quantity)}.",
            )
    now = utcnow()
    order = Order(
        user_id=user_id,
        instrument_id=instrument.id,
        side=request.side,
        type=request.type,
        status=OrderStatus.OPEN,
        quantity=request.quantity,
        limit_price=request.limit_price,
        reserved_cash=reserve,
        client_order_id=request.client_order_id,
        created_at=now,
        updated_at=now,
        trace_context=current_traceparent(),
    )
    session.add(order)
    await session.flush()
    assert order.id is not None
    if fill_price is None:
        record = OrderRecord.model_validate(order)
        events = record_events(session, account, [OrderEvent(record, instrument.symbol)])
        return FillOutcome(record, instrument.symbol, NoFillReason.PRICE_NOT_CROSSED, events=events)
    outcome = await fill_order(session, order.id, fill_price)
    if not outcome.filled:  # cannot happen after the checks above; never leave half a trade
        raise RuntimeError(f"order {order.id} did not fill at placement: {outcome.reason}")
    return outcome


def _validate(request: OrderRequest, instrument: InstrumentRecord) -> Rejection | None:
    return _quantity_problem(request.quantity, instrument) or _price_problem(request, instrument)


def _quantity_problem(q: Decimal, instrument: InstrumentRecord) -> Rejection | None:
    step = ("lot size", instrument.lot_size)
    return _step_problem(q, "Quantity", RejectReason.INVALID_QUANTITY, MAX_QUANTITY, step)


def _step_problem(
    value: Decimal, what: str, reason: RejectReason, maximum: Decimal, step: tuple[str, Decimal]
) -> Rejection | None:
    """`value` must be above 0, at most `maximum`, of at most 8 decimals and a whole number of
    `step` (the instrument's lot or tick size)."""
    if not value.is_finite() or value <= 0 or value > maximum or not fits_scale(value):
        return Rejection(reason, f"{what} must be above 0 and at most {maximum}.")
    step_name, size = step
    if not is_multiple(value, size):
        return Rejection(reason, f"{what} must be a multiple of the {step_name} {plain(size)}.")
    return None


def _price_problem(request: OrderRequest, instrument: InstrumentRecord) -> Rejection | None:
    """A MARKET order takes no limit price; a LIMIT order needs a valid one."""
    price = request.limit_price
    if request.type == OrderType.MARKET:
        if price is not None:
            return Rejection(RejectReason.INVALID_PRICE, "A MARKET order takes no limit price.")
        return None
    if price is None:
        return Rejection(RejectReason.INVALID_PRICE, "A LIMIT order needs a limit price.")
    return _limit_price_problem(price, request.quantity, instrument)


def _limit_price_problem(
    price: Decimal, q: Decimal, instrument: InstrumentRecord
) -> Rejection | None:
    step = ("tick size", instrument.tick_size)
    problem = _step_problem(price, "Limit price", RejectReason.INVALID_PRICE, MAX_PRICE, step)
    if problem is None and not fits_scale(q * price):
        return Rejection(
            RejectReason.INVALID_QUANTITY, "Quantity x price is finer than 8 decimals."
        )
    return problem


def _client_order_id_problem(value: str) -> str | None:
    if not 1 <= len(value) <= MAX_CLIENT_ORDER_ID:
        return f"clientOrderId must be 1 to {MAX_CLIENT_ORDER_ID} characters."
    if not value.isprintable() or value.strip() != value:
        return "clientOrderId must be printable, without leading or trailing spaces."
    return None


async def _sellable(session: AsyncSession, user_id: int, instrument_id: int) -> Decimal:
    """The position less what the user's open SELL orders of it already offer."""
    position = await position_of(session, user_id, instrument_id)
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


async def cancel_order(
    sessions: SessionFactory, user_id: int, order_id: int
) -> WithEvents[OrderRecord | CancelRefused]:
    """Cancel one of the user's OPEN orders and return its reserved cash."""
    return await transact_once(
        sessions,
        user_id,
        lambda session: _cancel_locked(session, user_id, order_id),
        lambda cancelled: cancelled.events,
    )


async def _cancel_locked(
    session: AsyncSession, user_id: int, order_id: int
) -> WithEvents[OrderRecord | CancelRefused]:
    not_found = CancelRefused(CancelFailure.ORDER_NOT_FOUND, f"You have no order {order_id}.")
    account = await lock_user(session, user_id)
    order = await lock_order(session, order_id)
    if account is None or order is None or order.user_id != user_id:
        return WithEvents(not_found, [])
    if order.status != OrderStatus.OPEN:
        message = f"Order {order_id} is {order.status}, not OPEN."
        return WithEvents(CancelRefused(CancelFailure.ORDER_NOT_OPEN, message), [])
    account.cash += order.reserved_cash
    order.reserved_cash = Decimal(0)
    order.status = OrderStatus.CANCELLED
    order.updated_at = utcnow()
    session.add_all([account, order])
    await session.flush()
    record = OrderRecord.model_validate(order)
    instrument = await session.get(Instrument, order.instrument_id)
    assert instrument is not None
    events = record_events(session, account, [OrderEvent(record, instrument.symbol)])
    return WithEvents(record, events)


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
    return [OrderRecord.model_validate(r) for r in rows]


async def _by_client_id(session: AsyncSession, user_id: int, client_order_id: str) -> Order | None:
    query = select(Order).where(Order.user_id == user_id, Order.client_order_id == client_order_id)
    return (await session.exec(query)).first()
