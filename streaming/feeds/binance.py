"""An adapter for Binance's spot market-data streams: trades, the touch, and each symbol's
order book kept locally from the diff-depth stream (`streaming.feeds.binance_book`).

What it reads (Binance's own docs, https://github.com/binance/binance-spot-api-docs,
`web-socket-streams.md` and `rest-api.md`):

- One combined-stream connection, `<base>/stream?streams=<s>@trade/<s>@bookTicker/
  <s>@depth[@100ms]/...` (symbols lower-case; at most 1024 streams a connection), whose
  messages are wrapped `{"stream": "<name>", "data": <payload>}`.
- `<s>@trade` (`{"e": "trade", "E", "s", "t", "p", "q", "T", "m", "M"}`) or, with
  `trades="aggTrade"`, `<s>@aggTrade` (`{"e": "aggTrade", "E", "s", "a", "p", "q", "f", "l",
  "T", "m", "M"}`): a `TradeEvent` at price `p`, size `q`, time `T`.
- `<s>@bookTicker` (`{"u", "s", "b", "B", "a", "A"}`, no event time: the receive time is
  used): a `QuoteEvent` with sizes.
- `<s>@depth` (every 1000 ms) or `<s>@depth@100ms` (`{"e": "depthUpdate", "E", "s", "U",
  "u", "b": [[price, qty]...], "a": [...]}`): into the symbol's local book, which starts from
  `GET <rest>/api/v3/depth?symbol=<S>&limit=1000` (`{"lastUpdateId", "bids", "asks"}`) and
  resynchronises (a new snapshot) on a gap. Each applied update is a `BookEvent` whose
  `Depth` is the top 20 levels a side, numbered by Binance's update ids.
- `{"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E"}}`: reconnect at once.
- Numbers are strings in Binance's JSON and read as exact decimals; never float.

Connections: a connection is valid for 24 hours, so the adapter opens a new one after
`max_connection_age` (23 hours) rather than be cut; the server's pings (every 20 s, a pong
due within a minute) are answered by the websockets library itself. A lost connection is
retried with capped exponential backoff and jitter; every book resynchronises on the new one.
Snapshots: at most `SNAPSHOT_CONCURRENCY` at once (each weighs 50 of the IP's request
weight); a 429 or 418 is waited out for its `Retry-After` seconds, other failures are retried
with backoff; the stream keeps flowing meanwhile (only that symbol's book waits).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Literal

import httpx
import msgspec
from tenacity import RetryCallState
from websockets.asyncio.client import ClientConnection, connect

from models.types import utcnow
from settings import Settings
from streaming.errors import BadTick
from streaming.feeds.binance_book import (
    DiffUpdate,
    LocalBook,
    OutOfSequence,
    Snapshot,
    SnapshotTooOld,
)
from streaming.feeds.connection import Backoff, Working, keep_connected
from streaming.feeds.market import BookEvent, EventSink, MarketEvent, QuoteEvent, TradeEvent
from streaming.metrics import (
    FEED_BAD_MESSAGES,
    FEED_BOOK_RESYNCS,
    FEED_SNAPSHOT_FAILURES,
)
from streaming.retry import retrying
from streaming.tick import Level

log = logging.getLogger(__name__)

STREAM_URL = "wss://stream.binance.com:9443"
REST_URL = "https://api.binance.com"
MAX_CONNECTION_AGE = 23 * 3600.0  # seconds; Binance cuts a connection at 24 hours
MAX_STREAMS = 1024  # a connection's limit
SNAPSHOT_LIMIT = 1000  # levels a side a snapshot asks for (weight 50; 5000 weighs 250)
SNAPSHOT_CONCURRENCY = 4
NAME = "binance"
FAST_DEPTH_MS = 100  # `<s>@depth@100ms`; otherwise `<s>@depth`, every 1000 ms
RATE_LIMITED, BANNED = 429, 418  # REST answers that come with a Retry-After

TradeStream = Literal["trade", "aggTrade"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Envelope(msgspec.Struct):
    stream: str
    data: msgspec.Raw


class _Trade(msgspec.Struct):
    """`trade` and `aggTrade` alike: what a trade needs of either."""

    symbol: str = msgspec.field(name="s")
    price: Decimal = msgspec.field(name="p")
    quantity: Decimal = msgspec.field(name="q")
    time: int = msgspec.field(name="T")


class _BookTicker(msgspec.Struct):
    symbol: str = msgspec.field(name="s")
    bid: Decimal = msgspec.field(name="b")
    bid_size: Decimal = msgspec.field(name="B")
    ask: Decimal = msgspec.field(name="a")
    ask_size: Decimal = msgspec.field(name="A")


class _DepthUpdate(msgspec.Struct):
    symbol: str = msgspec.field(name="s")
    time: int = msgspec.field(name="E")
    first: int = msgspec.field(name="U")
    last: int = msgspec.field(name="u")
    bids: list[Level] = msgspec.field(name="b")
    asks: list[Level] = msgspec.field(name="a")


class _Snapshot(msgspec.Struct):
    lastUpdateId: int
    bids: list[Level]
    asks: list[Level]


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_TRADE = msgspec.json.Decoder(_Trade)
_BOOK_TICKER = msgspec.json.Decoder(_BookTicker)
_DEPTH = msgspec.json.Decoder(_DepthUpdate)
_SNAPSHOT = msgspec.json.Decoder(_Snapshot)


class _Renew(Exception):
    """Time for a new connection (its age, or the server's `serverShutdown`): at once."""


class SnapshotRefused(Exception):
    """`GET /api/v3/depth` failed; `retry_after` (seconds) when Binance said how long to wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def millis(value: int) -> datetime:
    """Binance's epoch milliseconds, exactly (no float); BadTick when out of range."""
    try:
        return _EPOCH + timedelta(milliseconds=value)
    except OverflowError:
        raise BadTick(f"time {value} out of range") from None


def parse_message(raw: str | bytes, received: datetime) -> MarketEvent | DiffUpdate | None:
    """One combined-stream message: a trade or quote event, a depth update for the book, or
    None (a reply to a request). `_Renew` on `serverShutdown`; BadTick when unreadable."""
    try:
        envelope = _ENVELOPE.decode(raw)
        kind = envelope.stream.rpartition("@")[2] if "@" in envelope.stream else envelope.stream
        if kind in ("trade", "aggTrade"):
            trade = _TRADE.decode(envelope.data)
            return TradeEvent(trade.symbol, trade.price, trade.quantity, millis(trade.time))
        if kind == "bookTicker":
            t = _BOOK_TICKER.decode(envelope.data)
            return QuoteEvent(t.symbol, t.bid, t.ask, received, t.bid_size, t.ask_size)
        if kind in ("depth", "100ms", "1000ms"):
            d = _DEPTH.decode(envelope.data)
            bids, asks = _levels(d.bids), _levels(d.asks)
            return DiffUpdate(d.symbol, d.first, d.last, bids, asks, millis(d.time))
        if envelope.stream == "!serverShutdown":
            raise _Renew("the server is shutting down")
    except msgspec.DecodeError as error:
        _not_a_stream_message(raw, error)
        return None
    raise BadTick(f"unexpected stream {envelope.stream[:64]!r}")


def _not_a_stream_message(raw: str | bytes, error: msgspec.DecodeError) -> None:
    """Returns for a reply to a request (`{"result": null, "id": 1}`): no event. An error
    reply or anything else is a BadTick."""
    try:
        reply = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise BadTick(f"not JSON: {error}") from None
    if isinstance(reply, dict) and "result" in reply and "id" in reply:
        return None
    if isinstance(reply, dict) and "code" in reply:
        raise BadTick(f"Binance error {reply.get('code')}: {str(reply.get('msg'))[:200]!r}")
    raise BadTick(f"unreadable message: {error}")


def parse_snapshot(raw: bytes) -> Snapshot:
    try:
        snapshot = _SNAPSHOT.decode(raw)
    except msgspec.DecodeError as error:
        raise SnapshotRefused(f"unreadable depth snapshot: {error}") from None
    try:
        bids, asks = _levels(snapshot.bids), _levels(snapshot.asks)
    except BadTick as error:
        raise SnapshotRefused(f"depth snapshot: {error}") from None
    return Snapshot(snapshot.lastUpdateId, bids, asks)


def _levels(raw: list[Level]) -> tuple[Level, ...]:
    """Price levels as given, each checked: a finite price above zero, a quantity of zero
    (the level is gone) or more."""
    for price, quantity in raw:
        if not (price.is_finite() and quantity.is_finite()) or price <= 0 or quantity < 0:
            raise BadTick(f"bad price level {price} x {quantity}")
    return tuple(raw)


@dataclass
class BinanceAdapter:
    """Binance spot streams for `symbols` (see the module text)."""

    symbols: Sequence[str]
    url: str = STREAM_URL
    rest_url: str = REST_URL
    depth_interval_ms: Literal[100, 1000] = 1000
    trades: TradeStream = "trade"
    max_connection_age: float = MAX_CONNECTION_AGE
    backoff: Backoff = field(default_factory=Backoff)
    request_timeout: float = 10.0
    name: str = NAME
    bad_messages: int = 0
    connections: int = 0
    resyncs: int = 0
    _emitting: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.symbols = [symbol.upper() for symbol in self.symbols]
        if not self.symbols or 3 * len(self.symbols) > MAX_STREAMS:
            raise ValueError(f"1 to {MAX_STREAMS // 3} symbols a connection")

    @property
    def stream_url(self) -> str:
        base = self.url.rstrip("/").removesuffix("/stream").removesuffix("/ws")
        depth = "depth@100ms" if self.depth_interval_ms == FAST_DEPTH_MS else "depth"
        streams = [
            f"{symbol.lower()}@{kind}"
            for symbol in self.symbols
            for kind in (self.trades, "bookTicker", depth)
        ]
        return f"{base}/stream?streams={'/'.join(streams)}"

    async def stream(self, emit: EventSink) -> None:
        """Stream until cancelled, reconnecting (with backoff after a failure, at once for a
        renewal) whenever a connection ends."""
        limits = httpx.Timeout(self.request_timeout)
        async with httpx.AsyncClient(base_url=self.rest_url, timeout=limits) as http:
            await keep_connected(self.name, partial(self._renewed, emit, http), self.backoff)

    async def _renewed(self, emit: EventSink, http: httpx.AsyncClient, working: Working) -> None:
        """Connections one after another, each renewed at once when due (`_Renew`), until one
        ends otherwise."""
        while True:
            try:
                await self._connection(emit, http, working)
            except _Renew as why:
                log.info("binance: a new connection (%s)", why)
            else:
                return

    async def _connection(self, emit: EventSink, http: httpx.AsyncClient, working: Working) -> None:
        """One connection, until it ends or is to be renewed (`_Renew`): its messages read in
        order, each book synchronised by a task of its own (cancelled with the connection)."""
        books = {symbol: LocalBook(symbol) for symbol in self.symbols}
        syncing: dict[str, asyncio.Task[None]] = {}
        snapshots = asyncio.Semaphore(SNAPSHOT_CONCURRENCY)

        def synchronise(book: LocalBook) -> None:
            task = syncing.get(book.symbol)
            if task is not None and not task.done():
                return
            if task is not None and not task.cancelled() and task.exception() is not None:
                log.error(
                    "binance: synchronising %s failed", book.symbol, exc_info=task.exception()
                )
            work = self._synchronise(book, http, emit, snapshots)
            syncing[book.symbol] = asyncio.create_task(work, name=f"binance book {book.symbol}")

        try:
            async with connect(self.stream_url, open_timeout=10, compression=None) as socket:
                self.connections += 1
                log.info("binance connected, %d symbols", len(self.symbols))
                await self._read(socket, books, emit, synchronise, working)
        finally:
            for task in syncing.values():
                task.cancel()
            await asyncio.gather(*syncing.values(), return_exceptions=True)

    async def _read(
        self,
        socket: ClientConnection,
        books: dict[str, LocalBook],
        emit: EventSink,
        synchronise: Callable[[LocalBook], None],
        working: Working,
    ) -> None:
        try:
            async with asyncio.timeout(self.max_connection_age):
                async for raw in socket:
                    working()  # data flows again: reset the backoff
                    await self._handle(raw, books, emit, synchronise)
        except TimeoutError:
            raise _Renew(f"{self.max_connection_age:g}s old") from None

    async def _handle(
        self,
        raw: str | bytes,
        books: dict[str, LocalBook],
        emit: EventSink,
        synchronise: Callable[[LocalBook], None],
    ) -> None:
        try:
            event = parse_message(raw, utcnow())
            if isinstance(event, DiffUpdate) and event.symbol not in books:
                raise BadTick(f"depth of {event.symbol[:32]!r}, not subscribed")
        except BadTick as error:
            self._bad(error)
            return
        if event is None:
            return
        async with self._emitting:  # in order with the books' snapshots
            if not isinstance(event, DiffUpdate):
                await emit(event)
                return
            book = books[event.symbol]
            try:
                depth = book.receive(event)
            except OutOfSequence as gap:
                log.warning("binance: %s; resynchronising", gap)
                self.resyncs += 1
                FEED_BOOK_RESYNCS.labels(self.name).inc()
                depth = None
            if depth is not None:
                await emit(BookEvent(event.symbol, depth, event.time))
            if not book.synchronised:
                synchronise(book)

    async def _synchronise(
        self,
        book: LocalBook,
        http: httpx.AsyncClient,
        emit: EventSink,
        snapshots: asyncio.Semaphore,
    ) -> None:
        """Snapshots until one bridges the buffered events (a short wait between: the REST
        side may lag the stream); the book then emitted as a snapshot."""
        while True:
            async with snapshots:
                snapshot = await self._snapshot(http, book.symbol)
            async with self._emitting:
                try:
                    depth = book.load(snapshot)
                except (SnapshotTooOld, OutOfSequence) as why:
                    log.info("binance: %s; fetching another snapshot", why)
                else:
                    await emit(BookEvent(book.symbol, depth, utcnow()))
                    return
            await asyncio.sleep(self.backoff.initial)

    async def _snapshot(self, http: httpx.AsyncClient, symbol: str) -> Snapshot:
        """`GET /api/v3/depth`, retried until it answers (a 429/418 after its Retry-After,
        other failures after the connections' usual backoff)."""

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            told = getattr(error, "retry_after", None)
            return told if told is not None else self.backoff.wait(state)

        async for attempt in retrying(
            f"binance depth snapshot of {symbol}",
            retry_on=(SnapshotRefused, httpx.HTTPError),
            failures=FEED_SNAPSHOT_FAILURES.labels(self.name),
            wait=wait,
        ):
            with attempt:
                return await self._get_snapshot(http, symbol)
        raise AssertionError("retrying never stops")  # pragma: no cover

    async def _get_snapshot(self, http: httpx.AsyncClient, symbol: str) -> Snapshot:
        params = {"symbol": symbol, "limit": str(SNAPSHOT_LIMIT)}
        response = await http.get("/api/v3/depth", params=params)
        if response.status_code in (RATE_LIMITED, BANNED):
            raise SnapshotRefused(
                f"HTTP {response.status_code} (request weight exceeded"
                f"{', IP banned' if response.status_code == BANNED else ''})",
                retry_after=_retry_after(response),
            )
        if response.status_code != httpx.codes.OK:
            raise SnapshotRefused(f"HTTP {response.status_code}: {response.text[:200]!r}")
        return parse_snapshot(response.content)

    def _bad(self, error: BadTick) -> None:
        self.bad_messages += 1
        FEED_BAD_MESSAGES.labels(self.name).inc()
        log.warning("skipping a binance message: %s", error)


def _retry_after(response: httpx.Response) -> float | None:
    """Binance's `Retry-After`: whole seconds to wait."""
    try:
        return max(float(response.headers["Retry-After"]), 0.0)
    except (KeyError, ValueError):
        return None


def from_settings(settings: Settings, symbols: Sequence[str]) -> BinanceAdapter:
    """The adapter as settings describe it: PROVIDER_URL (the stream base), BINANCE_REST_URL,
    BINANCE_DEPTH_INTERVAL_MS."""
    return BinanceAdapter(
        symbols,
        url=settings.provider_url or STREAM_URL,
        rest_url=settings.binance_rest_url,
        depth_interval_ms=settings.binance_depth_interval_ms,
    )
