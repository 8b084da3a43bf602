"""Order changes and new notifications reach the user's channel after commit, in the
documented JSON shape, and decode back to the same records."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from models.tables import NotificationKind, OrderSide, OrderStatus, OrderType
from resolvers.events import NotificationEvent, OrderEvent, decode_event, encode_event
from resolvers.records import NotificationRecord, OrderRecord
from settings import Settings
from streaming.channels import user_channel
from streaming.pubsub.redis import RedisPubSub
from tests.api.conftest import Account, Api, Quotes
from tests.api.test_trading import CANCEL, place


def test_events_round_trip() -> None:
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    order = OrderRecord(
        id=7, user_id=3, instrument_id=1, side=OrderSide.BUY, type=OrderType.LIMIT,
        status=OrderStatus.OPEN, quantity=Decimal(10), limit_price=Decimal("190.5"),
        filled_quantity=Decimal(0), average_fill_price=None, reserved_cash=Decimal(1905),
        client_order_id="abc", reject_reason=None, created_at=now, updated_at=now,
    )  # fmt: skip
    note = NotificationRecord(7, 3, NotificationKind.ORDER_FILLED, "Bought", 7, None, now, None)
    for event in (OrderEvent(order, "AAPL"), NotificationEvent(note)):
        assert decode_event(encode_event(event)) == event
    assert encode_event(OrderEvent(order, "AAPL")).startswith(b'{"type":"order","order":{"id":7')


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
        async with asyncio.timeout(10):
            while len(events) < 4:
                _channel, raw = await pubsub.next_message()
                events.append(decode_event(raw))
    finally:
        await pubsub.close()
    kinds = [
        (type(e).__name__, e.order.id if isinstance(e, OrderEvent) else e.notification.order_id)
        for e in events
    ]
    assert kinds == [
        ("OrderEvent", int(filled["id"])), ("NotificationEvent", int(filled["id"])),
        ("OrderEvent", int(resting["id"])), ("OrderEvent", int(resting["id"])),
    ]  # fmt: skip
    statuses = [e.order.status for e in events if isinstance(e, OrderEvent)]
    assert statuses == [OrderStatus.FILLED, OrderStatus.OPEN, OrderStatus.CANCELLED]
    assert all(e.order.user_id == int(account.id) for e in events if isinstance(e, OrderEvent))
