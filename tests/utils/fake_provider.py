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

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class FakeProvider:
    def __init__(self) -> None:
        self.subscriptions: list[list[str]] = []  # one list per connection, in arrival order
        self._clients: dict[ServerConnection, set[str]] = {}
        self._server: Server | None = None
        self.url = ""
        self._changed = asyncio.Event()

    async def _serve(self, connection: ServerConnection) -> None:
        mine: list[str] = []
        self.subscriptions.append(mine)
        self._clients[connection] = set()
        try:
            async for raw in connection:
                message = json.loads(raw)
                if message.get("type") == "subscribe":
                    mine.append(message["symbol"])
                    self._clients[connection].add(message["symbol"])
                    self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(connection, None)

    async def wait_subscribed(self, connections: int, symbols: int, seconds: float = 10) -> None:
        async with asyncio.timeout(seconds):
            while len(self.subscriptions) < connections or (
                len(self.subscriptions[connections - 1]) < symbols
            ):
                self._changed.clear()
                await self._changed.wait()

    async def trade(self, symbol: str, price: str, volume: int = 100, millis: int = 0) -> None:
        """Send a trade (price written as a JSON number, as providers do) to its subscribers."""
        raw = (
            f'{{"type":"trade","data":[{{"s":"{symbol}","p":{price},"v":{volume},'
            f'"t":{millis or 1767225600000}}}]}}'
        )
        await self.send_raw(raw, symbol)

    async def send_raw(self, raw: str, symbol: str | None = None) -> None:
        for connection, symbols in list(self._clients.items()):
            if symbol is None or symbol in symbols:
                await connection.send(raw)

    async def send_json(self, message: Any) -> None:
        await self.send_raw(json.dumps(message))

    async def drop_all(self) -> None:
        """Close every connection abruptly (no close frame), as a failing provider would."""
        for connection in list(self._clients):
            connection.transport.abort()


@asynccontextmanager
async def fake_provider() -> AsyncIterator[FakeProvider]:
    provider = FakeProvider()
    async with serve(provider._serve, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        provider.url = f"ws://127.0.0.1:{port}/trades?token=test"
        yield provider
