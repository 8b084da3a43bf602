"""Real JavaScript clients against the running server, each running a query, a mutation and a
subscription with the caller's token: Apollo Client 4 (HttpLink, and GraphQLWsLink over
graphql-ws with the token in `connection_init`), Apollo Client 4 over HTTP alone
(PersistedQueryLink with hashed queries over GET, subscriptions as multipart), urql (its
subscriptionExchange over graphql-ws) and graphql-sse in both modes (distinct connections: POST
/graphql with `Accept: text/event-stream`; single connection: PUT to reserve a stream, GET to
open it, a POST per operation), the token in the Authorization header. Apollo over HTTP and
graphql-sse also subscribe to live quotes (the shared fan-out over multipart and SSE). The
script is tests/node/js_clients.mjs."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import Account, Quotes
from tests.api.test_python_gql_client import ME_QUERY, ORDER_UPDATES
from tests.api.test_trading import PLACE
from tests.utils.node import node_json
from tests.utils.server import RunningServer

ORDER = {"symbol": "ADBE", "side": "BUY", "type": "MARKET", "quantity": "2"}


LIVE = 'subscription { quotes(symbols: ["ADBE"]) { symbol bid } }'
HASH_ONLY = {"method": "GET", "document": False, "hash": True}
HASH_AND_DOCUMENT = {"method": "POST", "document": True, "hash": True}


@pytest.mark.parametrize(
    "client", ["apollo", "apollo-http", "graphql-sse", "graphql-sse-single", "urql"]
)
async def test_a_js_client_runs_a_query_a_mutation_and_a_subscription(
    client: str, api_server: RunningServer, account: Account, quotes: Quotes
) -> None:
    await quotes.set("ADBE", bid="500.00", ask="500.05")
    operations = {
        "query": {"query": ME_QUERY},
        "mutation": {"query": PLACE, "variables": {"input": ORDER}},
        "subscription": {"query": ORDER_UPDATES},
        "live": {"query": LIVE},
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
    if "live" in results:  # quotes over multipart or SSE (both modes), on the shared fan-out
        quote = results["live"]["quotes"]
        assert (quote["symbol"], quote["bid"]) == ("ADBE", "500.00")
    if client == "apollo-http":  # the query's hash alone over GET, PERSISTED_QUERY_NOT_FOUND,
        # then hash and document over POST; then its hash alone again, now known
        assert results["requests"][:3] == [HASH_ONLY, HASH_AND_DOCUMENT, HASH_ONLY]
