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


LEGACY_PROTOCOL = "graphql-ws"


class LegacyGraphQLWS(GraphQLWS):
    """The legacy `graphql-ws` protocol (subscriptions-transport-ws): start/data/stop. Its
    keepalive messages (`ka`) are skipped: read `socket` to see them."""

    async def receive(self, seconds: float = 10) -> dict[str, Any]:
        while True:
            message = await super().receive(seconds)
            if message.get("type") != "ka":
                return message

    async def subscribe(self, id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"id": id, "type": "start", "payload": payload})

    async def next_payload(self, seconds: float = 10) -> dict[str, Any]:
        while True:
            message = await self.receive(seconds)
            if message["type"] == "ka":
                continue
            assert message["type"] == "data", message
            payload: dict[str, Any] = message["payload"]
            return payload


@asynccontextmanager
async def legacy_graphql_ws(
    url: str, init_payload: dict[str, Any] | None = None
) -> AsyncIterator[LegacyGraphQLWS]:
    async with connect(url, subprotocols=[LEGACY_PROTOCOL], compression=None) as socket:  # type: ignore[list-item]
        client = LegacyGraphQLWS(socket)
        await client.send({"type": "connection_init", "payload": init_payload or {}})
        ack = await client.receive()
        assert ack["type"] == "connection_ack", ack
        yield client


@asynccontextmanager
async def raw_socket(url: str, protocol: str = PROTOCOL) -> AsyncIterator[GraphQLWS]:
    """A connected socket with no `connection_init` sent: for protocol-violation tests."""
    async with connect(url, subprotocols=[protocol], compression=None) as socket:  # type: ignore[list-item]
        yield GraphQLWS(socket)


async def close_code(client: GraphQLWS, seconds: float = 10) -> int | None:
    """Read until the server closes; the close code it sent."""
    from websockets.exceptions import ConnectionClosed

    try:
        async with asyncio.timeout(seconds):
            while True:
                await client.socket.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
