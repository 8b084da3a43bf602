"""An adapter for an external market-data WebSocket (Finnhub's trade stream shape).

It connects, subscribes each symbol (`{"type": "subscribe", "symbol": "AAPL"}`), and maps
trade messages (`{"type": "trade", "data": [{"s": "AAPL", "p": 1.5, "v": 100, "t": <epoch
ms>}]}`; optional `b`/`a` give the touch, else bid = ask = price) to ticks. Numbers are read
exactly (never through float). Status messages (`{"type": "status", "data": [{"s": "AAPL",
"halted": true, "t": <epoch ms>}]}`, the trading-status / halt messages of Alpaca's and
Polygon's streams, reduced to this shape) become status ticks at the symbol's last trade
price: `halted` true halts the symbol, false resumes it (one before any trade is skipped).
`ping` messages are ignored; anything else unreadable is
counted and logged, never fatal. A lost connection is retried with exponential backoff and
jitter, and every symbol is subscribed again on the new connection.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from tenacity import AttemptManager
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from models.types import utcnow
from streaming.errors import BadTick
from streaming.feeds import TickSink
from streaming.metrics import FEED_BAD_MESSAGES, FEED_RECONNECTS
from streaming.retry import equal_jitter, retrying, start_over
from streaming.tick import Tick

log = logging.getLogger(__name__)


class _ClosedByProvider(Exception):
    """The provider ended the connection cleanly: reconnect, as after any loss."""


@dataclass(frozen=True, slots=True)
class ProviderTrade:
    """One trade as the provider sends it, exact."""

    symbol: str
    price: Decimal
    volume: Decimal
    time: datetime
    bid: Decimal | None = None
    ask: Decimal | None = None
    halted: bool | None = None  # set: a status message, not a trade (price is unused)

    @classmethod
    def status(cls, data: dict[str, Any]) -> ProviderTrade:
        symbol, halted, millis = data.get("s"), data.get("halted"), data.get("t")
        if not isinstance(symbol, str) or not isinstance(halted, bool):
            raise BadTick(f"bad status {data!r}")
        if not isinstance(millis, int | Decimal) or isinstance(millis, bool):
            raise BadTick(f"bad status time {data!r}")
        time = datetime.fromtimestamp(float(millis) / 1000, UTC)
        return cls(symbol.upper(), Decimal(0), Decimal(0), time, halted=halted)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProviderTrade:
        try:
            symbol, price, volume, millis = data["s"], data["p"], data.get("v", 0), data["t"]
        except (KeyError, TypeError) as missing:
            raise BadTick(f"trade without {missing}") from None
        if not isinstance(symbol, str) or not isinstance(millis, int | Decimal):
            raise BadTick(f"bad trade {data!r}")
        return cls(
            symbol=symbol.upper(),
            price=_number(price, "p"),
            volume=_number(volume, "v"),
            time=datetime.fromtimestamp(float(millis) / 1000, UTC),
            bid=_number(data["b"], "b") if data.get("b") is not None else None,
            ask=_number(data["a"], "a") if data.get("a") is not None else None,
        )


def parse_message(raw: str | bytes) -> list[ProviderTrade]:
    """The trades in one provider message (none for pings); BadTick when unreadable."""
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
    read = ProviderTrade.from_dict if kind == "trade" else ProviderTrade.status
    return [read(item) if isinstance(item, dict) else read({}) for item in message["data"]]


def _number(raw: object, name: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | Decimal | str):
        raise BadTick(f"bad {name} {raw!r}")
    try:
        return Decimal(raw)
    except ArithmeticError:
        raise BadTick(f"bad {name} {raw!r}") from None


@dataclass
class ProviderFeed:
    url: str
    symbols: Sequence[str]
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    bad_messages: int = 0
    connections: int = 0
    _last_trades: dict[str, ProviderTrade] = field(default_factory=dict)  # for status ticks

    async def run(self, sink: TickSink) -> None:
        """Stream until cancelled, reconnecting whenever the connection is lost: after
        `initial_backoff`, doubling up to `max_backoff` while connections fail, and from
        `initial_backoff` again once data flows; a random half to all of it is waited (jitter:
        no thundering herd)."""
        async for attempt in retrying(
            "provider connection",
            retry_on=(OSError, TimeoutError, WebSocketException, _ClosedByProvider),
            failures=FEED_RECONNECTS,
            wait=equal_jitter(self.initial_backoff, self.max_backoff),
            report=_connection_lost,
        ):
            with attempt:
                await self._stream(sink, attempt)

    async def _stream(self, sink: TickSink, attempt: AttemptManager) -> None:
        """One connection: every symbol subscribed, its trades handed on until it ends."""
        async with connect(self.url, open_timeout=10, compression=None) as socket:
            self.connections += 1
            await self._subscribe(socket)
            log.info("provider connected, %d symbols subscribed", len(self.symbols))
            async for raw in socket:
                start_over(attempt)  # data flows again: reset the backoff
                await self._handle(raw, sink)
        raise _ClosedByProvider

    async def _subscribe(self, socket: ClientConnection) -> None:
        for symbol in self.symbols:
            await socket.send(json.dumps({"type": "subscribe", "symbol": symbol}))

    async def _handle(self, raw: str | bytes, sink: TickSink) -> None:
        received = utcnow()
        try:
            trades = parse_message(raw)
            ticks = [self._tick(trade, received) for trade in trades]
        except BadTick as error:
            self.bad_messages += 1
            FEED_BAD_MESSAGES.labels("provider").inc()
            log.warning("skipping a provider message: %s", error)
            return
        for tick in ticks:
            await sink(tick)

    def _tick(self, trade: ProviderTrade, received: datetime) -> Tick:
        """Validated like any tick on the log; unnumbered (the feed sender numbers it)."""
        if trade.halted is not None:
            return self._status_tick(trade, received)
        self._last_trades[trade.symbol] = trade
        return Tick.from_dict(
            {
                "symbol": trade.symbol,
                "price": str(trade.price),
                "bid": str(trade.bid if trade.bid is not None else trade.price),
                "ask": str(trade.ask if trade.ask is not None else trade.price),
                "volume": str(trade.volume),
                "sequence": 0,
                "exchange_ts": trade.time.isoformat(),
                "received_ts": received.isoformat(),
            }
        )

    def _status_tick(self, status: ProviderTrade, received: datetime) -> Tick:
        last = self._last_trades.get(status.symbol)
        if last is None:
            raise BadTick(f"status of {status.symbol} before any trade of it")
        tick = self._tick(replace(last, time=status.time), received)
        return msgspec.structs.replace(tick, halted=status.halted, volume=Decimal(0))


def _connection_lost(error: BaseException, _attempt: int, delay: float) -> None:
    reason = "closed by the provider" if isinstance(error, _ClosedByProvider) else repr(error)
    log.warning("provider connection lost (%s); reconnecting in %.2fs", reason, delay)
