"""Polygon's (now Massive's) stocks WebSocket: trades, quotes, second and minute aggregates.

The protocol (https://massive.com/docs/websocket/quickstart, .../websocket/stocks/trades,
quotes, aggregates-per-second, aggregates-per-minute; the official client's spec,
massive-com/client-python `.massive/websocket.json`): the server greets each connection with
`[{"ev":"status","status":"connected",...}]`; the client sends `{"action":"auth","params":KEY}`
(this adapter as soon as it connects) and is answered `auth_success`, `auth_failed` or
`auth_timeout`; then it subscribes channels
(`{"action":"subscribe","params":"T.AAPL,Q.AAPL,A.AAPL,AM.AAPL"}`, answered
`success` "subscribed to: ..."). Every message is a JSON array of events, each tagged by `ev`:

- `T`, a trade: `sym`, `p` price, `s` size, `c` sale conditions, `t` SIP time (Unix ms),
  `x` exchange, `i` trade id, `z` tape, `q` sequence → `TradeEvent`, unless a sale condition
  says the print must not set the last price (`NOT_A_LAST_SALE`): then it is skipped.
- `Q`, the NBBO: `sym`, `bp`/`ap` prices, `bs`/`as` sizes, `t` → `QuoteEvent`. Since
  2025-11-03 the sizes are shares, no longer round lots of 100 (polygon.io/blog/
  change-stocks-quotes-round-lots-to-shares); they are passed on as sent. A quote with an
  empty side (price 0) has no touch to show and is skipped.
- `A` and `AM`, aggregates over one second or minute: `o`/`h`/`l`/`c`, `v`, `s` start (Unix ms)
  → `BarEvent` ("1s", "1m"), recorded, not published (Trado builds candles from trades).
- `status`: `connected`, `auth_*`, `success`, `error`, and the disconnect reasons
  `max_connections`, `force_disconnect`, `slow_consumer`.

The stocks stream has no halt or resume message: `LULD` carries price bands (a limit state is
no halt) and `NOI` auction imbalances; both are read as known and passed over, and neither is
subscribed. So this adapter emits no `StatusEvent`.

Numbers are read exactly (JSON floats as Decimal) and timestamps exactly (whole
milliseconds). Anything unreadable is counted (`trado_feed_bad_messages_total{feed="polygon"}`)
and skipped, one event at a time. A refused key (`auth_failed`) is logged as an error and
retried after a long wait (`backoff.refused`, growing to `backoff.refused_maximum`), as is
`max_connections` (the key's one connection is in use elsewhere; reconnecting at once would
take it back and start a tug of war); any other loss is retried after `backoff.initial`,
doubling up to `backoff.maximum`, with jitter, and every channel is subscribed again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from settings import Settings
from streaming.errors import BadTick
from streaming.feeds.connection import Backoff, ConnectionEnded, Refused, Working, keep_connected
from streaming.feeds.market import BarEvent, EventSink, MarketEvent, QuoteEvent, TradeEvent
from streaming.metrics import FEED_BAD_MESSAGES

log = logging.getLogger(__name__)

NAME = "polygon"
REAL_TIME_URL = "wss://socket.massive.com/stocks"  # the docs' and official client's default
DELAYED_URL = "wss://delayed.massive.com/stocks"  # 15 minutes late (the spec: no quotes there)
CHANNELS = ("T", "Q", "A", "AM")  # trades, quotes, second and minute aggregates

# Polygon's sale condition ids (polygon.io/glossary/us/stocks/conditions-indicators) whose
# trades must not set the consolidated last price: "Update Last: No" (2 average price, 7 cash
# sale, 13 extended hours sold out of sequence, 15/16 market center official close/open, 20
# next day, 21 price variation, 37 odd lot, 52 contingent, 53 qualified contingent), "No
# unless the day's first" (5 bunched sold, 10 derivatively priced, 22 prior reference price,
# 29 seller, 33 sold out of sequence; taken as no), 38 a corrected consolidated close (not a
# new trade), and 44/46/48/49/54 (cancelled, correction, as-of correction, as-of cancel,
# errored: listed in the glossary, their use on the stream undocumented). Trado has no
# volume-only trade, so these are skipped whole: the day's volume leaves them out. Form T
# (12, pre- and after-hours trades) is kept on purpose, or nothing would move outside 9:30-16:00.
NOT_A_LAST_SALE = frozenset({2, 5, 7, 10, 13, 15, 16, 20, 21, 22, 29, 33, 37, 38, 52, 53})
NOT_A_LAST_SALE |= frozenset({44, 46, 48, 49, 54})

MAX_MESSAGE_BYTES = 16 * 2**20  # a busy second's batch of events, with room (websockets: 1 MiB)
PASSED_OVER = frozenset({"LULD", "NOI", "FMV"})  # known stocks events Trado has no use for
_BARS = {"A": "1s", "AM": "1m"}
_DISCONNECTS = frozenset({"max_connections", "force_disconnect", "slow_consumer"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BACKOFF = Backoff(refused=60.0, refused_maximum=900.0)  # a refusal: from 1 min up to 15


@dataclass(frozen=True, slots=True)
class Status:
    """A `status` event: what the server says of the connection or a request."""

    status: str
    message: str


@dataclass(slots=True)
class Parsed:
    """What one message (a JSON array of events) holds: market events and statuses in order
    (`items`), the reasons its unreadable events were refused, and how many known events were
    passed over (trades that are no last sale, one-sided quotes, LULD, imbalances)."""

    items: list[MarketEvent | Status] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    passed_over: int = 0


def parse_message(raw: str | bytes) -> Parsed:
    """Each event of one message read on its own, so a bad one costs only itself; BadTick
    when the message as a whole is not a JSON array."""
    try:
        message = json.loads(raw, parse_float=Decimal)
    except ValueError as error:
        raise BadTick(f"not JSON: {error}") from None
    if not isinstance(message, list):
        raise BadTick(f"not a JSON array of events: {str(raw)[:200]!r}")
    parsed = Parsed()
    for event in message:
        try:
            item = parse_event(event)
        except BadTick as error:
            parsed.bad.append(str(error))
            continue
        if item is None:
            parsed.passed_over += 1
        else:
            parsed.items.append(item)
    return parsed


def parse_event(event: object) -> MarketEvent | Status | None:
    """One event as a market event or a status; None for a known event Trado passes over;
    BadTick when unreadable."""
    if not isinstance(event, dict):
        raise BadTick(f"an event that is not an object: {event!r}")
    kind = event.get("ev")
    try:
        if kind == "T":
            return _trade(event)
        if kind == "Q":
            return _quote(event)
        if kind in _BARS:
            return _bar(event, _BARS[kind])
        if kind == "status":
            return Status(_text(event, "status"), str(event.get("message", "")))
    except (KeyError, ValueError, TypeError) as error:
        raise BadTick(f"bad {kind} event {event!r}: {error}") from None
    if kind in PASSED_OVER:
        return None
    raise BadTick(f"unknown event type {kind!r}")


def _trade(event: dict[str, Any]) -> TradeEvent | None:
    conditions = event.get("c") or []
    if not isinstance(conditions, list):
        raise ValueError("c is not a list")
    if NOT_A_LAST_SALE.intersection(conditions):
        log.debug(
            "%s trade with conditions %s: no last sale, passed over", event["sym"], conditions
        )
        return None
    return TradeEvent(
        symbol=_text(event, "sym"),
        price=_number(event, "p"),
        size=_number(event, "s"),
        time=_millis(event, "t"),
    )


def _quote(event: dict[str, Any]) -> QuoteEvent | None:
    bid, ask = _number(event, "bp"), _number(event, "ap")
    if bid == 0 or ask == 0:
        log.debug(
            "%s quote with an empty side (bid %s, ask %s): passed over", event["sym"], bid, ask
        )
        return None
    return QuoteEvent(
        symbol=_text(event, "sym"),
        bid=bid,
        ask=ask,
        time=_millis(event, "t"),
        bid_size=_number(event, "bs"),
        ask_size=_number(event, "as"),
    )


def _bar(event: dict[str, Any], interval: str) -> BarEvent:
    return BarEvent(
        symbol=_text(event, "sym"),
        interval=interval,
        open=_number(event, "o"),
        high=_number(event, "h"),
        low=_number(event, "l"),
        close=_number(event, "c"),
        volume=_number(event, "v"),
        time=_millis(event, "s"),
    )


def _text(event: dict[str, Any], name: str) -> str:
    value = event[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is not a name: {value!r}")
    return value


def _number(event: dict[str, Any], name: str) -> Decimal:
    """A JSON number, exact (ints as they are, floats parsed as Decimal)."""
    value = event[name]
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"{name} is not a number: {value!r}")
    return Decimal(value)


def _millis(event: dict[str, Any], name: str) -> datetime:
    """Unix milliseconds as an exact UTC time."""
    value = event[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} is not Unix milliseconds: {value!r}")
    return _EPOCH + timedelta(milliseconds=value)


@dataclass
class PolygonAdapter:
    """The `Adapter` for Polygon's stocks stream (see the module docstring)."""

    api_key: str
    symbols: Sequence[str]
    url: str = REAL_TIME_URL
    backoff: Backoff = BACKOFF
    name: str = NAME
    bad_messages: int = 0
    passed_over: int = 0
    connections: int = 0
    refusals: int = 0  # auth_failed, max_connections and the like, all told

    @property
    def subscription(self) -> str:
        """Every channel of every symbol, as one subscribe's `params`."""
        return ",".join(f"{channel}.{symbol}" for symbol in self.symbols for channel in CHANNELS)

    async def stream(self, emit: EventSink) -> None:
        """Stream until cancelled, reconnecting whenever the connection is lost (see the module
        docstring for the waits); a wait starts from the first again once market data flows."""
        await keep_connected(self.name, partial(self._connection, emit), self.backoff)

    async def _connection(self, emit: EventSink, working: Working) -> None:
        """One connection: authenticated, subscribed, its events handed on until it ends."""
        async with connect(
            self.url, open_timeout=10, compression=None, max_size=MAX_MESSAGE_BYTES
        ) as socket:
            self.connections += 1
            # At once, as the official client does after the greeting: the docs name the
            # greeting's status both "connected" (quickstart) and "success" (the spec).
            await socket.send(json.dumps({"action": "auth", "params": self.api_key}))
            async for raw in socket:
                if await self._handle(raw, socket, emit):
                    working()  # data flows again: reset the backoff

    async def _handle(self, raw: str | bytes, socket: ClientConnection, emit: EventSink) -> bool:
        """Hand on one message's events and answer its statuses; whether it carried market
        data (a status alone does not reset the backoff: the greeting comes before a refusal)."""
        try:
            parsed = parse_message(raw)
        except BadTick as error:
            self._bad(str(error))
            return False
        for reason in parsed.bad:
            self._bad(reason)
        self.passed_over += parsed.passed_over
        flowing = parsed.passed_over > 0
        for item in parsed.items:
            if isinstance(item, Status):
                await self._answer(item, socket)
            else:
                await emit(item)
                flowing = True
        return flowing

    async def _answer(self, status: Status, socket: ClientConnection) -> None:
        """Act on one status: subscribe once authenticated, give up the connection when refused
        or told it ends, log the rest."""
        match status.status:
            case "connected":
                log.info("polygon: %s", status.message)
            case "auth_success":
                await socket.send(json.dumps({"action": "subscribe", "params": self.subscription}))
                log.info("polygon authenticated; subscribing %d symbols", len(self.symbols))
            case "success":
                log.info("polygon: %s", status.message)
            case "auth_failed":
                self.refusals += 1
                raise Refused(
                    f"auth_failed ({status.message}): check POLYGON_API_KEY and that its plan "
                    "includes the stocks WebSocket"
                )
            case "max_connections":
                self.refusals += 1
                raise Refused(
                    f"max_connections ({status.message}): the key's one connection is in use "
                    "elsewhere; close it"
                )
            case "auth_timeout" | "force_disconnect" | "slow_consumer":
                raise ConnectionEnded(f"ended by polygon: {status.status} ({status.message})")
            case "error" | "auth_required":
                log.error("polygon: %s (%s)", status.status, status.message)
            case _:
                log.warning("polygon status %r: %s", status.status, status.message)

    def _bad(self, reason: str) -> None:
        self.bad_messages += 1
        FEED_BAD_MESSAGES.labels(self.name).inc()
        log.warning("skipping a polygon message: %s", reason)


def from_settings(settings: Settings, symbols: Sequence[str]) -> PolygonAdapter:
    """The adapter for POLYGON_API_KEY and `symbols`, on PROVIDER_URL if set (e.g. the
    delayed feed, wss://delayed.massive.com/stocks), else the real-time feed."""
    if settings.polygon_api_key is None:
        raise ValueError("PROVIDER polygon needs POLYGON_API_KEY")
    return PolygonAdapter(
        api_key=settings.polygon_api_key.get_secret_value(),
        symbols=list(symbols),
        url=settings.provider_url or REAL_TIME_URL,
    )
