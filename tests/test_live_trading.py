"""Price alerts and limit-order matching in the live pipeline, with the real services: ticks
produced to Kafka, a bridge worker, the API's `orderUpdates` / `notifications` subscriptions
over WebSocket, and PostgreSQL as the truth (each alert fires once, each order fills once)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import col, func, select

from models.tables import Fill, Notification, NotificationKind, OrderSide, OrderType
from resolvers.auth import CurrentUser
from resolvers.orders import place_order
from settings import Settings
from streaming.runtime import make_bridge, start_bridge
from streaming.stages.alerts import AlertStage
from tests.api.conftest import Account, new_account
from tests.api.test_trading import PORTFOLIO, place
from tests.test_live_resilience import Crash, CrashAfterWrites
from tests.utils.graphql_ws import GraphQLWS, graphql_ws
from tests.utils.live import (
    LiveMarket,
    eventually,
    live_market,
    make_tick,
    send,
    tick_producer,
    wait_subscribed,
)
from trading.orders import OrderRequest

ORDER_UPDATES = """subscription { orderUpdates { id status filledQuantity averageFillPrice
  reservedCash instrument { symbol } } }"""
NOTIFICATIONS = "subscription { notifications { kind message orderId alertId } }"
ALERT = """mutation ($symbol: String!, $condition: AlertCondition!, $threshold: Decimal!) {
  createPriceAlert(symbol: $symbol, condition: $condition, threshold: $threshold) {
    ... on PriceAlert { id active } } }"""
START = Decimal(100000)


class Live(LiveMarket):
    def socket(self, account: Account) -> contextlib.AbstractAsyncContextManager[GraphQLWS]:
        return graphql_ws(self.server.ws, {"authorization": f"Bearer {account.token}"})

    async def listen(self, ws: GraphQLWS, account: Account) -> None:
        """Subscribe both of the user's streams on `ws`, and wait until the hub listens."""
        await ws.subscribe("orders", ORDER_UPDATES)
        await ws.subscribe("notes", NOTIFICATIONS)
        await wait_subscribed(self.settings, f"user:{account.id}")

    async def rows(self, model: Any, **where: Any) -> int:
        async with self.worker.sessions() as session:
            query = select(func.count()).select_from(model)
            for name, value in where.items():
                query = query.where(col(getattr(model, name)) == value)
            return int((await session.exec(query)).one())


@pytest.fixture
async def live(full_settings: Settings) -> AsyncIterator[Live]:
    async with live_market(full_settings, "T", Live) as stack:
        yield stack


async def next_of(ws: GraphQLWS, seconds: float = 30) -> dict[str, Any]:
    """The next message of either stream, keyed by its field."""
    data: dict[str, Any] = (await ws.next_payload(seconds))["data"]
    return data


async def nothing_more(ws: GraphQLWS, seconds: float = 1) -> None:
    with pytest.raises(TimeoutError):
        await ws.receive(seconds)


async def test_alert_fires_exactly_once(live: Live) -> None:
    """Two crossing ticks, then the same batch again (as a re-delivery would), then two
    workers racing on a second alert: one notification row and one message per alert."""
    account = await new_account(live.api)
    created = await live.api.data(
        ALERT, {"symbol": live.symbol, "condition": "ABOVE", "threshold": "110"}, account.token
    )
    alert_id = int(created["createPriceAlert"]["id"])
    start_bridge(live.worker)
    ticks = [
        make_tick(live.symbol, 1, "100"),
        make_tick(live.symbol, 2, "110.5"),
        make_tick(live.symbol, 3, "112"),
    ]
    async with live.socket(account) as ws, tick_producer(live.settings) as producer:
        await live.listen(ws, account)
        await send(producer, *ticks)
        first = await next_of(ws)
        assert first == {
            "notifications": {
                "kind": "PRICE_ALERT",
                "orderId": None,
                "alertId": str(alert_id),
                "message": f"{live.symbol} traded at 110.50, above your alert at 110",
            }
        }
        again = AlertStage(live.worker.sessions, live.worker.pubsub)
        await again.apply(ticks)  # re-delivered
        await again.flush()

        second = await live.api.data(
            ALERT, {"symbol": live.symbol, "condition": "BELOW", "threshold": "90"}, account.token
        )
        racing = [make_tick(live.symbol, 4, "89"), make_tick(live.symbol, 5, "88")]
        one, two = (AlertStage(live.worker.sessions, live.worker.pubsub) for _ in range(2))
        await asyncio.gather(one.apply(racing), two.apply(racing))
        await asyncio.gather(one.flush(), two.flush())
        note = (await next_of(ws))["notifications"]
        assert note["alertId"] == second["createPriceAlert"]["id"]
        assert note["message"].startswith(f"{live.symbol} traded at 89, below")
        await nothing_more(ws)
    assert await live.rows(Notification, alert_id=alert_id) == 1
    assert await live.rows(Notification, alert_id=int(note["alertId"])) == 1


async def test_resting_limit_order_fills_when_the_price_crosses(live: Live) -> None:
    account = await new_account(live.api)
    start_bridge(live.worker)
    async with live.socket(account) as ws, tick_producer(live.settings) as producer:
        await live.listen(ws, account)
        order = await place(
            live.api,
            account.token,
            symbol=live.symbol,
            type="LIMIT",
            quantity="10",
            limitPrice="100",
        )
        assert order["status"] == "OPEN"
        assert (await next_of(ws))["orderUpdates"]["status"] == "OPEN"
        # ask 101.01, then 99.51 (<= 100): fills at the ask of the first crossing tick
        await send(
            producer,
            make_tick(live.symbol, 1, "101"),
            make_tick(live.symbol, 2, "99.5"),
            make_tick(live.symbol, 3, "99"),
        )
        got = [await next_of(ws), await next_of(ws)]
        await nothing_more(ws)
    assert {
        "orderUpdates": {
            "id": order["id"],
            "status": "FILLED",
            "filledQuantity": "10",
            "averageFillPrice": "99.51",
            "reservedCash": "0",
            "instrument": {"symbol": live.symbol},
        }
    } in got
    assert {
        "notifications": {
            "kind": "ORDER_FILLED",
            "message": f"Bought 10 {live.symbol} at 99.51",
            "orderId": order["id"],
            "alertId": None,
        }
    } in got
    folio = (await live.api.data(PORTFOLIO, token=account.token))["portfolio"]
    assert Decimal(folio["cash"]) == START - Decimal("995.1")
    assert Decimal(folio["reservedCash"]) == 0
    [position] = folio["positions"]
    assert (position["quantity"], position["averagePrice"]) == ("10", "99.51")


async def test_bridge_crash_and_restart_does_not_fill_twice(live: Live) -> None:
    """The worker dies right after the matching stage committed a fill, before the offsets
    are committed; the restarted worker gets the crossing tick again and fills nothing."""
    account = await new_account(live.api)
    order = await place(
        live.api,
        account.token,
        symbol=live.symbol,
        type="LIMIT",
        side="BUY",
        quantity="5",
        limitPrice="100",
    )
    order_id = int(order["id"])
    first = make_bridge(live.worker)
    crash = CrashAfterWrites(sequence=2, phase="flush")  # fills run on flush
    first.stages = [*first.stages, crash]
    async with tick_producer(live.settings) as producer:
        run = asyncio.create_task(first.run())
        await send(producer, make_tick(live.symbol, 1, "101"), make_tick(live.symbol, 2, "99"))
        async with asyncio.timeout(60):  # the first worker joins its group, then crashes
            with contextlib.suppress(Crash):
                await run
        assert crash.crashed
        assert await live.rows(Fill, order_id=order_id) == 1  # committed before the crash

        second = make_bridge(live.worker)  # a restarted process: nothing in memory
        rerun = asyncio.create_task(second.run())
        try:
            await send(producer, make_tick(live.symbol, 3, "98"))
            # at least tick 2 (uncommitted at the crash) again, then tick 3
            await eventually(lambda: second.stats.ticks >= 2, seconds=60)
        finally:
            rerun.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rerun
    assert await live.rows(Fill, order_id=order_id) == 1
    kind = NotificationKind.ORDER_FILLED
    assert await live.rows(Notification, order_id=order_id, kind=kind) == 1
    folio = (await live.api.data(PORTFOLIO, token=account.token))["portfolio"]
    assert Decimal(folio["cash"]) == START - Decimal("495.05")  # 5 x 99.01 (tick 2's ask), once


async def test_users_only_get_their_own_events(live: Live) -> None:
    alice, bob = await new_account(live.api, "alice"), await new_account(live.api, "bob")
    start_bridge(live.worker)
    async with (
        live.socket(alice) as alice_ws,
        live.socket(bob) as bob_ws,
        tick_producer(live.settings) as producer,
    ):
        await live.listen(alice_ws, alice)
        await live.listen(bob_ws, bob)
        mine = await place(
            live.api, alice.token, symbol=live.symbol, type="LIMIT", quantity="1", limitPrice="100"
        )
        theirs = await place(
            live.api, bob.token, symbol=live.symbol, type="LIMIT", quantity="1", limitPrice="50"
        )
        await send(producer, make_tick(live.symbol, 1, "99"))
        alice_got = [await next_of(alice_ws) for _ in range(3)]
        bob_got = [await next_of(bob_ws)]
        await nothing_more(alice_ws)
        await nothing_more(bob_ws)
    assert {m.get("orderUpdates", {}).get("id") for m in alice_got} == {mine["id"], None}
    assert [m["notifications"]["orderId"] for m in alice_got if "notifications" in m] == [
        mine["id"]
    ]
    assert bob_got == [
        {
            "orderUpdates": {
                "id": theirs["id"],
                "status": "OPEN",
                "filledQuantity": "0",
                "averageFillPrice": None,
                "reservedCash": "50",
                "instrument": {"symbol": live.symbol},
            }
        }
    ]


class DiesOnPublish:
    """The pub/sub of a process that dies right after its commit, before publishing."""

    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    # stands in for PubSub.publish: dies whatever is published
    async def publish(self, channel: str, message: bytes) -> None:  # noqa: ARG002
        raise Crash

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pubsub, name)


async def place_then_die(live: Live, account: Account, limit: str) -> None:
    """A resting BUY placed by a process that dies between its commit and its publish."""
    user = CurrentUser(int(account.id), account.email, is_admin=False)
    request = OrderRequest(live.symbol, OrderSide.BUY, OrderType.LIMIT, Decimal(1), Decimal(limit))
    worker = live.worker
    with contextlib.suppress(Crash):
        await place_order(
            worker.sessions, worker.cache, DiesOnPublish(worker.pubsub), user, request
        )


ORDER_EVENTS = (
    "subscription ($after: BigInt) { orderUpdates(afterEvent: $after) { id eventSequence } }"
)


async def test_an_event_lost_to_a_crash_is_delivered_once_in_order(live: Live) -> None:
    """A crash between an order's commit and its publish: a live subscriber that sees the
    next event first gets the lost one from the outbox before it, in order; with nothing
    after it, the relay publishes it within seconds; either way each event arrives once."""
    account = await new_account(live.api)
    start_bridge(live.worker)  # and beside it the relay
    async with live.socket(account) as ws:
        await ws.subscribe("o", ORDER_EVENTS)
        await wait_subscribed(live.settings, f"user:{account.id}")
        await place_then_die(live, account, "90")  # event 1 committed, never published
        await place(
            live.api, account.token, symbol=live.symbol, type="LIMIT", quantity="1", limitPrice="91"
        )
        first = [(await next_of(ws))["orderUpdates"]["eventSequence"] for _ in range(2)]
        await place_then_die(live, account, "92")  # event 3: only the relay can send it
        third = (await next_of(ws, seconds=60))["orderUpdates"]["eventSequence"]
        await nothing_more(ws, seconds=3)  # the relay does not send event 1 again
    assert first == [1, 2], "the lost event came first, from the outbox"
    assert third == 3, "the relay published what nothing else would have"


async def test_order_updates_resume_after_a_reconnect(live: Live) -> None:
    """A client that saw event 1 reconnects with `afterEvent: 1` and gets events 2-4, which
    happened while it was away, in order, then live ones."""
    account = await new_account(live.api)
    order = {"symbol": live.symbol, "type": "LIMIT", "quantity": "1", "limitPrice": "50"}
    async with live.socket(account) as ws:
        await ws.subscribe("o", ORDER_EVENTS)
        await wait_subscribed(live.settings, f"user:{account.id}")
        placed = await place(live.api, account.token, **order)
        seen = (await next_of(ws))["orderUpdates"]
    assert (seen["id"], seen["eventSequence"]) == (placed["id"], 1)
    missed = [await place(live.api, account.token, **order) for _ in range(3)]
    async with live.socket(account) as ws:
        await ws.subscribe("o", ORDER_EVENTS, {"after": 1})
        replayed = [(await next_of(ws))["orderUpdates"] for _ in range(3)]
        await wait_subscribed(live.settings, f"user:{account.id}")
        await place(live.api, account.token, **order)
        latest = (await next_of(ws))["orderUpdates"]
        await nothing_more(ws)
    assert [(r["id"], r["eventSequence"]) for r in replayed] == [
        (m["id"], n) for n, m in enumerate(missed, 2)
    ]
    assert latest["eventSequence"] == 5
