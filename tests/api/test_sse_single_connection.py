"""GraphQL over SSE's single connection mode (graphql-sse PROTOCOL.md): reserve, open once,
operations by POST into the one stream with their ids, DELETE to stop one, and each refusal's
status. The graphql-sse client itself runs in tests/api/test_js_clients.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest

from settings import Settings
from tests.api.conftest import Quotes
from tests.utils.live import eventually
from tests.utils.server import RunningServer, running_server
from tests.utils.transports import shared_subscriptions

TOKEN = "x-graphql-event-stream-token"
QUOTES = 'subscription { quotes(symbols: ["%s"]) { symbol sequence } }'


class EventStream:
    """An opened reservation: its events as (event, data) in a queue."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.token = token
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def post(self, operation_id: str | None, query: str) -> httpx.Response:
        extensions = {} if operation_id is None else {"operationId": operation_id}
        body = {"query": query, "extensions": extensions}
        return await self.client.post("/graphql", json=body, headers={TOKEN: self.token})

    async def event(self, seconds: float = 10) -> tuple[str, Any]:
        async with asyncio.timeout(seconds):
            return await self.events.get()

    async def read(self, response: httpx.Response) -> None:
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                await self.events.put((event, orjson.loads(line.removeprefix("data: "))))


@asynccontextmanager
async def event_stream(server: RunningServer) -> AsyncIterator[EventStream]:
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
        reserved = await client.put("/graphql")
        assert reserved.status_code == 201, reserved.text
        assert reserved.headers["content-type"].startswith("text/plain")
        stream = EventStream(client, reserved.text)
        headers = {"accept": "text/event-stream", TOKEN: stream.token}
        async with client.stream("GET", "/graphql", headers=headers) as response:
            assert response.status_code == 200
            reader = asyncio.create_task(stream.read(response))
            try:
                yield stream
            finally:
                reader.cancel()


async def test_operations_stream_into_the_reserved_connection_with_their_ids(
    api_server: RunningServer, quotes: Quotes
) -> None:
    tick = await quotes.set("TXN", bid="170.00", ask="170.02")
    before = shared_subscriptions()
    async with event_stream(api_server) as stream:
        assert (await stream.post("live", QUOTES % "TXN")).status_code == 202
        assert await stream.event() == (
            "next",
            {
                "id": "live",
                "payload": {"data": {"quotes": {"symbol": "TXN", "sequence": tick.sequence}}},
            },
        )
        assert shared_subscriptions() == before + 1, "on the shared fan-out"
        assert (
            await stream.post("query", '{ instrument(symbol: "TXN") { symbol } }')
        ).status_code == 202
        assert await stream.event() == (
            "next",
            {"id": "query", "payload": {"data": {"instrument": {"symbol": "TXN"}}}},
        )
        assert await stream.event() == ("complete", {"id": "query"})
        stopped = await stream.client.delete(
            "/graphql", params={"operationId": "live"}, headers={TOKEN: stream.token}
        )
        assert stopped.status_code == 200
        assert await stream.event() == ("complete", {"id": "live"})
        await eventually(lambda: shared_subscriptions() == before)


async def test_an_operations_request_error_arrives_in_the_stream(
    api_server: RunningServer,
) -> None:
    async with event_stream(api_server) as stream:
        assert (await stream.post("bad", "{ nosuchfield }")).status_code == 202
        event, data = await stream.event()
        assert (event, data["id"]) == ("next", "bad")
        assert "nosuchfield" in data["payload"]["errors"][0]["message"]
        assert await stream.event() == ("complete", {"id": "bad"})


async def test_refusals_have_the_protocols_statuses(api_server: RunningServer) -> None:
    async with event_stream(api_server) as stream:
        assert (await stream.post(None, "{ __typename }")).status_code == 400  # no operationId
        assert (await stream.post("long", QUOTES % "TXN")).status_code == 202
        again = await stream.post("long", QUOTES % "TXN")
        assert again.status_code == 409, "an operation id in use"
        headers = {"accept": "text/event-stream", TOKEN: stream.token}
        second = await stream.client.get("/graphql", headers=headers)
        assert second.status_code == 409, "one stream per reservation"
        unknown = {TOKEN: "not-a-reservation"}
        assert (
            await stream.client.post("/graphql", json={"query": "{ __typename }"}, headers=unknown)
        ).status_code == 404
    async with httpx.AsyncClient(base_url=api_server.http, timeout=10) as client:
        stop = {"url": "/graphql", "params": {"operationId": "x"}, "headers": {TOKEN: stream.token}}
        for _ in range(100):  # the server sees the stream close a moment later
            gone = await client.delete(**stop)  # type: ignore[arg-type]
            if gone.status_code != 200:
                break
            await asyncio.sleep(0.05)
        assert gone.status_code == 404, "a closed stream forgets its token"
        assert gone.json()["errors"][0]["message"] == "Stream not found"


@pytest.fixture
async def limited_server(embedded_settings: Settings) -> AsyncIterator[RunningServer]:
    limits = {"connection_init_timeout_seconds": 0.5, "max_subscriptions_per_connection": 1}
    async with running_server(embedded_settings.model_copy(update=limits)) as server:
        yield server


async def test_operations_per_stream_and_unopened_reservations_are_limited(
    limited_server: RunningServer,
) -> None:
    async with event_stream(limited_server) as stream:
        assert (await stream.post("a", QUOTES % "AAPL")).status_code == 202
        refused = await stream.post("b", QUOTES % "MSFT")
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["message"] == "At most 1 operations at once on a stream"
    async with httpx.AsyncClient(base_url=limited_server.http, timeout=10) as client:
        token = (await client.put("/graphql")).text
        await asyncio.sleep(1)  # past the reservation's 0.5 s
        headers = {"accept": "text/event-stream", TOKEN: token}
        assert (await client.get("/graphql", headers=headers)).status_code == 404
