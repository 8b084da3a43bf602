"""Order changes and new notifications reach the user's channel after commit, in the
documented JSON shape, and decode back to the same records."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import orjson

from models.tables import NotificationKind, OrderSide, OrderStatus, OrderType
from settings import Settings
from streaming.channels import user_channel
from streaming.pubsub.redis import RedisPubSub
from tests.api.conftest import Account, Api, Quotes
from tests.api.test_trading import CANCEL, place
from trading.events import NotificationEvent, OrderEvent, Recorded, decode_event, encode_event
from trading.records import NotificationRecord, OrderRecord


def test_events_round_trip() -> None:
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    order = OrderRecord(
        id=7,
        user_id=3,
        instrument_id=1,
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        status=OrderStatus.OPEN,
        quantity=Decimal(10),
        limit_price=Decimal("190.5"),
        filled_quantity=Decimal(0),
        average_fill_price=None,
        reserved_cash=Decimal(1905),
        client_order_id="abc",
        reject_reason=None,
        created_at=now,
        updated_at=now,
    )
    note = NotificationRecord(
        id=7,
        user_id=3,
        kind=NotificationKind.ORDER_FILLED,
        message="Bought",
        order_id=7,
        alert_id=None,
        created_at=now,
        read_at=None,
    )
    events: list[OrderEvent | NotificationEvent] = [
        OrderEvent(order, "AAPL"),
        NotificationEvent(note),
    ]
    for sequence, event in enumerate(events, 1):
        recorded = Recorded(sequence, event)
        assert decode_event(encode_event(recorded)) == recorded
    encoded = orjson.loads(encode_event(Recorded(5, OrderEvent(order, "AAPL"))))
    assert (encoded["sequence"], encoded["type"]) == (5, "order")
    assert encoded["order"] | {"createdAt": None, "updatedAt": None} == {
        "id": 7,
        "userId": 3,
        "instrumentId": 1,
        "symbol": "AAPL",
        "side": "BUY",
        "type": "LIMIT",
        "status": "OPEN",
        "quantity": "10",
        "limitPrice": "190.5",
        "filledQuantity": "0",
        "averageFillPrice": None,
        "reservedCash": "1905",
        "clientOrderId": "abc",
        "rejectReason": None,
        "createdAt": None,
        "updatedAt": None,
    }


async def test_fills_and_cancels_are_published_on_the_users_channel(
    api: Api, account: Account, quotes: Quotes, full_settings: Settings
) -> None:
    assert full_settings.redis_url
    pubsub = RedisPubSub(full_settings.redis_url, prefix=full_settings.redis_key_prefix)
    await pubsub.connect()
    try:
        await pubsub.subscribe(user_channel(int(account.id)))
        await quotes.set("CRM", bid="240.00", ask="240.02")
        filled = await place(api, account.token, symbol="CRM", quantity="1")
        resting = await place(
            api, account.token, symbol="CRM", type="LIMIT", quantity="1", limitPrice="200"
        )
        await api.data(CANCEL, {"id": resting["id"]}, account.token)
        events: list[OrderEvent | NotificationEvent] = []
        sequences: list[int] = []
        async with asyncio.timeout(10):
            while len(events) < 4:
                _channel, raw = await pubsub.next_message()
                recorded = decode_event(raw)
                sequences.append(recorded.sequence)
                events.append(recorded.event)
    finally:
        await pubsub.close()
    kinds = [
        (type(e).__name__, e.order.id if isinstance(e, OrderEvent) else e.notification.order_id)
        for e in events
    ]
    assert kinds == [
        ("OrderEvent", int(filled["id"])),
        ("NotificationEvent", int(filled["id"])),
        ("OrderEvent", int(resting["id"])),
        ("OrderEvent", int(resting["id"])),
    ]
    assert sequences == [1, 2, 3, 4], "numbered per user, each the previous plus one"
    statuses = [e.order.status for e in events if isinstance(e, OrderEvent)]
    assert statuses == [OrderStatus.FILLED, OrderStatus.OPEN, OrderStatus.CANCELLED]
    assert all(e.order.user_id == int(account.id) for e in events if isinstance(e, OrderEvent))
