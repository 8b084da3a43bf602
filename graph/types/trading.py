from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from graph.context import Info
from graph.query_cost import LOADER, cost
from graph.scalars import BigInt, event_sequence_field
from graph.types.enums import CancelFailure, OrderSide, OrderStatus, OrderType, RejectReason
from graph.types.instrument import Instrument, at_tick_precision, load_instrument
from graph.types.pagination import Connection
from graph.types.records import from_record
from trading.orders import CancelRefused, Rejection
from trading.portfolio import PortfolioValue, PositionValue
from trading.records import OrderRecord


@strawberry.type(description="A paper order.")
class Order:
    id: strawberry.ID
    side: OrderSide
    type: OrderType
    status: OrderStatus
    quantity: Decimal
    filled_quantity: Decimal
    reserved_cash: Decimal = strawberry.field(description="Cash held back while a BUY rests.")
    client_order_id: str | None
    reject_reason: str | None = strawberry.field(description="Set when a resting order failed.")
    created_at: datetime
    updated_at: datetime
    instrument_id: strawberry.Private[int]
    limit: strawberry.Private[Decimal | None]
    average_fill: strawberry.Private[Decimal | None]
    event_sequence: BigInt | None = event_sequence_field()

    @strawberry.field(metadata=cost(LOADER))
    async def instrument(self, info: Info) -> Instrument:
        return await load_instrument(info, self.instrument_id)

    @strawberry.field(metadata=cost(LOADER))
    async def limit_price(self, info: Info) -> Decimal | None:
        return await at_tick_precision(info, self.instrument_id, self.limit)

    @strawberry.field(metadata=cost(LOADER))
    async def average_fill_price(self, info: Info) -> Decimal | None:
        return await at_tick_precision(info, self.instrument_id, self.average_fill)

    @classmethod
    def of(cls, r: OrderRecord, event_sequence: int | None = None) -> Order:
        sequence = None if event_sequence is None else BigInt(event_sequence)
        return from_record(
            cls,
            r,
            event_sequence=sequence,
            limit=r.limit_price,
            average_fill=r.average_fill_price,
        )


OrderConnection = Connection[Order]


@strawberry.type(description="The order was not accepted; nothing was written.")
class OrderRejected:
    reason: RejectReason
    message: str

    @classmethod
    def of(cls, r: Rejection) -> OrderRejected:
        return cls(reason=r.reason, message=r.message)


PlaceOrderResult = Annotated[Order | OrderRejected, strawberry.union("PlaceOrderResult")]


@strawberry.type(description="The order could not be cancelled.")
class CancelRejected:
    reason: CancelFailure
    message: str

    @classmethod
    def of(cls, r: CancelRefused) -> CancelRejected:
        return cls(reason=r.reason, message=r.message)


CancelOrderResult = Annotated[Order | CancelRejected, strawberry.union("CancelOrderResult")]


@strawberry.input(description="A new order. Quantities and prices are exact decimals.")
class PlaceOrderInput:
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: Decimal = strawberry.field(description="A multiple of the instrument's lot size.")
    limit_price: Decimal | None = strawberry.field(
        default=None, description="LIMIT only: a multiple of the instrument's tick size."
    )
    client_order_id: str | None = strawberry.field(
        default=None,
        description="Your id for this order (1-64 characters): sending it again returns the "
        "first order instead of placing a second one. Rejected orders are not stored, so a "
        "retry after a rejection is judged anew.",
    )


@strawberry.type(description="A holding, valued at the latest trade price.")
class Position:
    quantity: Decimal
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    instrument_id: strawberry.Private[int]
    average: strawberry.Private[Decimal]
    last: strawberry.Private[Decimal | None]

    @strawberry.field(metadata=cost(LOADER))
    async def instrument(self, info: Info) -> Instrument:
        return await load_instrument(info, self.instrument_id)

    @strawberry.field(metadata=cost(LOADER))
    async def average_price(self, info: Info) -> Decimal:
        average = await at_tick_precision(info, self.instrument_id, self.average)
        assert average is not None
        return average

    @strawberry.field(description="Null until a first quote.", metadata=cost(LOADER))
    async def last_price(self, info: Info) -> Decimal | None:
        return await at_tick_precision(info, self.instrument_id, self.last)

    @classmethod
    def of(cls, p: PositionValue) -> Position:
        return cls(
            quantity=p.quantity,
            average=p.average_price,
            last=p.last_price,
            market_value=p.market_value,
            unrealized_pnl=p.unrealized_pnl,
            instrument_id=p.instrument_id,
        )


@strawberry.type(description="Cash and holdings of the signed-in user.")
class Portfolio:
    cash: Decimal = strawberry.field(description="Cash free to spend.")
    reserved_cash: Decimal = strawberry.field(description="Cash held by open BUY orders.")
    equity: Decimal = strawberry.field(
        description="Cash, reserved cash and positions at market (at cost before a quote)."
    )
    positions: list[Position]

    @classmethod
    def of(cls, p: PortfolioValue) -> Portfolio:
        return cls(
            cash=p.cash,
            reserved_cash=p.reserved_cash,
            equity=p.equity,
            positions=[Position.of(x) for x in p.positions],
        )
