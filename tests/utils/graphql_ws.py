"""A small `graphql-transport-ws` client for tests, over a real WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

PROTOCOL = "graphql-transport-ws"


class GraphQLWS:
    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(orjson.dumps(message).decode())

    async def receive(self, seconds: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(seconds):
            raw = await self.socket.recv()
        message: dict[str, Any] = orjson.loads(raw)
        return message

    async def subscribe(self, id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"id": id, "type": "subscribe", "payload": payload})

    async def next_payload(self, seconds: float = 10) -> dict[str, Any]:
        """The next `next` message's payload; anything else (error, complete) fails the test."""
        while True:
            message = await self.receive(seconds)
            if message["type"] == "ping":
                await self.send({"type": "pong"})
                continue
            assert message["type"] == "next", message
            payload: dict[str, Any] = message["payload"]
            return payload


@asynccontextmanager
async def graphql_ws(
    url: str, init_payload: dict[str, Any] | None = None
) -> AsyncIterator[GraphQLWS]:
    async with connect(url, subprotocols=[PROTOCOL], compression=None) as socket:  # type: ignore[list-item]
        client = GraphQLWS(socket)
        await client.send({"type": "connection_init", "payload": init_payload or {}})
        ack = await client.receive()
        assert ack["type"] == "connection_ack", ack
        yield client
