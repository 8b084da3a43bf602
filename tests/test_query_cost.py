"""The cost limit and the input caps of issue 14: an operation costlier than MAX_QUERY_COST is
refused before it runs (QUERY_TOO_COSTLY) on HTTP, both WebSocket protocols, SSE and
multipart; a string argument longer than MAX_STRING_LENGTH is refused (BAD_USER_INPUT); a
WebSocket message larger than MAX_REQUEST_BYTES closes the socket with 1009; errors quote
client input cut short. Timings are in `bench/` (`python -m bench run attacks`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import websockets
from graphql import parse
from websockets.exceptions import ConnectionClosed

from delivery.strawberry_internals import core_schema
from graph.query_cost import QUERY_TOO_COSTLY, operation_cost
from graph.schema import make_schema
from settings import Settings
from tests.test_ws_operation_errors import CLIENTS, Client, error_for
from tests.utils.graphql_ws import graphql_ws
from tests.utils.server import RunningServer, running_server
from trading.echo import echo

GRAPHQL_RESPONSE = {"accept": "application/graphql-response+json"}
WATCHLISTS_ALIASES = (
    "{ "
    + " ".join(
        f"w{i}: watchlists {{ items {{ instrument {{ symbol }} quote {{ price }} }} }}"
        for i in range(30)
    )
    + " }"
)
BOARD_WATCHLISTS = (
    "query Watchlists { watchlists { id name items { instrument { symbol name } "
    "quote { symbol price bid ask volume timestamp sequence } } } }"
)
QUOTES = "subscription Q($s: [String!]!) { quotes(symbols: $s) { symbol price } }"
SYMBOLS = [f"S{i}" for i in range(60)]  # cost 2 + 60: over the tight limit below
TIGHT_COST = 50
SSE = {"accept": "text/event-stream"}
MULTIPART = {"accept": "multipart/mixed;subscriptionSpec=1.0, application/json"}


def cost_of(query: str, variables: dict[str, Any] | None = None) -> int:
    schema = make_schema(Settings())
    document = parse(query)
    return operation_cost(core_schema(schema), document.definitions, variables or {}, None)


def doubling(levels: int, leaf: str) -> str:
    """`levels` fragments each spreading the next twice: 2^levels copies of `leaf`."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return "\n".join(["query Q { ...F0 }", *fragments, f"fragment F{levels} on Query {{ {leaf} }}"])


def test_costs_follow_page_sizes_list_arguments_and_declared_maxima() -> None:
    assert cost_of("{ me { id } }") == 5 + 1
    # a page: `first` items of (edge + node); absent `first`: the default page of 20
    assert cost_of("{ instruments(first: 8) { edges { node { symbol } } } }") == 5 + 8 * 3
    assert cost_of("{ instruments { edges { node { symbol } } } }") == 5 + 20 * 3
    query = "query ($n: Int) { orders(first: $n) { edges { node { id } } } }"
    assert cost_of(query, {"n": 100}) == 5 + 100 * 3
    # a list argument's length, literal or variable
    assert cost_of('{ quotes(symbols: ["A", "B", "C"]) { price } }') == 2 + 3
    assert cost_of(QUOTES, {"s": SYMBOLS}) == 2 + 60
    # the resolver's own maximum: 50 watchlists of 200 items
    assert cost_of(BOARD_WATCHLISTS) == 5 + 50 * (1 + 1 + 200 * (1 + 2 + 2))


def test_the_default_limit_passes_the_board_and_refuses_the_alias_attack() -> None:
    limit = Settings().max_query_cost
    assert cost_of(BOARD_WATCHLISTS) <= limit
    assert cost_of(WATCHLISTS_ALIASES) > 10 * limit


def test_fragments_are_costed_once_each() -> None:
    """60 levels of doubling: 2^60 copies, costed in one pass over 61 fragments."""
    assert cost_of(doubling(60, "me { id }")) == 2**60 * 6
    assert cost_of(doubling(60, "__typename")) == 0


def test_echo_cuts_long_input_short() -> None:
    assert echo("AAPL") == "AAPL"
    assert echo("X" * 4_000_000) == "X" * 40 + "… (4000000 characters)"


@pytest.fixture
async def tight_server(embedded_settings: Settings) -> AsyncIterator[RunningServer]:
    """A low cost limit, so a 60-symbol subscription is over it."""
    settings = embedded_settings.model_copy(update={"max_query_cost": TIGHT_COST})
    async with running_server(settings) as server:
        yield server


async def post(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as client:
        return await client.post("/graphql", json=body, headers=GRAPHQL_RESPONSE)


async def test_http_refuses_the_alias_attack_before_it_runs(
    embedded_server: RunningServer,
) -> None:
    response = await post(embedded_server, {"query": WATCHLISTS_ALIASES})
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == QUERY_TOO_COSTLY
    cost, limit = error["extensions"]["cost"], error["extensions"]["maxCost"]
    assert cost > limit == Settings().max_query_cost
    assert f"cost {cost}, over the limit of {limit}" in error["message"]


async def test_http_refuses_fragment_doubling_by_cost(embedded_server: RunningServer) -> None:
    response = await post(embedded_server, {"query": doubling(30, "me { id }")})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == QUERY_TOO_COSTLY


@CLIENTS
async def test_websocket_refuses_a_costly_subscription(
    tight_server: RunningServer, client: Client
) -> None:
    async with client(tight_server.ws) as ws:
        start = "subscribe" if client is graphql_ws else "start"
        payload = {"query": QUOTES, "variables": {"s": SYMBOLS}}
        await ws.send({"id": "costly", "type": start, "payload": payload})
        [error] = await error_for(ws, "costly")
    assert error["extensions"]["code"] == QUERY_TOO_COSTLY


@pytest.mark.parametrize("accept", [SSE, MULTIPART], ids=["sse", "multipart"])
async def test_http_streams_refuse_a_costly_subscription(
    tight_server: RunningServer, accept: dict[str, str]
) -> None:
    body = {"query": QUOTES, "variables": {"s": SYMBOLS}}
    async with (
        httpx.AsyncClient(base_url=tight_server.http, timeout=10) as client,
        client.stream("POST", "/graphql", json=body, headers=accept) as response,
    ):
        text = (await response.aread()).decode()
    assert QUERY_TOO_COSTLY in text, (response.status_code, text)
    assert '"data":{' not in text.replace(" ", "")  # refused before any result


@pytest.mark.parametrize("where", ["literal", "variable"])
async def test_a_long_string_argument_is_refused(
    embedded_server: RunningServer, where: str
) -> None:
    long = "A" * 1001
    if where == "literal":
        body: dict[str, Any] = {"query": f'{{ instrument(symbol: "{long}") {{ symbol }} }}'}
    else:
        query = "query ($e: String!, $p: String!) { login(email: $e, password: $p) { __typename } }"
        body = {"query": query.replace("query", "mutation", 1), "variables": {"e": long, "p": "x"}}
    response = await post(embedded_server, body)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == (
        "A string argument is 1001 characters long; at most 1000 are accepted."
    )


@CLIENTS
async def test_websocket_refuses_a_long_symbol(
    embedded_server: RunningServer, client: Client
) -> None:
    async with client(embedded_server.ws) as ws:
        start = "subscribe" if client is graphql_ws else "start"
        payload = {"query": QUOTES, "variables": {"s": ["A" * 5000]}}
        await ws.send({"id": "long", "type": start, "payload": payload})
        [error] = await error_for(ws, "long")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "A" * 41 not in orjson.dumps(error).decode()


async def test_errors_quote_a_bad_symbol_cut_short(embedded_server: RunningServer) -> None:
    symbol = "a!" * 400  # under the string cap, not a symbol
    query = "query ($s: String!) { quote(symbol: $s) { price } }"
    response = await post(embedded_server, {"query": query, "variables": {"s": symbol}})
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert echo(symbol.upper()) in error["message"]
    assert len(error["message"]) < 200


@pytest.mark.parametrize("protocol", ["direct", "websockets-sansio", "websockets"])
async def test_an_oversized_websocket_message_closes_with_1009(
    embedded_settings: Settings, protocol: str
) -> None:
    settings = embedded_settings.model_copy(update={"websocket_protocol": protocol})
    async with (
        running_server(settings) as server,
        websockets.connect(
            server.ws, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
        ) as socket,
    ):
        await socket.send(orjson.dumps({"type": "connection_init"}).decode())
        assert orjson.loads(await socket.recv())["type"] == "connection_ack"
        huge = {"id": "1", "type": "subscribe", "payload": {"query": "x" * 70_000}}
        await socket.send(orjson.dumps(huge).decode())
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


@CLIENTS
async def test_websocket_refuses_a_long_operation_name_without_echoing_it(
    embedded_server: RunningServer, client: Client
) -> None:
    async with client(embedded_server.ws) as ws:
        start = "subscribe" if client is graphql_ws else "start"
        payload = {"query": QUOTES, "variables": {"s": ["AAPL"]}, "operationName": "B" * 5000}
        await ws.send({"id": "named", "type": start, "payload": payload})
        [error] = await error_for(ws, "named")
    assert error["message"] == (
        "An operationName is 5000 characters long; at most 1000 are accepted."
    )


async def test_http_quotes_an_unknown_operation_name_cut_short(
    embedded_server: RunningServer,
) -> None:
    response = await post(
        embedded_server, {"query": "query A { me { id } }", "operationName": "B" * 5000}
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["message"] == f'Unknown operation named "{echo("B" * 5000)}".'


@pytest.mark.parametrize("accept", [SSE, MULTIPART], ids=["sse", "multipart"])
async def test_http_streams_are_held_to_the_body_cap(
    embedded_server: RunningServer, accept: dict[str, str]
) -> None:
    body = {"query": QUOTES, "variables": {"s": ["AAPL"], "pad": "x" * 70_000}}
    async with httpx.AsyncClient(base_url=embedded_server.http, timeout=10) as client:
        response = await client.post("/graphql", json=body, headers=accept)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
