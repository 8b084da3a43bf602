"""Plain values of orders, fills and notifications, as the API and the event stream see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from models.tables import Notification, NotificationKind, Order, OrderSide, OrderStatus, OrderType


@dataclass(frozen=True, slots=True)
class OrderRecord:
    id: int
    user_id: int
    instrument_id: int
    side: OrderSide
    type: OrderType
    status: OrderStatus
    quantity: Decimal
    limit_price: Decimal | None
    filled_quantity: Decimal
    average_fill_price: Decimal | None
    reserved_cash: Decimal
    client_order_id: str | None
    reject_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Order) -> OrderRecord:
        assert row.id is not None
        return cls(
            id=row.id,
            user_id=row.user_id,
            instrument_id=row.instrument_id,
            side=OrderSide(row.side),
            type=OrderType(row.type),
            status=OrderStatus(row.status),
            quantity=row.quantity,
            limit_price=row.limit_price,
            filled_quantity=row.filled_quantity,
            average_fill_price=row.average_fill_price,
            reserved_cash=row.reserved_cash,
            client_order_id=row.client_order_id,
            reject_reason=row.reject_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: int
    user_id: int
    kind: NotificationKind
    message: str
    order_id: int | None
    alert_id: int | None
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, row: Notification) -> NotificationRecord:
        assert row.id is not None
        return cls(
            id=row.id,
            user_id=row.user_id,
            kind=NotificationKind(row.kind),
            message=row.message,
            order_id=row.order_id,
            alert_id=row.alert_id,
            created_at=row.created_at,
            read_at=row.read_at,
        )
