"""A fake Alpaca Market Data v2 stocks stream on a loopback port, speaking the protocol as
Alpaca documents it (https://docs.alpaca.markets/docs/real-time-stock-pricing-data; Alpaca's
docs repository alpacahq/alpaca-docs, content/api-references/market-data-api/
stock-pricing-data/realtime.md; the LULD, correction and cancel-error shapes from Alpaca's Go
SDK, alpacahq/alpaca-trade-api-go marketdata/stream/message.go and its tests):

- on connecting: `[{"T":"success","msg":"connected"}]`;
- `{"action":"auth","key":K,"secret":S}` → `[{"T":"success","msg":"authenticated"}]`, or
  `[{"T":"error","code":402,"msg":"auth failed"}]` for other credentials, 403 `already
  authenticated` on a second auth, 406 `connection limit exceeded` while another connection
  of the account is authenticated (one per account); no auth within `auth_timeout` seconds:
  404 `auth timeout` and the connection is closed;
- `{"action":"subscribe"|"unsubscribe", "trades":[...], "quotes":[...], "bars":[...],
  "updatedBars":[...], "dailyBars":[...], "statuses":[...], "lulds":[...]}` adds or removes
  symbols (`*` for all) and is answered by `[{"T":"subscription", <every channel: its symbols>}]`
  (`corrections` and `cancelErrors` follow `trades`); before auth: 401 `not authenticated`;
  over `symbol_limit` symbols for trades and quotes: 405 `symbol limit exceeded`, nothing
  changed; a channel in `refused_channels` (one the feed does not carry): 410 `invalid
  subscribe action for this feed` (the Go SDK's name for it), nothing changed; anything
  else: 400 `invalid syntax`;
- data points, each in an array (numbers written as JSON numbers, times RFC 3339 with
  nanoseconds), sent to the connections subscribed to the symbol on that channel:
  `{"T":"t","i":..,"S":..,"x":..,"p":..,"s":..,"c":[..],"t":..,"z":..}` (trades),
  `{"T":"q","S":..,"bx":..,"bp":..,"bs":..,"ax":..,"ap":..,"as":..,"c":[..],"t":..,"z":..}`
  (quotes, sizes in round lots), `{"T":"b"|"u"|"d","S":..,"o":..,"h":..,"l":..,"c":..,"v":..,
  "t":..,"n":..,"vw":..}` (bars), `{"T":"s","S":..,"sc":..,"sm":..,"rc":..,"rm":..,"t":..,
  "z":..}` (statuses), `{"T":"l","S":..,"u":..,"d":..,"i":..,"t":..,"z":..}` (LULD);
- `error` messages on demand (e.g. 407 `slow client`), and connections dropped abruptly.

Not verified against the real service: whether Alpaca closes the connection after 402 (the
fake keeps it open; the adapter closes it either way), the exact subscription confirmation
for channels a feed does not carry, and message batching (the fake sends one data point per
array unless `send_raw` is used). `sent` keeps every frame sent, `requests` every frame
received, `subscriptions` each connection's confirmed channels.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.utils.fake_server import FakeServer, serving

CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds")
FOLLOW_TRADES = ("corrections", "cancelErrors")
TIME = "2026-01-02T15:30:00.123456789Z"


@dataclass
class _Session:
    socket: ServerConnection
    authenticated: bool = False
    channels: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CHANNELS})

    def wants(self, channel: str, symbol: str) -> bool:
        subscribed = self.channels[channel]
        return self.authenticated and (symbol in subscribed or "*" in subscribed)

    def confirmation(self) -> dict[str, Any]:
        message: dict[str, Any] = {"T": "subscription", **self.channels}
        for channel in FOLLOW_TRADES:
            message[channel] = list(self.channels["trades"])
        return message


class FakeAlpaca(FakeServer[_Session]):
    def __init__(self, key: str, secret: str, symbol_limit: int | None = None) -> None:
        super().__init__()
        self.key, self.secret = key, secret
        self.symbol_limit = symbol_limit
        self.refused_channels: set[str] = set()
        self.auth_timeout = 10.0
        self.connections = 0
        self.auth_failures = 0
        self.requests: list[dict[str, Any]] = []
        self.subscriptions: list[dict[str, list[str]]] = []  # each connection's, confirmed
        self._trade_id = 0

    async def serve(self, socket: ServerConnection) -> None:
        session = _Session(socket)
        self.connections += 1
        self.clients[socket] = session
        confirmed: dict[str, list[str]] = {}
        self.subscriptions.append(confirmed)
        self.changed()
        try:
            await self._send(session, [{"T": "success", "msg": "connected"}])
            async with asyncio.timeout(self.auth_timeout) as deadline:
                async for raw in socket:
                    await self._answer(session, raw, confirmed)
                    if session.authenticated:
                        deadline.reschedule(None)
        except TimeoutError:
            await self._error(session, 404, "auth timeout")
            await socket.close()
        except ConnectionClosed:
            pass
        finally:
            self.clients.pop(socket, None)
            self.changed()

    async def _answer(
        self, session: _Session, raw: str | bytes, confirmed: dict[str, list[str]]
    ) -> None:
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            await self._error(session, 400, "invalid syntax")
            return
        self.requests.append(request)
        action = request.get("action")
        if action == "auth":
            await self._authenticate(session, request)
        elif action in ("subscribe", "unsubscribe"):
            await self._subscribe(session, request, confirmed)
        else:
            await self._error(session, 400, "invalid syntax")
        self.changed()

    async def _authenticate(self, session: _Session, request: dict[str, Any]) -> None:
        if session.authenticated:
            await self._error(session, 403, "already authenticated")
        elif (request.get("key"), request.get("secret")) != (self.key, self.secret):
            self.auth_failures += 1
            await self._error(session, 402, "auth failed")
        elif any(other.authenticated for other in self.clients.values()):
            await self._error(session, 406, "connection limit exceeded")
        else:
            session.authenticated = True
            await self._send(session, [{"T": "success", "msg": "authenticated"}])

    async def _subscribe(
        self, session: _Session, request: dict[str, Any], confirmed: dict[str, list[str]]
    ) -> None:
        if not session.authenticated:
            await self._error(session, 401, "not authenticated")
            return
        asked = {c: request[c] for c in CHANNELS if c in request}
        unknown = set(request) - {"action", *CHANNELS}
        if unknown or not all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in asked.values()
        ):
            await self._error(session, 400, "invalid syntax")
            return
        if any(asked.get(channel) for channel in self.refused_channels):
            await self._error(session, 410, "invalid subscribe action for this feed")
            return
        channels = {c: list(symbols) for c, symbols in session.channels.items()}
        for channel, symbols in asked.items():
            if request["action"] == "subscribe":
                channels[channel] += [s for s in symbols if s not in channels[channel]]
            else:
                channels[channel] = [s for s in channels[channel] if s not in symbols]
        limited = set(channels["trades"]) | set(channels["quotes"])
        if self.symbol_limit is not None and len(limited) > self.symbol_limit:
            await self._error(session, 405, "symbol limit exceeded")
            return
        session.channels = channels
        confirmed.clear()
        confirmed.update(channels)
        await self._send(session, [session.confirmation()])

    async def _send(self, session: _Session, message: list[dict[str, Any]] | str) -> None:
        raw = message if isinstance(message, str) else json.dumps(message)
        await self.send_to(session.socket, raw)

    async def _error(self, session: _Session, code: int, msg: str) -> None:
        await self._send(session, [{"T": "error", "code": code, "msg": msg}])

    async def _push(self, channel: str, symbol: str, message: str) -> None:
        """A data point (its JSON text, numbers as written) to the symbol's subscribers."""
        for session in list(self.clients.values()):
            if session.wants(channel, symbol):
                await self._send(session, f"[{message}]")

    # --- what tests send ---

    async def trade(
        self, symbol: str, price: str, size: int = 100, time: str = TIME, exchange: str = "V"
    ) -> None:
        self._trade_id += 1
        await self._push(
            "trades",
            symbol,
            f'{{"T":"t","i":{self._trade_id},"S":"{symbol}","x":"{exchange}","p":{price},'
            f'"s":{size},"c":["@"],"t":"{time}","z":"C"}}',
        )

    async def quote(
        self,
        symbol: str,
        bid: str,
        ask: str,
        *,
        bid_size: int = 1,
        ask_size: int = 1,
        time: str = TIME,
    ) -> None:
        await self._push(
            "quotes",
            symbol,
            f'{{"T":"q","S":"{symbol}","bx":"V","bp":{bid},"bs":{bid_size},"ax":"V",'
            f'"ap":{ask},"as":{ask_size},"c":["R"],"t":"{time}","z":"C"}}',
        )

    async def bar(
        self, symbol: str, ohlc: tuple[str, str, str, str], volume: int, kind: str = "b"
    ) -> None:
        o, h, low, c = ohlc
        channel = {"b": "bars", "u": "updatedBars", "d": "dailyBars"}[kind]
        await self._push(
            channel,
            symbol,
            f'{{"T":"{kind}","S":"{symbol}","o":{o},"h":{h},"l":{low},"c":{c},"v":{volume},'
            f'"t":"2026-01-02T15:30:00Z","n":12,"vw":{c}}}',
        )

    async def status(
        self, symbol: str, code: str, message: str, reason: str = "", reason_message: str = ""
    ) -> None:
        fields = {"T": "s", "S": symbol, "sc": code, "sm": message, "rc": reason}
        fields |= {"rm": reason_message, "t": TIME, "z": "C"}
        await self._push("statuses", symbol, json.dumps(fields))

    async def luld(self, symbol: str, up: str, down: str, indicator: str = "B") -> None:
        await self._push(
            "lulds",
            symbol,
            f'{{"T":"l","S":"{symbol}","u":{up},"d":{down},"i":"{indicator}","t":"{TIME}",'
            f'"z":"C"}}',
        )

    async def error(self, code: int, msg: str) -> None:
        """An error message to every connection."""
        for session in list(self.clients.values()):
            await self._error(session, code, msg)

    async def wait_subscribed(self, connections: int, seconds: float = 10) -> None:
        """Until the `connections`-th connection has a confirmed subscription."""
        await self.wait_subscribed_in(self.subscriptions, connections, 1, seconds)


@asynccontextmanager
async def fake_alpaca(
    key: str = "test-key", secret: str = "test-secret", symbol_limit: int | None = None
) -> AsyncIterator[FakeAlpaca]:
    async with serving(FakeAlpaca(key, secret, symbol_limit), "/v2/iex") as alpaca:
        yield alpaca
