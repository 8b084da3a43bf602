"""What a market-data adapter hands on, whatever the provider: trades, quotes, book updates,
statuses and bars, normalised and exact (`MarketEvent`), and how they become ticks.

Each provider's adapter (`streaming/feeds/alpaca.py`, `polygon.py`, `binance.py`,
`provider.py`) reads its own protocol and emits these events; `EventFeed` turns them into
ticks through a `MarketState`, which keeps each symbol's last trade price and touch, so a
quote carries the last price and a trade the touch it left. The recorder writes the same
events as NDJSON rows (their `kind` tags them) and the replay reads them back through the
same state, so a recorded day drives the pipeline exactly as the live feed did.

A provider's bars are read and recorded, not published: Trado builds its candles from the
trades (`streaming/stages/candles.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import msgspec

from models.types import utcnow
from streaming.errors import BadTick
from streaming.feeds import TickSink
from streaming.metrics import FEED_BAD_MESSAGES
from streaming.tick import Depth, Symbol, Tick, Timestamp

log = logging.getLogger(__name__)

# msgspec cannot constrain a Decimal (`Meta(gt=0)` on one fails when a decoder is built):
# prices and sizes are checked where an event becomes a tick (`Tick.__post_init__`).
Price = Decimal
Size = Decimal


class TradeEvent(msgspec.Struct, frozen=True, tag="trade", tag_field="kind"):
    symbol: Symbol
    price: Price
    size: Size
    time: Timestamp


class QuoteEvent(msgspec.Struct, frozen=True, tag="quote", tag_field="kind"):
    """The touch: best bid and ask, with their sizes where the provider sends them."""

    symbol: Symbol
    bid: Price
    ask: Price
    time: Timestamp
    bid_size: Size | None = None
    ask_size: Size | None = None


class StatusEvent(msgspec.Struct, frozen=True, tag="status", tag_field="kind"):
    """Trading halted (`halted` true: a halt, a LULD pause) or resumed; `reason` as the
    provider says it (a status code and its text)."""

    symbol: Symbol
    halted: bool
    time: Timestamp
    reason: str = ""


class BookEvent(msgspec.Struct, frozen=True, tag="book", tag_field="kind"):
    """The exchange's book after one update (or a snapshot), best levels first."""

    symbol: Symbol
    depth: Depth
    time: Timestamp


class BarEvent(msgspec.Struct, frozen=True, tag="bar", tag_field="kind"):
    """A provider's aggregate over `interval` ("1s", "1m"), starting at `time`."""

    symbol: Symbol
    interval: str
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Size
    time: Timestamp


MarketEvent = TradeEvent | QuoteEvent | StatusEvent | BookEvent | BarEvent
EventSink = Callable[[MarketEvent], Awaitable[None]]

_ENCODER = msgspec.json.Encoder(decimal_format="string")
_DECODER = msgspec.json.Decoder(MarketEvent)


def encode_event(event: MarketEvent) -> bytes:
    """One event as a JSON object tagged by its `kind` (a recording's row)."""
    return _ENCODER.encode(event)


def decode_event(raw: bytes | str) -> MarketEvent:
    """A recording's row back as its event; BadTick when it is not one."""
    try:
        return _DECODER.decode(raw)
    except msgspec.DecodeError as error:
        raise BadTick(str(error)) from None


class Adapter(Protocol):
    """A provider's protocol: connect, authenticate, subscribe, and emit what arrives as
    market events until cancelled, reconnecting (with backoff) and resubscribing whenever
    the connection is lost. Anything unreadable is counted under `name` and skipped."""

    name: str

    async def stream(self, emit: EventSink) -> None: ...


@dataclass(slots=True)
class _Touch:
    bid: Decimal
    ask: Decimal
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None


@dataclass
class MarketState:
    """Each symbol's last trade price and touch, which every tick it makes carries: a trade
    with the touch it left (or `bid = ask = price` before any quote), a quote with the last
    trade's price (its midpoint before any trade), a status at the last price. Ticks leave
    unnumbered (the feed sender numbers them)."""

    _last: dict[str, Decimal] = field(default_factory=dict)
    _touch: dict[str, _Touch] = field(default_factory=dict)
    _quoted: set[str] = field(default_factory=set)  # symbols whose touch comes from quotes

    def tick(self, event: MarketEvent, received: datetime) -> Tick | None:
        """The tick `event` makes (None: a bar, or a status before any price); BadTick when
        the state it would leave is impossible (a crossed quote, an empty book)."""
        try:
            return self._tick(event, received)
        except (ValueError, msgspec.ValidationError) as error:
            raise BadTick(f"{event.symbol}: {error}") from None

    def _tick(self, event: MarketEvent, received: datetime) -> Tick | None:
        symbol = event.symbol
        if isinstance(event, TradeEvent):
            self._last[symbol] = event.price
            return self._make(symbol, event.time, received, "trade", volume=event.size)
        if isinstance(event, QuoteEvent):
            touch = _Touch(event.bid, event.ask, event.bid_size, event.ask_size)
            if touch.bid > touch.ask:
                raise ValueError(f"crossed quote: bid {touch.bid} above ask {touch.ask}")
            self._touch[symbol] = touch
            self._quoted.add(symbol)
            return self._make(symbol, event.time, received, "quote")
        if isinstance(event, StatusEvent):
            if symbol not in self._last and symbol not in self._touch:
                log.info("status of %s before any price of it: not published", symbol)
                return None
            return self._make(symbol, event.time, received, "status", halted=event.halted)
        if isinstance(event, BookEvent):
            return self._book_tick(event, received)
        return None  # a bar: recorded, not published

    def _book_tick(self, event: BookEvent, received: datetime) -> Tick:
        """A book update; its best levels are the touch of a symbol the provider sends no
        quotes for (a quote stream is the faster touch where there is one)."""
        depth = event.depth
        if event.symbol not in self._quoted:
            if not depth.bids or not depth.asks:
                raise ValueError("a book with an empty side and no quote")
            (bid, bid_size), (ask, ask_size) = depth.bids[0], depth.asks[0]
            if bid > ask:
                raise ValueError(f"crossed book: bid {bid} above ask {ask}")
            self._touch[event.symbol] = _Touch(bid, ask, bid_size, ask_size)
        return self._make(event.symbol, event.time, received, "book", book=depth)

    def _make(
        self,
        symbol: str,
        time: datetime,
        received: datetime,
        kind: str,
        *,
        volume: Decimal = Decimal(0),
        halted: bool | None = None,
        book: Depth | None = None,
    ) -> Tick:
        touch = self._touch.get(symbol)
        last = self._last.get(symbol)
        if touch is None:
            assert last is not None  # a quote or a book sets the touch; a trade the price
            touch = _Touch(last, last)
        price = last if last is not None else (touch.bid + touch.ask) / 2
        return Tick(
            symbol=symbol,
            price=price,
            bid=touch.bid,
            ask=touch.ask,
            volume=volume,
            sequence=0,
            exchange_ts=time,
            received_ts=received,
            halted=halted,
            kind=kind,  # type: ignore[arg-type]
            bid_size=touch.bid_size,
            ask_size=touch.ask_size,
            book=book,
        )


@dataclass
class EventFeed:
    """An adapter as a feed: its events through a `MarketState` into ticks. What cannot be
    made a tick is counted (`trado_feed_bad_messages_total`, by adapter) and logged."""

    adapter: Adapter
    state: MarketState = field(default_factory=MarketState)
    bad_events: int = 0

    async def run(self, sink: TickSink) -> None:
        async def emit(event: MarketEvent) -> None:
            try:
                tick = self.state.tick(event, utcnow())
            except BadTick as error:
                self.bad_events += 1
                FEED_BAD_MESSAGES.labels(self.adapter.name).inc()
                log.warning("skipping a %s event: %s", self.adapter.name, error)
                return
            if tick is not None:
                await sink(tick)

        await self.adapter.stream(emit)
