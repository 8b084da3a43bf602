"""Subscriptions over HTTP: GraphQL over SSE (graphql-sse, distinct connections) and multipart
subscriptions (Apollo's HttpLink), with the WebSocket's arguments, checks and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from settings import Settings
from tests.api.conftest import Quotes
from tests.utils.http_stream import http_subscriptions
from tests.utils.server import RunningServer, running_server

QUOTES = 'subscription { quotes(symbols: ["%s"]) { symbol bid ask sequence } }'
SSE = {"accept": "text/event-stream"}
MULTIPART = {"accept": "multipart/mixed;subscriptionSpec=1.0, application/json"}


async def sse_events(server: RunningServer, query: str) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of one graphql-sse stream, until it completes or the caller stops."""
    async with (
        httpx.AsyncClient(base_url=server.http, timeout=10) as client,
        client.stream("POST", "/graphql", json={"query": query}, headers=SSE) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                yield event, line.removeprefix("data: ")


async def test_sse_streams_quotes_from_the_snapshot(
    api_server: RunningServer, quotes: Quotes
) -> None:
    tick = await quotes.set("INTC", bid="30.00", ask="30.02")
    async for event, data in sse_events(api_server, QUOTES % "INTC"):
        assert event == "next"
        assert orjson.loads(data) == {
            "data": {
                "quotes": {
                    "symbol": "INTC",
                    "bid": "30.00",
                    "ask": "30.02",
                    "sequence": tick.sequence,
                }
            }
        }
        break


async def test_sse_refuses_an_unknown_symbol_in_the_schemas_words(
    api_server: RunningServer,
) -> None:
    events = [item async for item in sse_events(api_server, QUOTES % "ZZZQ")]
    assert [event for event, _ in events] == ["next", "complete"]
    error = orjson.loads(events[0][1])["errors"][0]
    assert (error["message"], error["extensions"]["code"]) == (
        "No instrument ZZZQ.",
        "BAD_USER_INPUT",
    )


async def test_multipart_streams_quotes(api_server: RunningServer, quotes: Quotes) -> None:
    tick = await quotes.set("CSCO", bid="50.00", ask="50.01")
    body = {"query": QUOTES % "CSCO"}
    async with (
        httpx.AsyncClient(base_url=api_server.http, timeout=10) as client,
        client.stream("POST", "/graphql", json=body, headers=MULTIPART) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("multipart/mixed")
        async for line in response.aiter_lines():
            if line.startswith('{"payload"'):
                payload = orjson.loads(line)["payload"]
                break
    assert payload["data"]["quotes"]["sequence"] == tick.sequence


async def test_a_subscription_sent_as_a_plain_request_is_told_how_to_stream(
    api_server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=api_server.http, timeout=10) as client:
        response = await client.post("/graphql", json={"query": QUOTES % "INTC"})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["message"].startswith("A subscription needs a stream: a WebSocket")


@pytest.mark.parametrize("protocol", ["direct", "websockets-sansio"])
async def test_http_streams_with_and_without_direct_chunks(
    embedded_settings: Settings, protocol: str
) -> None:
    """`direct` writes an HTTP stream's frames straight onto the socket as chunks
    (`delivery/uvicorn_internals.py`); any other setting sends them through ASGI from the
    response's task. Either way every frame arrives, framed alike."""
    settings = embedded_settings.model_copy(update={"websocket_protocol": protocol})
    async with running_server(settings) as server:
        for transport in ("sse", "multipart"):
            async with http_subscriptions(server.http, transport) as client:
                await client.subscribe("live", QUOTES % "AAPL")
                sequences = [
                    (await client.next_payload())["data"]["quotes"]["sequence"] for _ in range(5)
                ]
            assert sequences == sorted(set(sequences)), (transport, sequences)
