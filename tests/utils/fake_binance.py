"""A small fake of Binance's spot market data on one loopback port: the combined-stream
WebSocket and the REST depth snapshot, in the shapes Binance documents
(https://github.com/binance/binance-spot-api-docs: `web-socket-streams.md`, `rest-api.md`).

- `ws://127.0.0.1:<port>/stream?streams=<symbol>@trade/<symbol>@bookTicker/<symbol>@depth`
  (lower-case symbols; `@aggTrade` and `@depth@100ms` too): each message wrapped
  `{"stream": "<name>", "data": <payload>}`, payloads:
  `trade` `{"e": "trade", "E", "s", "t", "p", "q", "T", "m", "M"}`,
  `aggTrade` `{"e": "aggTrade", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"}`,
  `bookTicker` `{"u", "s", "b", "B", "a", "A"}`,
  `depthUpdate` `{"e": "depthUpdate", "E", "s", "U", "u", "b": [[p, q]...], "a": [...]}`,
  and `{"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E"}}`.
  Numbers are strings with Binance's eight decimals.
- `GET /api/v3/depth?symbol=<SYMBOL>&limit=<n>`: `{"lastUpdateId", "bids", "asks"}`, best
  first, of the fake's own book; an unknown symbol is `400 {"code": -1121, "msg": "Invalid
  symbol."}`; `rate_limit_next` answers `429` (or `418`) with `Retry-After` instead.

The fake keeps each symbol's true book and update id: `depth` changes it and sends the
update (`U` = the previous `u` + 1), `lost=True` changes it without sending (a gap the
adapter must notice), so the snapshot it then fetches holds the change. `hold_snapshots`
keeps REST answers waiting (the adapter buffers meanwhile). Tests also drop connections,
ping, and send raw junk. Not modelled: request weights, the 5-messages-a-second limit,
SUBSCRIBE requests on the socket, the 24-hour cut (the adapter's renewal is tested with a
short age instead).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.utils.fake_server import FakeServer, serving

START_MILLIS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def fixed(value: str | Decimal) -> str:
    """As Binance writes numbers: strings with eight decimals."""
    return f"{Decimal(value):.8f}"


@dataclass
class TrueBook:
    """The exchange's book of one symbol, as of `update_id`."""

    update_id: int = 1000
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)

    def change(self, side: dict[Decimal, Decimal], levels: Iterable[tuple[str, str]]) -> None:
        for price, size in levels:
            if Decimal(size) == 0:
                side.pop(Decimal(price), None)
            else:
                side[Decimal(price)] = Decimal(size)

    def snapshot(self, limit: int) -> dict[str, Any]:
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return {
            "lastUpdateId": self.update_id,
            "bids": [[fixed(p), fixed(q)] for p, q in bids],
            "asks": [[fixed(p), fixed(q)] for p, q in asks],
        }


class FakeBinance(FakeServer[set[str]]):
    """`url` is the WebSocket base (PROVIDER_URL); `clients`: each connection's streams."""

    def __init__(self) -> None:
        super().__init__()
        self.rest_url = ""  # the REST base (BINANCE_REST_URL)
        self.books: dict[str, TrueBook] = {}
        self.connections: list[list[str]] = []  # each connection's streams, in order
        self.snapshot_requests: list[str] = []  # each request's query string
        self._refusals: list[tuple[int, int]] = []  # (status, retry after) for next requests
        self._release = asyncio.Event()
        self._release.set()
        self._millis = START_MILLIS
        self._trade_id = 0

    # -- the server --------------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """REST on the same port: whatever is not the stream path."""
        path = urlsplit(request.path)
        if path.path == "/stream":
            return None
        if path.path != "/api/v3/depth":
            return _json(connection, HTTPStatus.NOT_FOUND, {"code": -1, "msg": "Not found"})
        self.snapshot_requests.append(path.query)
        self.changed()
        await self._release.wait()
        if self._refusals:
            status, retry_after = self._refusals.pop(0)
            message = {"code": -1003, "msg": "Too many requests; please use the websocket."}
            response = _json(connection, HTTPStatus(status), message)
            response.headers["Retry-After"] = str(retry_after)
            return response
        query = parse_qs(path.query)
        symbol = query.get("symbol", [""])[0]
        if symbol not in self.books:
            return _json(
                connection, HTTPStatus.BAD_REQUEST, {"code": -1121, "msg": "Invalid symbol."}
            )
        limit = int(query.get("limit", ["100"])[0])
        response = _json(connection, HTTPStatus.OK, self.books[symbol].snapshot(limit))
        response.headers["X-MBX-USED-WEIGHT-1M"] = "50"
        return response

    async def serve(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        query = parse_qs(urlsplit(connection.request.path).query)
        streams = query.get("streams", [""])[0].split("/")
        self.connections.append(streams)
        self.clients[connection] = set(streams)
        self.changed()
        try:
            await connection.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            self.clients.pop(connection, None)

    # -- what tests do -----------------------------------------------------------------

    async def wait_connections(self, count: int, seconds: float = 10) -> None:
        await self.wait_for(lambda: len(self.connections) >= count and bool(self.clients), seconds)

    async def wait_snapshot_requests(self, count: int, seconds: float = 10) -> None:
        await self.wait_for(lambda: len(self.snapshot_requests) >= count, seconds)

    def book(self, symbol: str, update_id: int = 1000) -> TrueBook:
        """The symbol's true book (created empty at `update_id`)."""
        return self.books.setdefault(symbol, TrueBook(update_id))

    async def depth(
        self,
        symbol: str,
        bids: Iterable[tuple[str, str]] = (),
        asks: Iterable[tuple[str, str]] = (),
        *,
        updates: int = 1,
        lost: bool = False,
    ) -> dict[str, Any]:
        """Change the true book by `updates` update ids and send the diff (unless `lost`)."""
        bids, asks = list(bids), list(asks)
        book = self.book(symbol)
        book.change(book.bids, bids)
        book.change(book.asks, asks)
        first, book.update_id = book.update_id + 1, book.update_id + updates
        data = {
            "e": "depthUpdate",
            "E": self._tick(),
            "s": symbol,
            "U": first,
            "u": book.update_id,
            "b": [[fixed(p), fixed(q)] for p, q in bids],
            "a": [[fixed(p), fixed(q)] for p, q in asks],
        }
        if not lost:
            await self.send(symbol, "depth", data)
        return data

    async def trade(
        self, symbol: str, price: str, quantity: str, *, aggregate: bool = False
    ) -> dict[str, Any]:
        self._trade_id += 1
        millis = self._tick()
        data: dict[str, Any] = {
            "e": "aggTrade" if aggregate else "trade",
            "E": millis,
            "s": symbol,
            "t": self._trade_id,
            "p": fixed(price),
            "q": fixed(quantity),
            "T": millis - 1,
            "m": True,
            "M": True,
        }
        if aggregate:
            del data["t"]
            data |= {"a": self._trade_id, "f": self._trade_id, "l": self._trade_id}
        await self.send(symbol, "aggTrade" if aggregate else "trade", data)
        return data

    async def book_ticker(
        self, symbol: str, bid: str, bid_size: str, ask: str, ask_size: str
    ) -> dict[str, Any]:
        data = {
            "u": self.book(symbol).update_id,
            "s": symbol,
            "b": fixed(bid),
            "B": fixed(bid_size),
            "a": fixed(ask),
            "A": fixed(ask_size),
        }
        await self.send(symbol, "bookTicker", data)
        return data

    async def send(self, symbol: str, kind: str, data: dict[str, Any]) -> None:
        """To every connection with a stream of that kind for the symbol."""
        for connection, streams in list(self.clients.items()):
            for stream in streams:
                name, _, rest = stream.partition("@")
                if name == symbol.lower() and rest.split("@")[0] == kind:
                    await self.send_to(connection, json.dumps({"stream": stream, "data": data}))

    async def server_shutdown(self) -> None:
        message = {"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": self._tick()}}
        await self.send_raw(json.dumps(message))

    def rate_limit_next(self, status: int = 429, retry_after: int = 1) -> None:
        """The next snapshot request is refused with `status` and `Retry-After`."""
        self._refusals.append((status, retry_after))

    def hold_snapshots(self) -> None:
        self._release.clear()

    def release_snapshots(self) -> None:
        self._release.set()

    async def ping_all(self) -> list[Awaitable[float]]:
        """A ping on every connection, as Binance sends every 20 s; each waiter resolves
        when the pong comes back."""
        return [await connection.ping() for connection in list(self.clients)]

    def _tick(self) -> int:
        self._millis += 1
        return self._millis


def _json(connection: ServerConnection, status: HTTPStatus, body: Any) -> Response:
    response = connection.respond(status, json.dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json;charset=UTF-8"
    return response


@asynccontextmanager
async def fake_binance() -> AsyncIterator[FakeBinance]:
    fake = FakeBinance()
    async with serving(fake, "", process_request=fake._process_request):
        fake.rest_url = fake.url.replace("ws://", "http://", 1)
        yield fake
