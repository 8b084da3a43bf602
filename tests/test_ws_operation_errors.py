"""WebSocket operations and connections, on both protocols: a failing operation (a syntax
error, a validation error, an unknown `operationName`, a symbol no instrument has, a limit)
gets its errors under its own id while the socket and its other operations live on
(graphql-ws clients treat a 4400 close as fatal: one bad operation must not end every other
live subscription on the page); keepalive pings keep live peers and close dead ones.

Errors found before execution come as an `error` message; one raised by the subscription's
resolver before its first event (an unknown symbol) as a result with errors and no data, then
`complete`, as graphql-ws' reference server sends a subscription whose source stream failed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from settings import Settings
from tests.utils.graphql_ws import GraphQLWS, graphql_ws, legacy_graphql_ws
from tests.utils.server import RunningServer, running_server

QUOTES = "subscription ($s: [String!]!) { quotes(symbols: $s) { symbol sequence } }"
Client = Callable[[str], AbstractAsyncContextManager[GraphQLWS]]
CLIENTS = pytest.mark.parametrize(
    "client", [graphql_ws, legacy_graphql_ws], ids=["graphql-transport-ws", "graphql-ws"]
)
BAD_OPERATIONS = {
    "syntax": {"query": 'subscription { quotes(symbols: ["AAPL"]) { symbol '},
    "validation": {"query": 'subscription { quotes(symbols: ["AAPL"]) { nonsense } }'},
    "unknown operationName": {
        "query": 'subscription A { quotes(symbols: ["AAPL"]) { symbol } }',
        "operationName": "B",
    },
    "unknown symbol": {"query": 'subscription { quotes(symbols: ["AAPL", "NOSUCH"]) { symbol } }'},
    "unknown candle symbol": {
        "query": 'subscription { candles(symbol: "NOSUCH", interval: ONE_MINUTE) { close } }'
    },
    "too deep": {
        "query": "subscription { " + 'a: quotes(symbols: ["AAPL"]) { symbol } ' * 40 + "}"
    },
}


async def error_for(ws: GraphQLWS, operation_id: str, seconds: float = 10) -> list[dict[str, Any]]:
    """The errors the server reported for `operation_id` (skipping other operations' data):
    an `error` message, or a result with errors and no data followed by `complete`."""
    while True:
        message = await ws.receive(seconds)
        if message.get("id") != operation_id or message["type"] in ("ping", "ka"):
            continue
        payload = message["payload"]
        if message["type"] == "error":
            return payload if isinstance(payload, list) else [payload]
        assert message["type"] in ("next", "data"), message
        assert payload["data"] is None, message
        while (await ws.receive(seconds)).get("id") != operation_id:
            pass  # the operation's `complete`, after other operations' data
        errors: list[dict[str, Any]] = payload["errors"]
        return errors


async def next_quote(ws: GraphQLWS, operation_id: str) -> dict[str, Any]:
    while True:
        message = await ws.receive(10)
        if message.get("id") == operation_id and message["type"] in ("next", "data"):
            quote: dict[str, Any] = message["payload"]["data"]["quotes"]
            return quote


@CLIENTS
@pytest.mark.parametrize("case", list(BAD_OPERATIONS))
async def test_a_bad_operation_gets_an_error_and_the_socket_lives_on(
    embedded_server: RunningServer, client: Client, case: str
) -> None:
    async with client(embedded_server.ws) as ws:
        await ws.subscribe("good", QUOTES, {"s": ["AAPL"]})
        assert (await next_quote(ws, "good"))["symbol"] == "AAPL"
        payload = {**BAD_OPERATIONS[case]}
        start = "subscribe" if client is graphql_ws else "start"
        await ws.send({"id": "bad", "type": start, "payload": payload})
        errors = await error_for(ws, "bad")
        assert errors, case
        assert all(isinstance(error.get("message"), str) for error in errors)
        # the good subscription still streams, and the socket takes new operations
        assert (await next_quote(ws, "good"))["symbol"] == "AAPL"
        await ws.subscribe("again", QUOTES, {"s": ["MSFT"]})
        assert (await next_quote(ws, "again"))["symbol"] == "MSFT"


async def drain(ws: GraphQLWS) -> None:
    """Read until the connection ends (what was queued before the close comes first)."""
    while True:
        await ws.receive(5)


@pytest.fixture
async def pinging_server(embedded_settings: Settings) -> AsyncIterator[RunningServer]:
    settings = embedded_settings.model_copy(
        update={"websocket_ping_interval_seconds": 0.3, "websocket_ping_timeout_seconds": 0.5}
    )
    async with running_server(settings) as server:
        yield server


async def test_a_dead_peer_is_closed_and_a_live_one_kept(pinging_server: RunningServer) -> None:
    """Pings every 0.3 s: a client that keeps answering (its library answers pings by
    itself) still streams after 3 s; one that stopped reading (a vanished peer: no pong) is
    closed by the server within the ping timeout."""
    async with graphql_ws(pinging_server.ws) as live, graphql_ws(pinging_server.ws) as dead:
        await live.subscribe("q", QUOTES, {"s": ["AAPL"]})
        await dead.subscribe("q", QUOTES, {"s": ["AAPL"]})
        transport = dead.socket.transport
        transport.pause_reading()  # no pong from here on
        await asyncio.sleep(3)
        transport.resume_reading()
        assert (await next_quote(live, "q"))["symbol"] == "AAPL"
        with pytest.raises(ConnectionClosed):
            await drain(dead)


async def test_legacy_clients_get_keepalive_messages(pinging_server: RunningServer) -> None:
    async with legacy_graphql_ws(pinging_server.ws) as ws:
        kinds = [orjson.loads(await ws.socket.recv())["type"] for _ in range(3)]
    assert kinds == ["ka", "ka", "ka"]
