"""A fake of Polygon's (Massive's) stocks WebSocket on a loopback port, speaking the protocol as
documented:

- https://massive.com/docs/websocket/quickstart (and polygon.io/docs/websockets, before the
  rename): on connection the server sends `[{"ev":"status","status":"connected","message":
  "Connected Successfully"}]`; `{"action":"auth","params":KEY}` is answered
  `[{"ev":"status","status":"auth_success","message":"authenticated"}]`; then
  `{"action":"subscribe","params":"T.AAPL,Q.AAPL"}` is answered, per channel,
  `[{"ev":"status","status":"success","message":"subscribed to: T.AAPL"}]`, and
  `unsubscribe` likewise "unsubscribed to: ...".
- The official client's spec (massive-com/client-python `.massive/websocket.json`): auth's
  statuses `auth_success`, `auth_timeout`, `auth_failed`; subscribe's `success`,
  `auth_required`, `error`; the disconnect statuses `max_connections` ("Maximum number of
  connections exceeded."), `force_disconnect`, `slow_consumer`; the stocks events
  `T` {ev, sym, x, i, z, p, s, c, t, q}, `Q` {ev, sym, bx, bp, bs, ax, ap, as, c, i, t, q, z},
  `A`/`AM` {ev, sym, v, av, op, vw, o, c, h, l, a, z, s, e}, every time in Unix ms.
- Messages are JSON arrays, several events in one (the docs' examples and the client's own
  mock server, `test_websocket/mock_server.py`).

Not from the docs, so this fake's own choice: the text of `auth_failed` (the docs give none;
"authentication failed" here) and closing the connection after it; what a refused plan says
(`plan_refused`: "Your plan doesn't include websocket access...", as users have reported it,
not documented); whether a server sends anything before closing on a slow consumer.

Tests push events to the connections subscribed to them, send statuses and junk, refuse keys,
and drop connections abruptly; `subscriptions` records each connection's subscribe params and
`sent` every message the fake sent, in order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.utils.fake_server import FakeServer, serving

API_KEY = "test-polygon-key"
MILLIS = 1767277800123  # 2026-01-01T14:30:00.123Z
_ENCODER = msgspec.json.Encoder(decimal_format="number")  # prices as JSON numbers, exactly


def status(status: str, message: str) -> dict[str, Any]:
    return {"ev": "status", "status": status, "message": message}


def trade(
    symbol: str,
    price: str,
    size: int = 100,
    *,
    conditions: tuple[int, ...] = (),
    millis: int = MILLIS,
    sequence: int = 1,
) -> dict[str, Any]:
    """A `T` event as documented (exchange 4, tape 3: Nasdaq)."""
    event: dict[str, Any] = {
        "ev": "T",
        "sym": symbol,
        "x": 4,
        "i": str(sequence),
        "z": 3,
        "p": Decimal(price),
        "s": size,
        "t": millis,
        "q": sequence,
    }
    if conditions:
        event["c"] = list(conditions)
    return event


def quote(
    symbol: str,
    bid: str,
    ask: str,
    bid_size: int = 200,
    ask_size: int = 300,
    *,
    millis: int = MILLIS,
    sequence: int = 1,
) -> dict[str, Any]:
    """A `Q` event as documented (sizes in shares, as Polygon sends them since 2025-11-03)."""
    return {
        "ev": "Q",
        "sym": symbol,
        "bx": 4,
        "bp": Decimal(bid),
        "bs": bid_size,
        "ax": 7,
        "ap": Decimal(ask),
        "as": ask_size,
        "c": 0,
        "i": [604],
        "t": millis,
        "q": sequence,
        "z": 3,
    }


def aggregate(
    kind: str, symbol: str, ohlc: tuple[str, str, str, str], volume: int, start: int
) -> dict[str, Any]:
    """An `A` (one second) or `AM` (one minute) event as documented."""
    o, h, low, c = (Decimal(p) for p in ohlc)
    length = 1000 if kind == "A" else 60_000
    return {
        "ev": kind,
        "sym": symbol,
        "v": volume,
        "av": volume * 10,
        "op": o,
        "vw": c,
        "o": o,
        "c": c,
        "h": h,
        "l": low,
        "a": c,
        "z": 50,
        "s": start,
        "e": start + length,
    }


class FakePolygon(FakeServer[set[str]]):
    """`clients`: the authenticated connections, each with its channels."""

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.refuse_keys = 0  # refuse this many next auths, even with the right key
        self.plan_refused = False  # refuse every auth as a plan without the stream
        self.auths: list[str] = []  # every key tried, in order
        self.subscriptions: list[list[str]] = []  # per authenticated connection, its channels

    async def serve(self, connection: ServerConnection) -> None:
        await self._send(connection, [status("connected", "Connected Successfully")])
        try:
            async for raw in connection:
                await self._act(connection, json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self.clients.pop(connection, None)

    async def _act(self, connection: ServerConnection, request: dict[str, Any]) -> None:
        action, params = request.get("action"), str(request.get("params", ""))
        if action == "auth":
            await self._auth(connection, params)
        elif connection not in self.clients:
            await self._send(connection, [status("auth_required", "authentication required")])
        elif action in ("subscribe", "unsubscribe"):
            await self._subscribe(connection, action, [p.strip() for p in params.split(",")])
        else:
            await self._send(connection, [status("error", f"unknown action {action!r}")])

    async def _auth(self, connection: ServerConnection, key: str) -> None:
        self.auths.append(key)
        self.changed()
        if self.plan_refused:
            text = "Your plan doesn't include websocket access. Visit https://massive.com/pricing"
            await self._refuse(connection, text)
        elif key != self.api_key or self.refuse_keys > 0:
            self.refuse_keys = max(0, self.refuse_keys - 1)
            await self._refuse(connection, "authentication failed")
        else:
            await self._send(connection, [status("auth_success", "authenticated")])
            self.clients[connection] = set()
            self.subscriptions.append([])

    async def _refuse(self, connection: ServerConnection, text: str) -> None:
        await self._send(connection, [status("auth_failed", text)])
        await connection.close()

    async def _subscribe(
        self, connection: ServerConnection, action: str, channels: list[str]
    ) -> None:
        mine = self.clients[connection]
        for channel in channels:
            if action == "subscribe":
                mine.add(channel)
                self.subscriptions[-1].append(channel)
            else:
                mine.discard(channel)
            await self._send(connection, [status("success", f"{action}d to: {channel}")])
        self.changed()

    async def _send(self, connection: ServerConnection, events: list[dict[str, Any]]) -> None:
        await self.send_to(connection, _ENCODER.encode(events).decode())

    async def wait_subscribed(self, connections: int, channels: int, seconds: float = 10) -> None:
        """Until `connections` connections have authenticated, the last with `channels`."""
        await self.wait_subscribed_in(self.subscriptions, connections, channels, seconds)

    async def wait_auths(self, count: int, seconds: float = 10) -> None:
        await self.wait_for(lambda: len(self.auths) >= count, seconds)

    async def push(self, *events: dict[str, Any]) -> None:
        """Send `events` as one array to each connection subscribed to any of them (each gets
        those it subscribed, in order), as Polygon batches events."""
        for connection, channels in list(self.clients.items()):
            mine = [e for e in events if f"{e['ev']}.{e['sym']}" in channels]
            if mine:
                await self._send(connection, mine)

    async def send_status(self, name: str, message: str) -> None:
        for connection in list(self.clients):
            await self._send(connection, [status(name, message)])

    async def max_connections(self) -> None:
        """As when the key connects elsewhere: the documented status, then the close."""
        for connection in list(self.clients):
            await self._send(
                connection, [status("max_connections", "Maximum number of connections exceeded.")]
            )
            await connection.close()


@asynccontextmanager
async def fake_polygon(api_key: str = API_KEY) -> AsyncIterator[FakePolygon]:
    async with serving(FakePolygon(api_key), "/stocks", compression=None) as polygon:
        yield polygon
