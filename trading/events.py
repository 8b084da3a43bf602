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

The bodies are the read models (`trading.records`) with camelCase names, declared once and
encoded and decoded by one pydantic `TypeAdapter`; decimals travel as strings (exact),
timestamps as ISO 8601 in UTC. A traced event also carries `"trace"`, the W3C traceparent
of the span that recorded it, for the span of the frame that delivers it. `decode_event` turns
a message back into a `Recorded` `OrderEvent` / `NotificationEvent` (whose records equal the
published ones).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from models.tables import TRACE_CONTEXT_LENGTH
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
    trace: str | None = None  # the W3C traceparent of the span that recorded it, if traced

    @property
    def user_id(self) -> int:
        return event_user_id(self.event)


class BadEvent(ValueError):
    pass


# The message bodies: the read models (frozen, from attributes: their config is inherited) with
# camelCase names (decimals as strings, exact).
class _OrderBody(OrderRecord):
    model_config = {"alias_generator": to_camel, "populate_by_name": True}
    symbol: str


class _NotificationBody(NotificationRecord):
    model_config = {"alias_generator": to_camel, "populate_by_name": True}


class _OrderMessage(BaseModel):
    sequence: StrictInt
    type: Literal["order"]
    order: _OrderBody
    trace: str | None = Field(None, max_length=TRACE_CONTEXT_LENGTH)


class _NotificationMessage(BaseModel):
    sequence: StrictInt
    type: Literal["notification"]
    notification: _NotificationBody
    trace: str | None = Field(None, max_length=TRACE_CONTEXT_LENGTH)


_MESSAGE: TypeAdapter[_OrderMessage | _NotificationMessage] = TypeAdapter(
    Annotated[_OrderMessage | _NotificationMessage, Field(discriminator="type")]
)


def encode_event(recorded: Recorded) -> bytes:
    event, sequence = recorded.event, recorded.sequence
    message: _OrderMessage | _NotificationMessage
    if isinstance(event, OrderEvent):
        body = _OrderBody(**event.order.model_dump(), symbol=event.symbol)
        message = _OrderMessage(sequence=sequence, type="order", order=body, trace=recorded.trace)
    else:
        note = _NotificationBody(**event.notification.model_dump())
        message = _NotificationMessage(
            sequence=sequence, type="notification", notification=note, trace=recorded.trace
        )
    untraced = {"trace"} if recorded.trace is None else None  # the message as before tracing
    return _MESSAGE.dump_json(message, by_alias=True, exclude=untraced)


def decode_event(raw: bytes | str) -> Recorded:
    try:
        message = _MESSAGE.validate_json(raw)
    except ValidationError as error:
        raise BadEvent(f"not a user event: {error}") from None
    if isinstance(message, _OrderMessage):
        order = OrderRecord(**message.order.model_dump(exclude={"symbol"}))
        return Recorded(message.sequence, OrderEvent(order, message.order.symbol), message.trace)
    note = NotificationRecord(**message.notification.model_dump())
    return Recorded(message.sequence, NotificationEvent(note), message.trace)


def event_user_id(event: Event) -> int:
    return event.order.user_id if isinstance(event, OrderEvent) else event.notification.user_id
