"""Real JavaScript clients against the running server, each running a query, a mutation and a
subscription with the caller's token: Apollo Client 4 (HttpLink, and GraphQLWsLink over
graphql-ws with the token in `connection_init`), urql (its subscriptionExchange over graphql-ws)
and graphql-sse (distinct connections: POST /graphql with `Accept: text/event-stream`, the token
in the Authorization header). The script is tests/node/js_clients.mjs."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import Account, Quotes
from tests.api.test_python_gql_client import ME_QUERY, ORDER_UPDATES
from tests.api.test_trading import PLACE
from tests.utils.node import node_json
from tests.utils.server import RunningServer

ORDER = {"symbol": "ADBE", "side": "BUY", "type": "MARKET", "quantity": "2"}


@pytest.mark.parametrize("client", ["apollo", "graphql-sse", "urql"])
async def test_a_js_client_runs_a_query_a_mutation_and_a_subscription(
    client: str, api_server: RunningServer, account: Account, quotes: Quotes
) -> None:
    await quotes.set("ADBE", bid="500.00", ask="500.05")
    operations = {
        "query": {"query": ME_QUERY},
        "mutation": {"query": PLACE, "variables": {"input": ORDER}},
        "subscription": {"query": ORDER_UPDATES},
    }
    env = {
        "TRADO_HTTP": api_server.http,
        "TRADO_WS": api_server.ws,
        "TRADO_TOKEN": account.token,
        "TRADO_OPERATIONS": json.dumps(operations),
    }
    results = await node_json("js_clients.mjs", client, package="ws", env=env)
    assert results["query"]["me"]["email"] == account.email
    assert results["query"]["instrument"]["symbol"] == "ADBE"
    assert results["query"]["instrument"]["lotSize"] == "1"
    placed = results["mutation"]["placeOrder"]
    assert placed["status"] == "FILLED"
    update = results["subscription"]["orderUpdates"]
    assert (update["id"], update["status"], update["instrument"]["symbol"]) == (
        placed["id"],
        "FILLED",
        "ADBE",
    )
