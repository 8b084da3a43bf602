"""Subscriptions over HTTP for tests: GraphQL over SSE (graphql-sse, distinct connections
mode) and multipart subscriptions, each a real streaming POST, with the `GraphQLWS` client's
shape (`subscribe`, `next_payload`) so one test body can run over every transport."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
import orjson

Transport = Literal["sse", "multipart"]
ACCEPT = {
    "sse": "text/event-stream",
    "multipart": "multipart/mixed;subscriptionSpec=1.0, application/json",
}
CONTENT_TYPE = {"sse": "text/event-stream", "multipart": "multipart/mixed"}


class HTTPSubscriptions:
    """One streaming request per `subscribe`; their messages in one queue, as (kind, payload):
    `next` with its payload, or `complete`."""

    def __init__(self, client: httpx.AsyncClient, transport: Transport) -> None:
        self.client = client
        self.transport = transport
        self.messages: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.streams: list[asyncio.Task[None]] = []

    async def subscribe(self, id: str, query: str, variables: dict[str, Any] | None = None) -> None:  # noqa: ARG002 (GraphQLWS's shape)
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        opened = asyncio.get_running_loop().create_future()
        self.streams.append(asyncio.create_task(self._read(body, opened)))
        await opened

    async def next_payload(self, seconds: float = 10) -> dict[str, Any]:
        """The next `next` payload; a `complete` fails the test."""
        async with asyncio.timeout(seconds):
            kind, payload = await self.messages.get()
        assert kind == "next", (kind, payload)
        result: dict[str, Any] = payload
        return result

    async def _read(self, body: dict[str, Any], opened: asyncio.Future[None]) -> None:
        headers = {"accept": ACCEPT[self.transport]}
        async with self.client.stream("POST", "/graphql", json=body, headers=headers) as response:
            assert response.status_code == 200, response.status_code
            assert response.headers["content-type"].startswith(CONTENT_TYPE[self.transport])
            opened.set_result(None)
            async for kind, payload in self._messages(response):
                await self.messages.put((kind, payload))

    async def _messages(self, response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
        event = ""
        async for line in response.aiter_lines():
            if self.transport == "sse":
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = line.removeprefix("data: ")
                    yield event, orjson.loads(data) if data else None
            elif line.startswith('{"payload"'):  # a multipart part's body (heartbeats are {})
                yield "next", orjson.loads(line)["payload"]
            elif line == "--graphql--":
                yield "complete", None


@asynccontextmanager
async def http_subscriptions(
    base_url: str, transport: Transport
) -> AsyncIterator[HTTPSubscriptions]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        subscriptions = HTTPSubscriptions(client, transport)
        try:
            yield subscriptions
        finally:
            for stream in subscriptions.streams:
                stream.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await stream
