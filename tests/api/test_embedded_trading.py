"""The money paths on SQLite (embedded mode): the same functions, serialised per user, and
the bridge's alert and matching stages in one process."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from decimal import Decimal

from delivery.user_events import stream_user_events
from models.tables import AlertCondition, NotificationKind, OrderSide, OrderStatus, OrderType
from resolvers.auth import Session, register
from resolvers.orders import cancel_order, place_order
from resolvers.portfolio import portfolio
from streaming.channels import quote_key
from streaming.runtime import Runtime, start_bridge
from streaming.tick import Tick
from tests.utils.live import eventually
from trading.alerts import create_alert
from trading.events import Event, NotificationEvent, OrderEvent
from trading.fills import fill_crossing_orders
from trading.orders import OrderRequest
from trading.records import OrderRecord


def tick(symbol: str, bid: str, ask: str, sequence: int) -> Tick:
    now = datetime.now(UTC)
    return Tick(symbol, Decimal(bid), Decimal(bid), Decimal(ask), Decimal(1), sequence, now, now)


async def test_limit_orders_rest_match_and_cancel_on_sqlite(runtime: Runtime) -> None:
    account = await register(runtime.sessions, runtime.settings, "e@example.com", "pass-word-42")
    assert isinstance(account, Session)
    user = account.user
    await runtime.cache.set(quote_key("AAPL"), tick("AAPL", "250.00", "250.02", 1).to_json())

    def limit(price: str) -> OrderRequest:
        return OrderRequest("AAPL", OrderSide.BUY, OrderType.LIMIT, Decimal(100), Decimal(price))

    results = await asyncio.gather(
        *(
            place_order(runtime.sessions, runtime.cache, runtime.pubsub, user, limit("240"))
            for _ in range(8)
        )
    )
    placed = [r for r in results if isinstance(r, OrderRecord)]
    assert len(placed) == 4  # 4 x 24,000 reserved of 100,000
    value = await portfolio(runtime.sessions, runtime.cache, user.id)
    assert (value.cash, value.reserved_cash) == (Decimal(4000), Decimal(96000))

    cancelled = await cancel_order(runtime.sessions, runtime.pubsub, user, placed[0].id)
    assert isinstance(cancelled, OrderRecord)
    assert cancelled.status == OrderStatus.CANCELLED
    outcomes = await fill_crossing_orders(
        runtime.sessions, "AAPL", Decimal("239.90"), Decimal("239.95")
    )
    assert [o.filled for o in outcomes] == [True, True, True]
    value = await portfolio(runtime.sessions, runtime.cache, user.id)
    assert value.reserved_cash == 0
    assert value.cash == Decimal(100000) - 3 * Decimal("23995")
    assert [(p.symbol, p.quantity) for p in value.positions] == [("AAPL", Decimal(300))]


async def test_bridge_fires_alerts_and_fills_limit_orders_on_sqlite(runtime: Runtime) -> None:
    """Embedded mode: the in-process log and bridge, the memory pub/sub and SQLite run the
    same alert and matching stages; the user's stream sees both events, each once."""
    account = await register(runtime.sessions, runtime.settings, "f@example.com", "pass-word-42")
    assert isinstance(account, Session)
    user = account.user
    alert = await create_alert(
        runtime.sessions, user.id, "AAPL", AlertCondition.BELOW, Decimal(245)
    )
    request = OrderRequest("AAPL", OrderSide.BUY, OrderType.LIMIT, Decimal(2), Decimal("244.50"))
    order = await place_order(runtime.sessions, runtime.cache, runtime.pubsub, user, request)
    assert isinstance(order, OrderRecord)
    assert order.status == OrderStatus.OPEN
    bridge = start_bridge(runtime)
    events: list[Event] = []

    async def read() -> None:
        async for item in stream_user_events(runtime.hub, runtime.sessions, user.id):
            events.append(item.event)

    reader = asyncio.create_task(read())
    try:
        await eventually(lambda: runtime.hub.channel_count > 0)
        producer = runtime.tick_log.producer()
        await producer.start()
        quotes = [("250", "250.02"), ("244.8", "244.9"), ("244.4", "244.45"), ("244", "244.01")]
        records = [(b"AAPL", tick("AAPL", b, a, n).to_json()) for n, (b, a) in enumerate(quotes, 1)]
        assert await producer.send_batch(records) == [None] * 4
        await producer.stop()
        await eventually(lambda: bridge.stats.ticks == 4 and len(events) >= 3)
        await asyncio.sleep(0.3)  # room for a duplicate to show up
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    notes = [e.notification for e in events if isinstance(e, NotificationEvent)]
    orders = [e.order for e in events if isinstance(e, OrderEvent)]
    assert [(n.kind, n.alert_id, n.order_id) for n in notes] == [
        (NotificationKind.PRICE_ALERT, alert.id, None),
        (NotificationKind.ORDER_FILLED, None, order.id),
    ]
    assert notes[0].message == "AAPL traded at 244.80, below your alert at 245"
    assert [(o.id, o.status, o.average_fill_price) for o in orders] == [
        (order.id, OrderStatus.FILLED, Decimal("244.45"))
    ]
    value = await portfolio(runtime.sessions, runtime.cache, user.id)
    assert value.cash == Decimal(100000) - Decimal("488.9")
    assert [(p.symbol, p.quantity) for p in value.positions] == [("AAPL", Decimal(2))]
