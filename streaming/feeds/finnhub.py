"""Finnhub's trade stream (`wss://ws.finnhub.io?token=...`) as market events.

It connects, subscribes each symbol (`{"type": "subscribe", "symbol": "AAPL"}`), and maps
trade messages (`{"type": "trade", "data": [{"s": "AAPL", "p": 1.5, "v": 100, "t": <epoch
ms>, "c": [...]}]}`) to `TradeEvent`s; the trade conditions `c` are not read. Numbers are read
exactly (never through float). (Finnhub's docs, https://finnhub.io/docs/api/websocket-trades:
exchanges that stream no trades, some forex and crypto ones, send price updates with `v` 0,
which become trades of size 0; one API key holds one connection at a time, so a recorder
and a live feed on the same key take it from each other.)

What Finnhub lacks: its stream carries trades only, no quotes and no depth. So a symbol's
bid and ask are its last trade price (`bid = ask = price`, a zero spread) and its book is the
simulated one (`streaming/book.py`). A trade that carries the optional `b`/`a` (not Finnhub's:
a relay's extension) is preceded by a `QuoteEvent` with them, so the touch is the provider's
(a side missing is the trade price); a symbol's touch then stays that quote's until the next.

Status messages (`{"type": "status", "data": [{"s": "AAPL", "halted": true, "t": <epoch
ms>}]}`, not Finnhub's either: the trading-status / halt messages of other streams reduced to
this shape) become `StatusEvent`s: `halted` true halts the symbol, false resumes it.
`ping` messages are ignored; an `error` message (`{"type": "error", "msg": "..."}`) and
anything else unreadable is counted and logged, never fatal. A lost connection is retried with
exponential backoff and jitter, and every symbol is subscribed again on the new connection.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from settings import Settings
from streaming.errors import BadTick
from streaming.feeds.connection import Backoff, Working, keep_connected
from streaming.feeds.market import EventSink, MarketEvent, QuoteEvent, StatusEvent, TradeEvent
from streaming.metrics import FEED_BAD_MESSAGES

log = logging.getLogger(__name__)


def parse_message(raw: str | bytes) -> list[MarketEvent]:
    """The events in one message (none for pings); BadTick when any part is unreadable."""
    try:
        message = json.loads(raw, parse_float=Decimal)
    except ValueError as error:
        raise BadTick(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise BadTick("not a JSON object")
    kind = message.get("type")
    if kind == "ping":
        return []
    if kind == "error":
        raise BadTick(f"provider error: {message.get('msg')!r}")
    if kind not in ("trade", "status") or not isinstance(message.get("data"), list):
        raise BadTick(f"unexpected message type {kind!r}")
    read = _trade if kind == "trade" else _status
    events: list[MarketEvent] = []
    for item in message["data"]:
        try:
            events.extend(read(item if isinstance(item, dict) else {}))
        except ValueError as error:  # an event's own check: a price of 0, a NaN size
            raise BadTick(f"{error} in {item!r}") from None
    return events


def _trade(data: dict[str, Any]) -> list[MarketEvent]:
    """The trade, after the quote its `b`/`a` give when it has them."""
    try:
        symbol, price, size = data["s"], _number(data["p"], "p"), _number(data.get("v", 0), "v")
    except KeyError as missing:
        raise BadTick(f"trade without {missing}") from None
    if not isinstance(symbol, str):
        raise BadTick(f"bad trade {data!r}")
    symbol, time = symbol.upper(), _time(data.get("t"), data)
    trade = TradeEvent(symbol, price, size, time)
    bid, ask = data.get("b"), data.get("a")
    if bid is None and ask is None:
        return [trade]
    touch = QuoteEvent(
        symbol,
        _number(bid, "b") if bid is not None else price,
        _number(ask, "a") if ask is not None else price,
        time,
    )
    return [touch, trade]


def _status(data: dict[str, Any]) -> list[MarketEvent]:
    symbol, halted = data.get("s"), data.get("halted")
    if not isinstance(symbol, str) or not isinstance(halted, bool):
        raise BadTick(f"bad status {data!r}")
    return [StatusEvent(symbol.upper(), halted, _time(data.get("t"), data))]


def _time(millis: object, data: dict[str, Any]) -> datetime:
    if isinstance(millis, bool) or not isinstance(millis, int | Decimal):
        raise BadTick(f"bad time {data!r}")
    try:
        return datetime.fromtimestamp(float(millis) / 1000, UTC)
    except (OverflowError, ValueError, OSError):
        raise BadTick(f"bad time {data!r}") from None


def _number(raw: object, name: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | Decimal | str):
        raise BadTick(f"bad {name} {raw!r}")
    try:
        return Decimal(raw)
    except ArithmeticError:
        raise BadTick(f"bad {name} {raw!r}") from None


@dataclass
class FinnhubAdapter:
    """Finnhub's stream as an `Adapter` (see the module's docstring)."""

    url: str
    symbols: Sequence[str]
    backoff: Backoff = field(default_factory=Backoff)
    name: str = "finnhub"
    bad_messages: int = 0
    connections: int = 0

    @classmethod
    def from_settings(cls, settings: Settings, symbols: Sequence[str]) -> FinnhubAdapter:
        """PROVIDER_URL, with the access token in its query string (Finnhub has no other
        way of giving it: `wss://ws.finnhub.io?token=...`)."""
        if not settings.provider_url:
            raise ValueError("PROVIDER_URL is not set (Finnhub: wss://ws.finnhub.io?token=...)")
        return cls(settings.provider_url, list(symbols))

    async def stream(self, emit: EventSink) -> None:
        """Stream until cancelled, reconnecting whenever the connection is lost (see
        `keep_connected`); the backoff starts over whenever data flows."""
        await keep_connected(self.name, partial(self._connection, emit), self.backoff)

    async def _connection(self, emit: EventSink, working: Working) -> None:
        """One connection: every symbol subscribed, its messages handed on until it ends."""
        async with connect(self.url, open_timeout=10, compression=None) as socket:
            self.connections += 1
            await self._subscribe(socket)
            log.info("finnhub connected, %d symbols subscribed", len(self.symbols))
            async for raw in socket:
                working()  # data flows again: reset the backoff
                await self.handle(raw, emit)

    async def _subscribe(self, socket: ClientConnection) -> None:
        for symbol in self.symbols:
            await socket.send(json.dumps({"type": "subscribe", "symbol": symbol}))

    async def handle(self, raw: str | bytes, emit: EventSink) -> None:
        """One message's events, in order; an unreadable message is counted and skipped
        whole (none of its events go)."""
        try:
            events = parse_message(raw)
        except BadTick as error:
            self.bad_messages += 1
            FEED_BAD_MESSAGES.labels(self.name).inc()
            log.warning("skipping a finnhub message: %s", error)
            return
        for event in events:
            await emit(event)
