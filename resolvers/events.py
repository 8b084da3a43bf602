"""Per-user events: order changes and new notifications, published after their commit.

Channel: `streaming.channels.user_channel(user_id)`, through `PubSub.publish(channel, bytes)`.
Message (JSON object, UTF-8), one of:

    {"type": "order", "order": {"id": 7, "userId": 3, "instrumentId": 1, "symbol": "AAPL",
        "side": "BUY", "type": "LIMIT", "status": "FILLED", "quantity": "10",
        "limitPrice": "190.5", "filledQuantity": "10", "averageFillPrice": "190.41",
        "reservedCash": "0", "clientOrderId": "abc", "rejectReason": null,
        "createdAt": "2026-11-25T09:00:00+00:00", "updatedAt": "..."}}
    {"type": "notification", "notification": {"id": 4, "userId": 3, "kind": "ORDER_FILLED",
        "message": "Bought 10 AAPL at 190.41", "orderId": 7, "alertId": null,
        "createdAt": "...", "readAt": null}}

Decimals travel as strings (exact), timestamps as ISO 8601 with offset. `decode_event` turns
a message back into `OrderEvent` / `NotificationEvent` (whose records equal the published ones).
Publishing is best effort: the database is the truth, a lost event only delays a screen.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from models.tables import NotificationKind, OrderSide, OrderStatus, OrderType
from resolvers.records import NotificationRecord, OrderRecord
from streaming.channels import user_channel
from streaming.hub import Hub
from streaming.pubsub import PubSub

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    order: OrderRecord
    symbol: str


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    notification: NotificationRecord


Event = OrderEvent | NotificationEvent


class BadEvent(ValueError):
    pass


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def encode_event(event: Event) -> bytes:
    if isinstance(event, OrderEvent):
        o = event.order
        body: dict[str, Any] = {
            "id": o.id, "userId": o.user_id, "instrumentId": o.instrument_id,
            "symbol": event.symbol, "side": o.side.value, "type": o.type.value,
            "status": o.status.value, "quantity": _dec(o.quantity),
            "limitPrice": _dec(o.limit_price), "filledQuantity": _dec(o.filled_quantity),
            "averageFillPrice": _dec(o.average_fill_price), "reservedCash": _dec(o.reserved_cash),
            "clientOrderId": o.client_order_id, "rejectReason": o.reject_reason,
            "createdAt": o.created_at.isoformat(), "updatedAt": o.updated_at.isoformat(),
        }  # fmt: skip
        return orjson.dumps({"type": "order", "order": body})
    n = event.notification
    body = {
        "id": n.id, "userId": n.user_id, "kind": n.kind.value, "message": n.message,
        "orderId": n.order_id, "alertId": n.alert_id, "createdAt": n.created_at.isoformat(),
        "readAt": n.read_at.isoformat() if n.read_at else None,
    }  # fmt: skip
    return orjson.dumps({"type": "notification", "notification": body})


def decode_event(raw: bytes | str) -> Event:
    try:
        data = orjson.loads(raw)
        kind = data["type"]
        if kind == "order":
            o = data["order"]
            record = OrderRecord(
                id=o["id"], user_id=o["userId"], instrument_id=o["instrumentId"],
                side=OrderSide(o["side"]), type=OrderType(o["type"]),
                status=OrderStatus(o["status"]), quantity=Decimal(o["quantity"]),
                limit_price=_opt_dec(o["limitPrice"]), filled_quantity=Decimal(o["filledQuantity"]),
                average_fill_price=_opt_dec(o["averageFillPrice"]),
                reserved_cash=Decimal(o["reservedCash"]), client_order_id=o["clientOrderId"],
                reject_reason=o["rejectReason"], created_at=datetime.fromisoformat(o["createdAt"]),
                updated_at=datetime.fromisoformat(o["updatedAt"]),
            )  # fmt: skip
            return OrderEvent(record, o["symbol"])
        if kind == "notification":
            n = data["notification"]
            return NotificationEvent(
                NotificationRecord(
                    id=n["id"], user_id=n["userId"], kind=NotificationKind(n["kind"]),
                    message=n["message"], order_id=n["orderId"], alert_id=n["alertId"],
                    created_at=datetime.fromisoformat(n["createdAt"]),
                    read_at=datetime.fromisoformat(n["readAt"]) if n["readAt"] else None,
                )
            )  # fmt: skip
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as error:
        raise BadEvent(f"not a user event: {error!r}") from None
    raise BadEvent(f"unknown event type {kind!r}")


def _opt_dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def event_user_id(event: Event) -> int:
    return event.order.user_id if isinstance(event, OrderEvent) else event.notification.user_id


async def publish_events(pubsub: PubSub, events: Iterable[Event]) -> None:
    """Call only after the transaction that wrote these rows has committed."""
    for event in events:
        try:
            await pubsub.publish(user_channel(event_user_id(event)), encode_event(event))
        except Exception as error:  # the rows are committed; a lost event is not a lost order
            log.warning("could not publish %s event: %r", type(event).__name__, error)


async def stream_user_events(hub: Hub, user_id: int) -> AsyncIterator[Event]:
    """The user's events as they are published, from this process's hub. Not conflated: each
    order update and notification matters (the mailbox stays bounded, dropping the oldest).
    A message that is not an event is logged and skipped, never the end of the stream."""
    async with hub.subscribe([user_channel(user_id)], conflate=False) as mailbox:
        async for _channel, raw in mailbox:
            try:
                event = decode_event(raw)
            except BadEvent as error:
                log.warning("skipping a message on the user channel: %s", error)
                continue
            if event_user_id(event) == user_id:
                yield event
