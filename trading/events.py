"""Per-user events: order changes and new notifications, numbered per user and published
after their commit (`trading.event_log` stores them, `streaming.user_events` publishes).

Channel: `streaming.channels.user_channel(user_id)`, through `PubSub.publish(channel, bytes)`.
Message (JSON object, UTF-8), `sequence` being the event's place in its user's events (each
one the previous plus one, in commit order), one of:

    {"sequence": 12, "type": "order", "order": {"id": 7, "userId": 3, "instrumentId": 1,
        "symbol": "AAPL", "side": "BUY", "type": "LIMIT", "status": "FILLED", "quantity": "10",
        "limitPrice": "190.5", "filledQuantity": "10", "averageFillPrice": "190.41",
        "reservedCash": "0", "clientOrderId": "abc", "rejectReason": null,
        "createdAt": "2026-11-25T09:00:00+00:00", "updatedAt": "..."}}
    {"sequence": 13, "type": "notification", "notification": {"id": 4, "userId": 3,
        "kind": "ORDER_FILLED", "message": "Bought 10 AAPL at 190.41", "orderId": 7,
        "alertId": null, "createdAt": "...", "readAt": null}}

Decimals travel as strings (exact), timestamps as ISO 8601 with offset. `decode_event` turns
a message back into a `Recorded` `OrderEvent` / `NotificationEvent` (whose records equal the
published ones).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from models.tables import NotificationKind, OrderSide, OrderStatus, OrderType
from trading.records import NotificationRecord, OrderRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    order: OrderRecord
    symbol: str


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    notification: NotificationRecord


Event = OrderEvent | NotificationEvent


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event with its place in its user's sequence of events (what a stream resumes from)."""

    sequence: int
    event: Event

    @property
    def user_id(self) -> int:
        return event_user_id(self.event)


class BadEvent(ValueError):
    pass


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def encode_event(recorded: Recorded) -> bytes:
    event, sequence = recorded.event, recorded.sequence
    if isinstance(event, OrderEvent):
        o = event.order
        body: dict[str, Any] = {
            "id": o.id,
            "userId": o.user_id,
            "instrumentId": o.instrument_id,
            "symbol": event.symbol,
            "side": o.side.value,
            "type": o.type.value,
            "status": o.status.value,
            "quantity": _dec(o.quantity),
            "limitPrice": _dec(o.limit_price),
            "filledQuantity": _dec(o.filled_quantity),
            "averageFillPrice": _dec(o.average_fill_price),
            "reservedCash": _dec(o.reserved_cash),
            "clientOrderId": o.client_order_id,
            "rejectReason": o.reject_reason,
            "createdAt": o.created_at.isoformat(),
            "updatedAt": o.updated_at.isoformat(),
        }
        return orjson.dumps({"sequence": sequence, "type": "order", "order": body})
    n = event.notification
    body = {
        "id": n.id,
        "userId": n.user_id,
        "kind": n.kind.value,
        "message": n.message,
        "orderId": n.order_id,
        "alertId": n.alert_id,
        "createdAt": n.created_at.isoformat(),
        "readAt": n.read_at.isoformat() if n.read_at else None,
    }
    return orjson.dumps({"sequence": sequence, "type": "notification", "notification": body})


def decode_event(raw: bytes | str) -> Recorded:
    try:
        data = orjson.loads(raw)
        sequence = data["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise BadEvent(f"bad sequence {sequence!r}")
        return Recorded(sequence, _decode_body(data))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as error:
        raise BadEvent(f"not a user event: {error!r}") from None


def _decode_body(data: dict[str, Any]) -> Event:
    kind = data["type"]
    if kind == "order":
        o = data["order"]
        record = OrderRecord(
            id=o["id"],
            user_id=o["userId"],
            instrument_id=o["instrumentId"],
            side=OrderSide(o["side"]),
            type=OrderType(o["type"]),
            status=OrderStatus(o["status"]),
            quantity=Decimal(o["quantity"]),
            limit_price=_opt_dec(o["limitPrice"]),
            filled_quantity=Decimal(o["filledQuantity"]),
            average_fill_price=_opt_dec(o["averageFillPrice"]),
            reserved_cash=Decimal(o["reservedCash"]),
            client_order_id=o["clientOrderId"],
            reject_reason=o["rejectReason"],
            created_at=datetime.fromisoformat(o["createdAt"]),
            updated_at=datetime.fromisoformat(o["updatedAt"]),
        )
        return OrderEvent(record, o["symbol"])
    if kind == "notification":
        n = data["notification"]
        return NotificationEvent(
            NotificationRecord(
                id=n["id"],
                user_id=n["userId"],
                kind=NotificationKind(n["kind"]),
                message=n["message"],
                order_id=n["orderId"],
                alert_id=n["alertId"],
                created_at=datetime.fromisoformat(n["createdAt"]),
                read_at=datetime.fromisoformat(n["readAt"]) if n["readAt"] else None,
            )
        )
    raise BadEvent(f"unknown event type {kind!r}")


def _opt_dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def event_user_id(event: Event) -> int:
    return event.order.user_id if isinstance(event, OrderEvent) else event.notification.user_id
