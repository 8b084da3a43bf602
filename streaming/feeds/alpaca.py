"""Alpaca Market Data v2, stocks stream (`wss://stream.data.alpaca.markets/v2/{feed}`): trades,
quotes, minute bars, trading statuses and LULD bands, as market events.

The protocol (https://docs.alpaca.markets/docs/real-time-stock-pricing-data, the general part
at https://docs.alpaca.markets/docs/streaming-market-data; in Alpaca's docs repository
`alpacahq/alpaca-docs`, content/api-references/market-data-api/stock-pricing-data/realtime.md):
every server message is a JSON array of objects tagged by `T`. On connecting the server says
`[{"T":"success","msg":"connected"}]`; the client sends `{"action":"auth","key":...,
"secret":...}` and gets `[{"T":"success","msg":"authenticated"}]` or an error; then
`{"action":"subscribe","trades":[...],"quotes":[...],"bars":[...],"statuses":[...],
"lulds":[...]}`, answered by `[{"T":"subscription",...}]` listing every channel's symbols.
Control messages (`success`, `subscription`, `error`) come one to an array; data points may
come many to an array.

What each kind becomes:
- `t` trade (`S`, `p`, `s`, `t`; `i`, `x`, `c`, `z` unused) → `TradeEvent`.
- `q` quote (`bp`, `bs`, `ap`, `as`, `t`) → `QuoteEvent`. Quote sizes are in round lots
  (Alpaca's answer on its forum: a size of 15 is 1,500 shares), so they are multiplied by
  `round_lot` (100) to give shares, as the trades' sizes are. A quote with a zero price on one
  side (IEX often quotes one side only) cannot be a touch: it is skipped and counted
  (`one_sided_quote`), not passed off with a stale side.
- `b` minute bar, `u` updated (late-corrected) minute bar, `d` daily bar → `BarEvent`
  (recorded, not published: Trado builds candles from the trades).
- `s` trading status (`sc` status code, `sm`, `rc` reason code, `rm`) → `StatusEvent` where the
  code halts or resumes trading: `H` trading halt and `P` volatility trading pause (UTP, tape
  C), `2` trading halt (CTA, tapes A and B; a LULD pause is a `2` with reason `M`) halt;
  `T` trading resumption (UTP) and `3` resume (CTA) resume. Every other code (a quotation
  resumption `Q`, which still bars trading; price indications, imbalances, short-sale
  restriction...) leaves the halt as it was and is counted as skipped (`status`).
- `l` LULD (`u` limit-up price, `d` limit-down price, `i` indicator): the bands a price may
  trade within, not a halt (a LULD pause arrives as a status). Kept per symbol in `bands`
  and logged at debug level; Trado publishes no bands.
- `c` trade correction, `x` trade cancel/error (sent with trades): Trado cannot amend a
  published trade, so each is skipped, counted and logged.
- `error` (`code`, `msg`): counted by code (`trado_feed_provider_errors_total`) and logged. In
  reply to auth or subscribe, the connection is given up: after 402 auth failed, 406
  connection limit exceeded (one connection per account), 405 symbol limit exceeded, 408, 409
  insufficient subscription, 410 or 411 the next attempt waits the longer refused backoff
  (`backoff.refused`, doubling to `backoff.refused_maximum`), logged as an error naming what
  to fix; others
  (404 auth timeout, 500) reconnect as after any loss; except that a 410 in reply to the
  subscription (a channel this feed does not carry, as statuses may not be on every feed)
  is answered by subscribing trades, quotes and bars alone. During the stream, 407 slow client
  (the server may drop us next) and any other error are counted and logged.
Anything unreadable (not JSON, not an array, a message without its fields, a price that is
not a positive number, a time that is not RFC 3339) is counted (`trado_feed_bad_messages_total`)
and skipped, one message at a time. Numbers are read as exact decimals; times (RFC 3339 with up
to nanoseconds) are cut to microseconds, never rounded up past the instant they name.

A lost connection is retried forever with capped exponential backoff and jitter; every new
connection authenticates and subscribes every symbol again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

import msgspec
from websockets.asyncio.client import ClientConnection, connect

from settings import Settings
from streaming.errors import BadTick
from streaming.feeds.connection import Backoff, ConnectionEnded, Refused, Working, keep_connected
from streaming.feeds.market import (
    BarEvent,
    BookEvent,
    EventSink,
    MarketEvent,
    Price,
    QuoteEvent,
    Size,
    StatusEvent,
    TradeEvent,
)
from streaming.metrics import (
    FEED_BAD_MESSAGES,
    FEED_PROVIDER_ERRORS,
    FEED_SKIPPED_MESSAGES,
)
from streaming.tick import Symbol

log = logging.getLogger(__name__)

STREAM_URL = "wss://stream.data.alpaca.markets/v2/{feed}"
CHANNELS = ("trades", "quotes", "bars", "statuses", "lulds")
CORE = frozenset({"trades", "quotes", "bars"})  # what every feed carries
ROUND_LOT = Decimal(100)
SLOW_CLIENT = 407
INVALID_FOR_FEED = 410

HALTING = frozenset({"H", "P", "2"})  # UTP halt, UTP volatility pause, CTA halt
RESUMING = frozenset({"T", "3"})  # UTP trading resumption, CTA resume

# Error codes after which trying again at once cannot help: the account, its plan or the
# configuration must change first (or the other connection close).
REFUSALS = {
    402: "Alpaca refused the credentials: check ALPACA_KEY_ID and ALPACA_SECRET_KEY",
    405: "Alpaca's symbol limit exceeded: the plan allows fewer symbols (IEX: 30 for trades "
    "and quotes); shorten PROVIDER_SYMBOLS",
    406: "Alpaca's connection limit exceeded: another connection of this account is open "
    "(one per account); close it or wait for it to drop",
    408: "this Alpaca account has no access to market data v2",
    409: "the Alpaca plan does not include this feed: check ALPACA_FEED (iex is free)",
    410: "Alpaca refused the subscription for this feed (a channel it does not carry)",
    411: "the Alpaca key lacks the scope for the data stream",
}


class _Head(msgspec.Struct):
    T: str


class _Trade(msgspec.Struct):
    S: Symbol
    p: Price
    s: Size
    t: str


class _Quote(msgspec.Struct):
    S: Symbol
    bp: Decimal  # 0: no bid
    bs: Size
    ap: Decimal  # 0: no ask
    ask_size: Size = msgspec.field(name="as")
    t: str


class _Bar(msgspec.Struct):
    S: Symbol
    o: Price
    h: Price
    l: Price  # noqa: E741 (Alpaca's name)
    c: Price
    v: Size
    t: str


class _Status(msgspec.Struct):
    S: Symbol
    sc: str
    t: str
    sm: str = ""
    rc: str = ""
    rm: str = ""


class _Luld(msgspec.Struct):
    S: Symbol
    u: Price
    d: Price
    t: str
    i: str = ""


class _Error(msgspec.Struct):
    code: int
    msg: str = ""


class _Success(msgspec.Struct):
    msg: str


@dataclass(frozen=True, slots=True)
class ProviderError:
    """An `error` message: `code` 400-499 for the client's doing, 500 for Alpaca's."""

    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Control:
    """A `success` message (`msg`: connected, authenticated) or a `subscription` one (the
    symbols of each channel now subscribed)."""

    kind: str
    msg: str = ""
    channels: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Bands:
    """A symbol's limit up-limit down price bands."""

    symbol: str
    up: Decimal
    down: Decimal
    indicator: str
    time: datetime


@dataclass(frozen=True, slots=True)
class Skipped:
    """A readable message Trado does not publish; `reason` labels the count."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    reason: str


Read = MarketEvent | ProviderError | Control | Bands | Skipped | Unreadable
MARKET_EVENTS = (TradeEvent, QuoteEvent, StatusEvent, BookEvent, BarEvent)

_FRAME = msgspec.json.Decoder(list[msgspec.Raw])
_HEAD = msgspec.json.Decoder(_Head)
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)


def parse_frame(raw: str | bytes, round_lot: Decimal = ROUND_LOT) -> list[Read]:
    """What one server message holds, in order; an unreadable part is an `Unreadable`."""
    try:
        messages = _FRAME.decode(raw)
    except msgspec.DecodeError as error:
        return [Unreadable(f"not a JSON array of messages: {error}")]
    return [parse_message(message, round_lot) for message in messages]


def parse_message(raw: msgspec.Raw | bytes, round_lot: Decimal = ROUND_LOT) -> Read:
    """One message of a server array, by its `T`."""
    try:
        kind = _HEAD.decode(raw).T
        reader = _READERS.get(kind)
        if reader is None:
            return Skipped("unknown", f"message type {kind!r}")
        return reader(raw, round_lot)
    except (msgspec.DecodeError, BadTick, ValueError) as error:  # ValueError: an event's check
        return Unreadable(f"{error}: {bytes(raw)[:300]!r}")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time in UTC, cut to microseconds (Python's resolution): nanoseconds are
    dropped (`fromisoformat` truncates digits past the sixth), never rounded into the next
    microsecond, second or day."""
    if _RFC3339.fullmatch(text) is None:
        raise BadTick(f"not an RFC 3339 time: {text!r}")
    return datetime.fromisoformat(text).astimezone(UTC)


def _trade(raw: msgspec.Raw | bytes, _lot: Decimal) -> Read:
    trade = msgspec.json.decode(raw, type=_Trade)
    return TradeEvent(trade.S.upper(), trade.p, trade.s, parse_time(trade.t))


def _quote(raw: msgspec.Raw | bytes, round_lot: Decimal) -> Read:
    quote = msgspec.json.decode(raw, type=_Quote)
    if not quote.bp or not quote.ap:
        return Skipped("one_sided_quote", f"{quote.S}: bid {quote.bp}, ask {quote.ap}")
    return QuoteEvent(
        quote.S.upper(),
        bid=quote.bp,
        ask=quote.ap,
        time=parse_time(quote.t),
        bid_size=quote.bs * round_lot,
        ask_size=quote.ask_size * round_lot,
    )


def _bar(interval: str) -> Callable[[msgspec.Raw | bytes, Decimal], Read]:
    def read(raw: msgspec.Raw | bytes, _lot: Decimal) -> Read:
        bar = msgspec.json.decode(raw, type=_Bar)
        return BarEvent(
            bar.S.upper(), interval, bar.o, bar.h, bar.l, bar.c, bar.v, parse_time(bar.t)
        )

    return read


def _status(raw: msgspec.Raw | bytes, _lot: Decimal) -> Read:
    status = msgspec.json.decode(raw, type=_Status)
    said = " ".join(part for part in (status.sc, status.sm) if part)
    if status.rc or status.rm:
        said += "; reason " + " ".join(part for part in (status.rc, status.rm) if part)
    if status.sc not in HALTING and status.sc not in RESUMING:
        return Skipped("status", f"{status.S}: {said}")
    halted = status.sc in HALTING
    return StatusEvent(status.S.upper(), halted, parse_time(status.t), reason=said)


def _luld(raw: msgspec.Raw | bytes, _lot: Decimal) -> Read:
    luld = msgspec.json.decode(raw, type=_Luld)
    return Bands(luld.S.upper(), luld.u, luld.d, luld.i, parse_time(luld.t))


def _skipped(reason: str) -> Callable[[msgspec.Raw | bytes, Decimal], Read]:
    def read(raw: msgspec.Raw | bytes, _lot: Decimal) -> Read:
        return Skipped(reason, bytes(raw)[:300].decode(errors="replace"))

    return read


def _error(raw: msgspec.Raw | bytes, _lot: Decimal) -> Read:
    error = msgspec.json.decode(raw, type=_Error)
    return ProviderError(error.code, error.msg)


def _success(raw: msgspec.Raw | bytes, _lot: Decimal) -> Read:
    return Control("success", msgspec.json.decode(raw, type=_Success).msg)


def _subscription(raw: msgspec.Raw | bytes, _lot: Decimal) -> Read:
    message = msgspec.json.decode(raw, type=dict[str, object])
    channels = {
        name: [str(symbol) for symbol in value]
        for name, value in message.items()
        if isinstance(value, list)
    }
    return Control("subscription", channels=channels)


_READERS: dict[str, Callable[[msgspec.Raw | bytes, Decimal], Read]] = {
    "t": _trade,
    "q": _quote,
    "b": _bar("1m"),
    "u": _bar("1m"),
    "d": _bar("1d"),
    "s": _status,
    "l": _luld,
    "c": _skipped("correction"),
    "x": _skipped("cancel_error"),
    "i": _skipped("imbalance"),
    "error": _error,
    "success": _success,
    "subscription": _subscription,
}


@dataclass
class AlpacaAdapter:
    """The stocks stream of one Alpaca account. `errors` (by code), `skipped` (by reason),
    `bad_messages`, `connections`, `subscribed` (the last confirmation) and `bands` (the
    latest LULD bands per symbol) say what it has seen."""

    url: str
    key_id: str
    secret_key: str = field(repr=False)
    symbols: Sequence[str]
    name: str = "alpaca"
    channels: Sequence[str] = CHANNELS
    round_lot: Decimal = ROUND_LOT
    backoff: Backoff = field(default_factory=Backoff)  # a refusal: from 30 s up to 10 min
    reply_timeout: float = 10.0
    connections: int = 0
    bad_messages: int = 0
    errors: Counter[int] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    subscribed: dict[str, list[str]] = field(default_factory=dict)
    bands: dict[str, Bands] = field(default_factory=dict)

    async def stream(self, emit: EventSink) -> None:
        """Stream until cancelled, reconnecting whenever the connection is lost or refused
        (see `keep_connected`), from the first wait again once a connection has subscribed."""
        await keep_connected(self.name, partial(self._session, emit), self.backoff)

    async def _session(self, emit: EventSink, working: Working) -> None:
        """One connection: welcomed, authenticated, subscribed, then read until it ends."""
        async with connect(self.url, open_timeout=self.reply_timeout, max_size=2**24) as socket:
            self.connections += 1
            await self._ask(socket, emit, "connected", None)
            auth = {"action": "auth", "key": self.key_id, "secret": self.secret_key}
            await self._ask(socket, emit, "authenticated", auth)
            await self._subscribe(socket, emit)
            working()  # a working connection: the next loss waits the least again
            log.info("alpaca: %d symbols subscribed at %s", len(self.symbols), self.url)
            async for raw in socket:
                for read in parse_frame(raw, self.round_lot):
                    await self._apply(read, emit)

    async def _subscribe(self, socket: ClientConnection, emit: EventSink) -> None:
        """Every symbol on every channel; should the feed refuse a channel (410), on trades,
        quotes and bars alone, rather than on nothing."""
        error = await self._expect(socket, emit, "subscription", self._subscription(self.channels))
        if error is not None and error.code == INVALID_FOR_FEED and set(self.channels) > CORE:
            log.warning(
                "alpaca: this feed refused %s; subscribing trades, quotes and bars only (no "
                "halts or LULD bands will show)",
                sorted(set(self.channels) - CORE),
            )
            error = await self._expect(socket, emit, "subscription", self._subscription(CORE))
        if error is not None:
            raise self._given_up(error, "subscription")

    def _subscription(self, channels: Iterable[str]) -> dict[str, object]:
        return {"action": "subscribe", **{channel: list(self.symbols) for channel in channels}}

    async def _ask(
        self, socket: ClientConnection, emit: EventSink, answer: str, request: object
    ) -> None:
        """`_expect`, giving the connection up on an error."""
        error = await self._expect(socket, emit, answer, request)
        if error is not None:
            raise self._given_up(error, answer)

    async def _expect(
        self, socket: ClientConnection, emit: EventSink, answer: str, request: object
    ) -> ProviderError | None:
        """Send `request` (if any) and read until the control message `answer` (connected,
        authenticated, subscription) arrives (None) or an error does (that error)."""
        if request is not None:
            await socket.send(json.dumps(request))
        async with asyncio.timeout(self.reply_timeout):
            while True:
                for read in parse_frame(await socket.recv(), self.round_lot):
                    if isinstance(read, ProviderError):
                        self._count_error(read)
                        return read
                    if isinstance(read, Control) and answer in (read.kind, read.msg):
                        self._confirmed(read)
                        return None
                    await self._apply(read, emit)

    def _confirmed(self, control: Control) -> None:
        if control.kind != "subscription":
            log.info("alpaca: %s", control.msg)
            return
        self.subscribed = control.channels
        for channel, symbols in control.channels.items():
            missing = set(self.symbols) - set(symbols)
            if channel in self.channels and missing and "*" not in symbols:
                log.warning("alpaca: %s not subscribed for %s", sorted(missing), channel)

    def _given_up(self, error: ProviderError, waiting_for: str) -> ConnectionEnded:
        what = f"error {error.code} {error.message!r} awaiting {waiting_for!r}"
        refusal = REFUSALS.get(error.code)
        return Refused(f"{refusal} ({what})") if refusal else ConnectionEnded(what)

    async def _apply(self, read: Read, emit: EventSink) -> None:
        """Hand a market event on; count and log everything else."""
        if isinstance(read, MARKET_EVENTS):
            await emit(read)
        elif isinstance(read, Bands):
            self.bands[read.symbol] = read
            log.debug(
                "alpaca: %s LULD bands %s-%s (%s)", read.symbol, read.down, read.up, read.indicator
            )
        elif isinstance(read, Skipped):
            self.skipped[read.reason] += 1
            FEED_SKIPPED_MESSAGES.labels(self.name, read.reason).inc()
            log.debug("alpaca: skipping a %s message: %s", read.reason, read.detail)
        elif isinstance(read, Unreadable):
            self.bad_messages += 1
            FEED_BAD_MESSAGES.labels(self.name).inc()
            log.warning("alpaca: skipping an unreadable message: %s", read.reason)
        elif isinstance(read, ProviderError):
            self._count_error(read)
        else:
            log.info("alpaca: %s %s", read.kind, read.msg or read.channels)

    def _count_error(self, error: ProviderError) -> None:
        self.errors[error.code] += 1
        FEED_PROVIDER_ERRORS.labels(self.name, str(error.code)).inc()
        if error.code == SLOW_CLIENT:
            log.warning(
                "alpaca: slow client (error 407): this process reads slower than Alpaca sends "
                "and may be disconnected (then it reconnects)"
            )
        else:
            log.warning("alpaca: error %d %r", error.code, error.message)


def from_settings(settings: Settings, symbols: Sequence[str]) -> AlpacaAdapter:
    """The adapter PROVIDER=alpaca runs: ALPACA_KEY_ID and ALPACA_SECRET_KEY authenticate,
    ALPACA_FEED picks the stream (PROVIDER_URL, when set, replaces its address)."""
    key = settings.alpaca_key_id.get_secret_value() if settings.alpaca_key_id else ""
    secret = settings.alpaca_secret_key.get_secret_value() if settings.alpaca_secret_key else ""
    missing = [
        name for name, value in (("ALPACA_KEY_ID", key), ("ALPACA_SECRET_KEY", secret)) if not value
    ]
    if missing:
        raise ValueError(
            f"PROVIDER=alpaca needs {' and '.join(missing)}: the API key id and secret of "
            "your Alpaca account (https://app.alpaca.markets, API keys)"
        )
    if not symbols:
        raise ValueError("PROVIDER=alpaca needs at least one symbol to subscribe")
    url = settings.provider_url or STREAM_URL.format(feed=settings.alpaca_feed)
    return AlpacaAdapter(url, key, secret, [symbol.upper() for symbol in symbols])
