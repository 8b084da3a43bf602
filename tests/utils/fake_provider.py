"""A small fake market-data provider (Finnhub's trade-stream shape) on a loopback port.

Finnhub's stream (https://finnhub.io/docs/api/websocket-trades, read through third-party
copies of it: an AsyncAPI description at asyncapi.apis.io/asyncapis/finnhub and the `finnhub`
Rust crate's client): the API key in the URL (`wss://ws.finnhub.io?token=...`); the client
sends `{"type":"subscribe","symbol":"AAPL"}` (and `unsubscribe`); the server sends
`{"type":"trade","data":[{"s":"AAPL","p":249.02,"t":<epoch ms>,"v":30,"c":["1","12"]}]}`,
`{"type":"ping"}` and `{"type":"error","msg":"..."}`. Not Finnhub's, sent through `send_raw`
by tests: `b`/`a` on a trade and `{"type":"status","data":[{"s":..,"halted":..,"t":..}]}`.
This fake checks no token and sends no pings of its own.

Tests push trades to whoever subscribed a symbol, send raw junk, and drop every connection
to make the adapter reconnect; `subscriptions` records what each connection asked for.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.utils.fake_server import FakeServer, serving


class FakeProvider(FakeServer[set[str]]):
    """`clients`: each connection's symbols."""

    def __init__(self) -> None:
        super().__init__()
        self.subscriptions: list[list[str]] = []  # one list per connection, in arrival order

    async def serve(self, connection: ServerConnection) -> None:
        mine: list[str] = []
        self.subscriptions.append(mine)
        self.clients[connection] = set()
        try:
            async for raw in connection:
                message = json.loads(raw)
                if message.get("type") == "subscribe":
                    mine.append(message["symbol"])
                    self.clients[connection].add(message["symbol"])
                    self.changed()
        except ConnectionClosed:
            pass
        finally:
            self.clients.pop(connection, None)

    async def wait_subscribed(self, connections: int, symbols: int, seconds: float = 10) -> None:
        await self.wait_subscribed_in(self.subscriptions, connections, symbols, seconds)

    async def trade(self, symbol: str, price: str, volume: int = 100, millis: int = 0) -> None:
        """Send a trade (price written as a JSON number, as providers do) to its subscribers."""
        raw = (
            f'{{"type":"trade","data":[{{"s":"{symbol}","p":{price},"v":{volume},'
            f'"t":{millis or 1767225600000}}}]}}'
        )
        await self.publish(symbol, raw)

    async def publish(self, symbol: str, raw: str) -> None:
        """`raw` to the connections that subscribed `symbol`."""
        for connection, symbols in list(self.clients.items()):
            if symbol in symbols:
                await self.send_to(connection, raw)

    async def send_json(self, message: Any) -> None:
        await self.send_raw(json.dumps(message))


@asynccontextmanager
async def fake_provider() -> AsyncIterator[FakeProvider]:
    async with serving(FakeProvider(), "/trades?token=test") as provider:
        yield provider
