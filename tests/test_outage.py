"""Requests while PostgreSQL is down: GraphQL errors with code SERVICE_UNAVAILABLE (HTTP 200,
the usual JSON shape), nothing half-written, and everything back once it restarts -- without
restarting the API. Runs a private PostgreSQL cluster, so the shared one is never stopped."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from commands.migrate import load_instruments
from settings import Settings
from tests.api.conftest import Account, Api, new_account
from tests.test_readiness import FAST_CHECKS, is_ready, is_unavailable, wait_for_readiness
from tests.utils.graphql_ws import graphql_ws
from tests.utils.live import isolated, make_tick, wait_subscribed
from tests.utils.postgres_server import PrivatePostgres, private_postgres
from tests.utils.server import RunningServer, running_server

ME = "{ me { id email } }"
PORTFOLIO = "{ portfolio { cash equity } }"
PLACE = """mutation ($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    __typename
    ... on Order { id status clientOrderId }
    ... on OrderRejected { reason message }
  }
}"""
ORDER_UPDATES = "subscription { orderUpdates { id status } }"
RETRY_AFTER = 7


@pytest.fixture(scope="module")
async def postgres() -> AsyncIterator[PrivatePostgres]:
    async with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
async def outage_settings(full_settings: Settings, postgres: PrivatePostgres) -> Settings:
    settings = isolated(full_settings).model_copy(
        update={
            "database_url": postgres.url,
            "service_unavailable_retry_after_seconds": RETRY_AFTER,
            **FAST_CHECKS,
        }
    )
    await load_instruments(settings)
    return settings


@pytest.fixture(scope="module")
async def server(outage_settings: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(outage_settings) as running:
        yield running


@pytest.fixture(scope="module")
async def api(server: RunningServer) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=server.http, timeout=60) as client:
        yield Api(client)


def order(client_order_id: str) -> dict[str, Any]:
    return {
        "input": {
            "symbol": "AAPL",
            "side": "BUY",
            "type": "MARKET",
            "quantity": "1",
            "clientOrderId": client_order_id,
        }
    }


async def post(api: Api, query: str, token: str, variables: dict[str, Any] | None = None) -> Any:
    """The raw HTTP answer: status, content type and JSON body."""
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    response = await api.client.post(
        "/graphql", json=body, headers={"authorization": f"Bearer {token}"}
    )
    return response


def assert_unavailable(response: httpx.Response, field: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["data"] in (None, {field: None}), body  # `me` is nullable, the others not
    [error] = body["errors"]
    assert error["path"] == [field]
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "retryAfterSeconds": RETRY_AFTER}
    assert error["message"] == (
        f"The database cannot be reached right now. Try again in {RETRY_AFTER} seconds."
    )


async def orders_with(postgres: PrivatePostgres, client_order_id: str) -> int:
    connection = await postgres.connect()
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM orders WHERE client_order_id = $1", client_order_id
        )
        return count
    finally:
        await connection.close()


async def set_quote(settings: Settings) -> None:
    from streaming.cache.redis import RedisCache
    from streaming.channels import quote_key

    assert settings.redis_url
    cache = RedisCache(settings.redis_url, prefix=settings.redis_key_prefix)
    await cache.connect()
    try:
        await cache.set(quote_key("AAPL"), make_tick("AAPL", 1, "190").to_json())
    finally:
        await cache.close()


async def test_a_database_outage_answers_service_unavailable_then_recovers(
    postgres: PrivatePostgres,
    outage_settings: Settings,
    server: RunningServer,
    api: Api,
    caplog: pytest.LogCaptureFixture,
) -> None:
    account: Account = await new_account(api, "outage")
    await set_quote(outage_settings)
    assert (await api.data(ME, token=account.token))["me"]["email"] == account.email
    assert is_ready((await wait_for_readiness(server.http, is_ready))[0])

    await postgres.stop()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert_unavailable(await post(api, ME, account.token), "me")
        assert_unavailable(await post(api, PORTFOLIO, account.token), "portfolio")
        placed = await post(api, PLACE, account.token, order("during-outage"))
        assert_unavailable(placed, "placeOrder")
        print("placeOrder during the outage:", placed.status_code, placed.text)
    outage_logs = [r for r in caplog.records if "database unavailable during" in r.message]
    assert len(outage_logs) == 3, [r.message for r in caplog.records]  # one per request
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in outage_logs)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    down, _ = await wait_for_readiness(server.http, is_unavailable)
    assert down.json()["backends"]["database"].startswith("down: ")

    await postgres.start()
    await wait_for_readiness(server.http, is_ready)
    assert (await api.data(ME, token=account.token))["me"]["email"] == account.email
    assert "cash" in (await api.data(PORTFOLIO, token=account.token))["portfolio"]
    filled = (await api.data(PLACE, order("after-outage"), account.token))["placeOrder"]
    assert filled["__typename"] == "Order", filled
    assert filled["status"] == "FILLED", filled
    assert await orders_with(postgres, "during-outage") == 0, "nothing half-written"
    assert await orders_with(postgres, "after-outage") == 1


async def test_public_fields_still_answer_when_the_caller_cannot_be_looked_up(
    postgres: PrivatePostgres, outage_settings: Settings, api: Api
) -> None:
    """A signed-in request for cached quotes only: served, though the token cannot be checked."""
    account = await new_account(api, "public")
    await set_quote(outage_settings)
    await postgres.stop()
    try:
        response = await post(api, '{ quote(symbol: "AAPL") { price } }', account.token)
    finally:
        await postgres.start()
    assert response.status_code == 200
    assert response.json() == {"data": {"quote": {"price": "190"}}}


async def test_a_private_subscription_during_an_outage_gets_service_unavailable(
    postgres: PrivatePostgres, outage_settings: Settings, server: RunningServer, api: Api
) -> None:
    """Over WebSocket the connection is welcome (a refusal would say the token is bad), and
    the subscription that needs the caller answers SERVICE_UNAVAILABLE; on the same
    connection it works once the database is back."""
    account = await new_account(api, "socket")
    await set_quote(outage_settings)
    await postgres.stop()
    try:
        async with graphql_ws(server.ws, {"authorization": f"Bearer {account.token}"}) as client:
            await client.subscribe("1", ORDER_UPDATES)
            message = await client.receive()
            assert message["type"] == "next", message
            [error] = message["payload"]["errors"]
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", message
            print("over WebSocket:", message)
            assert await client.receive() == {"id": "1", "type": "complete"}

            await postgres.start()
            await wait_for_readiness(server.http, is_ready)
            await client.subscribe("2", ORDER_UPDATES)
            await wait_subscribed(outage_settings, f"user:{account.id}")  # before the order
            placed = (await api.data(PLACE, order("socket"), account.token))["placeOrder"]
            update = await client.next_payload()
            assert update["data"]["orderUpdates"]["id"] == placed["id"]
    finally:
        await postgres.start()
