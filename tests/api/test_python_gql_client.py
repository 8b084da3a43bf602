"""Python `gql` 4, a real third-party client, against the running server: a query and a
mutation over HTTP (aiohttp) and a subscription over graphql-transport-ws (websockets), with the
caller's token in the Authorization header and in `connection_init`."""

from __future__ import annotations

import asyncio
from typing import Any

from gql import Client, GraphQLRequest, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.websockets import WebsocketsTransport

from tests.api.conftest import Account, Quotes
from tests.api.test_trading import PLACE
from tests.utils.server import RunningServer

ME_QUERY = '{ me { email eventSequence } instrument(symbol: "ADBE") { symbol lotSize } }'
ME = gql(ME_QUERY)
ORDER_UPDATES = """subscription ($after: BigInt!) {
  orderUpdates(afterEvent: $after) { id status instrument { symbol } }
}"""


def http_client(server: RunningServer, token: str) -> Client:
    headers = {"Authorization": f"Bearer {token}"}
    return Client(transport=AIOHTTPTransport(url=f"{server.http}/graphql", headers=headers))


def ws_client(server: RunningServer, token: str) -> Client:
    init = {"authorization": f"Bearer {token}"}
    return Client(transport=WebsocketsTransport(url=server.ws, init_payload=init))


async def test_gql_runs_a_query_a_mutation_and_a_subscription(
    api_server: RunningServer, account: Account, quotes: Quotes
) -> None:
    await quotes.set("ADBE", bid="500.00", ask="500.05")
    async with http_client(api_server, account.token) as http:
        mine = await http.execute(ME)
        assert mine["me"]["email"] == account.email
        assert mine["instrument"] == {"symbol": "ADBE", "lotSize": "1"}
        after = {"after": mine["me"]["eventSequence"]}  # nothing can fall before the stream
        async with ws_client(api_server, account.token) as ws:
            updates: list[dict[str, Any]] = []

            async def listen() -> None:
                request = GraphQLRequest(ORDER_UPDATES, variable_values=after)
                async for update in ws.subscribe(request):
                    updates.append(update["orderUpdates"])
                    return

            listening = asyncio.create_task(listen())
            order = {"symbol": "ADBE", "side": "BUY", "type": "MARKET", "quantity": "2"}
            placed = await http.execute(GraphQLRequest(PLACE, variable_values={"input": order}))
            await asyncio.wait_for(listening, timeout=10)
    assert placed["placeOrder"]["status"] == "FILLED"
    assert updates == [
        {"id": placed["placeOrder"]["id"], "status": "FILLED", "instrument": {"symbol": "ADBE"}}
    ]
