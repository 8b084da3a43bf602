"""Binance spot streams: the local order book kept as Binance documents it (pure, unit by
unit), the adapter against a fake Binance (tests/utils/fake_binance.py: its combined stream
and its REST snapshot), and the adapter through the whole pipeline to a GraphQL subscriber
of `book`, `quotes` and `trades`, and a MARKET order walking the exchange's book."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from models.instrument_file import parse_row, read_instrument_file
from settings import Settings
from streaming.feeds import binance_book
from streaming.feeds.binance import BinanceAdapter, from_settings, parse_message
from streaming.feeds.binance_book import (
    DiffUpdate,
    LocalBook,
    OutOfSequence,
    Snapshot,
    SnapshotTooOld,
)
from streaming.feeds.connection import Backoff
from streaming.feeds.market import (
    BookEvent,
    EventFeed,
    MarketEvent,
    QuoteEvent,
    TradeEvent,
)
from streaming.tick import Depth
from tests.api.conftest import Api, new_account
from tests.api.test_trading import START, folio, place
from tests.conftest import make_settings
from tests.utils.fake_binance import FakeBinance, fake_binance
from tests.utils.fake_server import Changes
from tests.utils.feed_pipeline import Listing, Pipeline, feed_pipeline
from tests.utils.graphql_ws import GraphQLWS, graphql_ws
from tests.utils.live import symbol_for, wait_subscribed
from trading.sessions import MarketPhase, SessionClock

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def levels(*pairs: tuple[str, str]) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((D(price), D(size)) for price, size in pairs)


def diff(first: int, last: int, bids: tuple[tuple[str, str], ...] = (), asks=()) -> DiffUpdate:  # type: ignore[no-untyped-def]
    return DiffUpdate("BTCUSDT", first, last, levels(*bids), levels(*asks), T0)


SNAPSHOT = Snapshot(
    100,
    levels(("100.00", "1"), ("99.99", "2"), ("99.98", "3")),
    levels(("100.01", "1.5"), ("100.02", "2.5")),
)


# -- the local book, unit by unit ----------------------------------------------------------


def test_events_are_buffered_until_a_snapshot_and_those_it_covers_dropped() -> None:
    book = LocalBook("BTCUSDT")
    assert book.receive(diff(95, 98, bids=(("100.00", "9"),))) is None  # covered: dropped
    assert book.receive(diff(99, 101, bids=(("99.99", "0"),))) is None  # brackets 100
    assert book.receive(diff(102, 102, asks=(("100.01", "0.25"),))) is None
    assert (book.synchronised, book.buffered) == (False, 3)
    depth = book.load(SNAPSHOT)
    assert depth == Depth(
        102,
        levels(("100.00", "1"), ("99.98", "3")),  # 99.99 removed, 100.00 not set back to 9
        levels(("100.01", "0.25"), ("100.02", "2.5")),
        previous=None,  # a snapshot
    )
    nxt = book.receive(diff(103, 105, bids=(("100.005", "0.00000001"),)))
    assert nxt is not None
    assert (nxt.update, nxt.previous) == (105, 102)
    assert nxt.bids[0] == (D("100.005"), D("0.00000001"))  # exact, to the last decimal


def test_a_snapshot_older_than_the_first_buffered_event_is_refused() -> None:
    book = LocalBook("BTCUSDT")
    book.receive(diff(102, 103))
    with pytest.raises(SnapshotTooOld):
        book.load(SNAPSHOT)  # 100: update 101 was never seen
    assert (book.synchronised, book.buffered) == (False, 1)
    depth = book.load(Snapshot(101, SNAPSHOT.bids, SNAPSHOT.asks))  # 101 + 1 = 102: bridged
    assert (depth.update, depth.previous) == (103, None)


def test_a_snapshot_newer_than_every_buffered_event_is_the_book() -> None:
    book = LocalBook("BTCUSDT")
    book.receive(diff(90, 95))
    depth = book.load(SNAPSHOT)
    assert (depth.update, depth.bids, depth.asks) == (100, SNAPSHOT.bids, SNAPSHOT.asks)
    assert book.buffered == 0


def test_a_gap_resynchronises_from_the_event_after_it() -> None:
    book = LocalBook("BTCUSDT")
    book.receive(diff(101, 101))
    book.load(SNAPSHOT)
    assert book.receive(diff(100, 101)) is None  # old: ignored
    with pytest.raises(OutOfSequence):
        book.receive(diff(103, 104, bids=(("50", "1"),)))  # 102 missed
    assert (book.synchronised, book.buffered) == (False, 1)
    assert book.receive(diff(105, 105)) is None  # buffered for the next snapshot
    depth = book.load(Snapshot(104, levels(("50", "1")), levels(("60", "1"))))
    assert (depth.update, depth.previous, depth.bids) == (105, None, levels(("50", "1")))


def test_a_gap_inside_the_buffer_keeps_what_follows_it() -> None:
    book = LocalBook("BTCUSDT")
    for update in (diff(101, 101), diff(103, 103), diff(104, 104)):
        book.receive(update)
    with pytest.raises(OutOfSequence):
        book.load(SNAPSHOT)
    assert (book.synchronised, book.buffered) == (False, 2)
    assert book.load(Snapshot(103, (), ())).update == 104


def test_zero_quantities_remove_levels_even_unknown_ones_and_only_20_levels_show() -> None:
    book = LocalBook("BTCUSDT")
    book.receive(diff(101, 101))
    many = Snapshot(100, tuple((D(100 - i), D(1)) for i in range(30)), levels(("101", "1")))
    book.load(many)
    depth = book.receive(diff(102, 102, bids=(("100", "0.00000000"), ("1", "0"))))
    assert depth is not None
    assert len(depth.bids) == 20
    assert depth.bids[0] == (D(99), D(1))
    assert depth.bids[-1] == (D(80), D(1))
    emptied = book.receive(diff(103, 103, asks=(("101", "0"),)))
    assert emptied is not None
    assert emptied.asks == ()


def test_while_waiting_only_the_newest_events_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binance_book, "MAX_BUFFERED", 2)
    book = LocalBook("BTCUSDT")
    for update_id in (101, 102, 103):
        book.receive(diff(update_id, update_id))
    assert book.buffered == 2
    with pytest.raises(SnapshotTooOld):
        book.load(SNAPSHOT)  # 101 is gone: 100 no longer bridges to the buffer
    assert book.load(Snapshot(101, (), ())).update == 103


# -- messages --------------------------------------------------------------------------------


def test_messages_are_read_exactly() -> None:
    trade = parse_message(
        '{"stream":"btcusdt@trade","data":{"e":"trade","E":1767225600001,"s":"BTCUSDT",'
        '"t":1,"p":"87000.10000000","q":"0.00012000","T":1767225600000,"m":true,"M":true}}',
        T0,
    )
    assert trade == TradeEvent("BTCUSDT", D("87000.10000000"), D("0.00012000"), T0)
    agg = parse_message(
        '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1767225600001,"s":"BTCUSDT",'
        '"a":5,"p":"0.1","q":"3","f":1,"l":2,"T":1767225600000,"m":false,"M":true}}',
        T0,
    )
    assert agg == TradeEvent("BTCUSDT", D("0.1"), D(3), T0)
    quote = parse_message(
        '{"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BTCUSDT","b":"25.35190000",'
        '"B":"31.21000000","a":"25.36520000","A":"40.66000000"}}',
        T0,
    )
    assert quote == QuoteEvent("BTCUSDT", D("25.3519"), D("25.3652"), T0, D("31.21"), D("40.66"))
    update = parse_message(
        '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1767225600000,'
        '"s":"BTCUSDT","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}}',
        T0,
    )
    assert update == DiffUpdate(
        "BTCUSDT", 157, 160, levels(("0.0024", "10")), levels(("0.0026", "100")), T0
    )
    assert parse_message('{"result":null,"id":1}', T0) is None


def test_the_stream_url_and_settings() -> None:
    settings = make_settings(
        provider="binance",
        provider_url="wss://data-stream.binance.vision",
        binance_rest_url="https://api.binance.com",
        binance_depth_interval_ms=100,
    )
    adapter = from_settings(settings, ["btcusdt", "ETHUSDT"])
    assert adapter.stream_url == (
        "wss://data-stream.binance.vision/stream?streams=btcusdt@trade/btcusdt@bookTicker/"
        "btcusdt@depth@100ms/ethusdt@trade/ethusdt@bookTicker/ethusdt@depth@100ms"
    )
    slow = BinanceAdapter(["BTCUSDT"], trades="aggTrade")
    assert slow.stream_url == (
        "wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker/"
        "btcusdt@depth"
    )


# -- crypto instruments ----------------------------------------------------------------------


def test_crypto_instruments_list_in_their_own_currency_and_trade_around_the_clock() -> None:
    row = parse_row(
        {
            "symbol": "btcusdt",
            "name": "Bitcoin / TetherUS",
            "exchange": "binance",
            "sector": "Crypto",
            "currency": "usdt",
            "lot_size": "0.00001",
            "tick_size": "0.01",
        }
    )
    assert (row.symbol, row.exchange, row.currency, row.lot_size) == (
        "BTCUSDT",
        "BINANCE",
        "USDT",
        D("0.00001"),
    )
    for wrong in ("US", "TOOLONGCCY", "U$D"):
        with pytest.raises(ValueError, match="currency"):
            parse_row({**_ROW, "currency": wrong})
    reference = read_instrument_file(Settings.model_fields["instruments_file"].default)
    assert {r.symbol for r in reference if r.exchange == "BINANCE"} >= {"BTCUSDT", "ETHUSDT"}

    clock = SessionClock()
    sunday_night = datetime(2026, 12, 6, 23, 59, 30, tzinfo=UTC)
    for instant in (sunday_night, datetime(2026, 12, 7, 0, 0, tzinfo=UTC)):
        assert clock.is_open("BINANCE", instant)
        assert not clock.is_open("NASDAQ", instant)
    status = clock.exchange("BINANCE").status(sunday_night)
    assert (status.phase, status.next_phase) == (MarketPhase.OPEN, MarketPhase.OPEN)
    assert clock.exchange("BINANCE").session_of(sunday_night).day == date(2026, 12, 6)  # UTC days


_ROW = {
    "symbol": "X",
    "name": "X",
    "exchange": "BINANCE",
    "sector": "Crypto",
    "lot_size": "1",
    "tick_size": "0.01",
}


# -- the adapter against the fake ----------------------------------------------------------


class Collected(Changes):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[MarketEvent] = []

    async def __call__(self, event: MarketEvent) -> None:
        self.events.append(event)
        self.changed()

    def books(self) -> list[Depth]:
        return [e.depth for e in self.events if isinstance(e, BookEvent)]


@asynccontextmanager
async def streaming(
    fake: FakeBinance, symbol: str, **options: object
) -> AsyncIterator[tuple[BinanceAdapter, Collected]]:
    adapter = BinanceAdapter(
        [symbol],
        url=fake.url,
        rest_url=fake.rest_url,
        backoff=Backoff(0.05),
        **options,  # type: ignore[arg-type]
    )
    collected = Collected()
    task = asyncio.create_task(adapter.stream(collected))
    try:
        yield adapter, collected
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def seed(fake: FakeBinance, symbol: str) -> None:
    book = fake.book(symbol, update_id=1000)
    book.change(book.bids, [("100.00", "1"), ("99.99", "2")])
    book.change(book.asks, [("100.01", "1"), ("100.02", "2")])


def continuous(depths: list[Depth]) -> bool:
    """Each update follows the one before it, or is a snapshot."""
    return all(
        d.previous is None or d.previous == before.update
        for before, d in itertools.pairwise(depths)
    )


async def test_the_adapter_buffers_during_a_snapshot_and_resyncs_after_a_gap() -> None:
    async with fake_binance() as fake:
        seed(fake, "BTCUSDT")
        fake.hold_snapshots()
        async with streaming(fake, "BTCUSDT") as (adapter, got):
            await fake.wait_connections(1)
            await fake.depth("BTCUSDT", bids=[("100.00", "1.5")])  # 1001, buffered
            await fake.wait_snapshot_requests(1)
            await fake.depth("BTCUSDT", asks=[("100.01", "0")], updates=2)  # 1002-1003
            await fake.trade("BTCUSDT", "100.02", "0.5")  # not held up by the snapshot
            await got.wait_for(lambda: any(isinstance(e, TradeEvent) for e in got.events))
            fake.release_snapshots()  # as of 1003: both buffered updates covered
            await got.wait_for(lambda: len(got.books()) == 1)
            await fake.depth("BTCUSDT", bids=[("99.99", "0")])  # 1004
            await fake.depth("BTCUSDT", bids=[("99.50", "7")], lost=True)  # 1005: missed
            await fake.depth("BTCUSDT", asks=[("100.03", "4")])  # 1006: a gap
            await got.wait_for(lambda: len(got.books()) == 3)
            assert adapter.resyncs == 1
    books = got.books()
    assert [(d.update, d.previous) for d in books] == [(1003, None), (1004, 1003), (1006, None)]
    assert continuous(books)
    assert books[0].asks == levels(("100.02", "2"))
    assert books[-1].bids == levels(("100.00", "1.5"), ("99.50", "7"))  # the missed change too
    assert books[-1].asks == levels(("100.02", "2"), ("100.03", "4"))
    assert len(fake.snapshot_requests) == 2
    assert fake.snapshot_requests[0] == "symbol=BTCUSDT&limit=1000"


async def test_a_rate_limited_snapshot_waits_its_retry_after() -> None:
    async with fake_binance() as fake:
        seed(fake, "BTCUSDT")
        fake.rate_limit_next(429, retry_after=1)
        async with streaming(fake, "BTCUSDT") as (_, got):
            await fake.wait_connections(1)
            await fake.depth("BTCUSDT", bids=[("100.00", "3")])
            await fake.wait_snapshot_requests(1)
            refused = asyncio.get_running_loop().time()
            await got.wait_for(lambda: len(got.books()) == 1)
            waited = asyncio.get_running_loop().time() - refused
    assert waited >= 0.9, "the Retry-After second is honoured"
    assert len(fake.snapshot_requests) == 2
    assert got.books()[0].bids[0] == (D("100.00"), D(3))


async def test_the_adapter_survives_junk_drops_and_shutdowns_and_answers_pings() -> None:
    async with fake_binance() as fake:
        seed(fake, "BTCUSDT")
        async with streaming(fake, "BTCUSDT") as (adapter, got):
            await fake.wait_connections(1)
            await fake.send_raw("not json")
            await fake.send_raw('{"stream":"btcusdt@trade","data":{"e":"trade","p":"x"}}')
            await fake.send_raw('{"code":2,"msg":"Invalid request"}')
            pongs = await fake.ping_all()
            async with asyncio.timeout(5):
                await asyncio.gather(*pongs)  # websockets answers Binance's pings itself
            await fake.server_shutdown()
            await fake.wait_connections(2)
            await fake.drop_all()
            await fake.wait_connections(3)
            await fake.depth("BTCUSDT", bids=[("100.00", "4")])
            await fake.trade("BTCUSDT", "100.01", "0.1", aggregate=False)
            await got.wait_for(lambda: len(got.books()) >= 1)
    assert adapter.bad_messages == 3
    assert adapter.connections == 3
    assert got.books()[-1].bids[0] == (D("100.00"), D(4))


async def test_aggregate_trades_fast_depth_and_a_ban_waited_out() -> None:
    async with fake_binance() as fake:
        seed(fake, "BTCUSDT")
        fake.rate_limit_next(418, retry_after=0)
        options = {"trades": "aggTrade", "depth_interval_ms": 100}
        async with streaming(fake, "BTCUSDT", **options) as (_, got):
            await fake.wait_connections(1)
            await fake.trade("BTCUSDT", "100.01", "0.003", aggregate=True)
            await fake.depth("BTCUSDT", asks=[("100.01", "0.5")])
            await got.wait_for(lambda: len(got.books()) == 1)
    assert fake.connections[0] == ["btcusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@depth@100ms"]
    assert got.events[0] == TradeEvent("BTCUSDT", D("100.01"), D("0.003"), got.events[0].time)
    assert got.books()[0].asks[0] == (D("100.01"), D("0.5"))
    assert len(fake.snapshot_requests) == 2  # the 418, then the snapshot


async def test_a_connection_is_renewed_before_it_is_too_old() -> None:
    async with (
        fake_binance() as fake,
        streaming(fake, "BTCUSDT", max_connection_age=0.2) as (adapter, _),
    ):
        await fake.wait_connections(3, seconds=5)  # at once each time: no backoff
    assert adapter.bad_messages == 0


# -- through the pipeline to a GraphQL subscriber ------------------------------------------

BOOK = """subscription ($s: String!) { book(symbol: $s, depth: 5) {
  symbol snapshot simulated sequence previousSequence bids { price size } asks { price size } } }"""
QUOTES = """subscription ($s: [String!]!) { quotes(symbols: $s) {
  symbol price bid ask bidSize askSize volume sequence } }"""
TRADES = "subscription ($s: [String!]!) { trades(symbols: $s) { symbol price size sequence } }"
CRYPTO = Listing(exchange="BINANCE", currency="USDT", lot_size=D("0.00001"))


def side(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    """Levels as the API shows them: prices at the tick size, sizes without trailing zeros."""
    return [{"price": price, "size": size} for price, size in pairs]


@asynccontextmanager
async def binance_pipeline(
    full_settings: Settings,
) -> AsyncIterator[tuple[FakeBinance, Pipeline, str, GraphQLWS]]:
    """A fake Binance with one crypto symbol's book (1000: bids 100.00 x 1, 99.99 x 2,
    99.98 x 3; asks 100.01 x 0.5, 100.50 x 10, 100.60 x 3), the adapter on it through the
    pipeline (MARKET_HOURS=calendar: the symbol is listed on BINANCE, always open), and a
    `quotes` subscriber that has seen the first book (update 1001, with a bid of 1.5)."""
    symbol = symbol_for("BTC")
    settings = full_settings.model_copy(update={"market_hours": "calendar"})
    async with fake_binance() as fake:
        book = fake.book(symbol, update_id=1000)
        book.change(book.bids, [("100.00", "1"), ("99.99", "2"), ("99.98", "3")])
        book.change(book.asks, [("100.01", "0.5"), ("100.50", "10"), ("100.60", "3")])
        adapter = BinanceAdapter([symbol], url=fake.url, rest_url=fake.rest_url)
        async with (
            feed_pipeline(settings, EventFeed(adapter), [symbol], "binance", CRYPTO) as pipeline,
            graphql_ws(pipeline.server.ws) as quotes,
        ):
            await fake.wait_connections(1)
            await quotes.subscribe("q", QUOTES, {"s": [symbol]})
            await wait_subscribed(pipeline.settings, f"quote:{symbol}")
            await fake.depth(symbol, bids=[("100.00", "1.5")])  # 1001: buffered, then a snapshot
            first = (await quotes.next_payload(30))["data"]["quotes"]  # the book's tick
            assert (first["bid"], first["ask"], first["bidSize"]) == (
                "100.00",
                "100.01",
                "1.5",
            ), "prices at the tick size (0.01), sizes without Binance's trailing zeros"
            yield fake, pipeline, symbol, quotes


async def test_the_exchange_book_reaches_a_subscriber_through_a_resync(
    full_settings: Settings,
) -> None:
    async with (
        binance_pipeline(full_settings) as (fake, pipeline, symbol, _),
        graphql_ws(pipeline.server.ws) as books,
    ):
        await books.subscribe("b", BOOK, {"s": symbol})
        seen = [(await books.next_payload(30))["data"]["book"]]
        await fake.depth(symbol, asks=[("100.60", "0")])  # 1002
        seen.append((await books.next_payload(30))["data"]["book"])
        await fake.depth(symbol, bids=[("99.50", "7")], lost=True)  # 1003: never sent
        await fake.depth(symbol, asks=[("100.70", "4")])  # 1004: a gap, so a resync
        seen.append((await books.next_payload(30))["data"]["book"])
        await fake.depth(symbol, bids=[("99.99", "0")])  # 1005
        seen.append((await books.next_payload(30))["data"]["book"])
    print("fake sent:", *fake.sent, sep="\n  ")
    print("subscriber saw:", *seen, sep="\n  ")

    assert [(b["sequence"], b["previousSequence"], b["snapshot"]) for b in seen] == [
        (1001, None, True),
        (1002, 1001, False),
        (1004, None, True),  # the resync: a snapshot again
        (1005, 1004, False),
    ]
    assert all(b["simulated"] is False and b["symbol"] == symbol for b in seen)
    for before, after in itertools.pairwise(seen):
        assert after["previousSequence"] in (None, before["sequence"])  # continuity
    assert seen[0]["bids"] == side(("100.00", "1.5"), ("99.99", "2"), ("99.98", "3"))
    assert seen[0]["asks"] == side(("100.01", "0.5"), ("100.50", "10"), ("100.60", "3"))
    assert seen[1]["asks"] == side(("100.01", "0.5"), ("100.50", "10"))
    # after the resync the book holds the update it never received, and is right after it
    assert seen[2]["bids"] == side(
        ("100.00", "1.5"), ("99.99", "2"), ("99.98", "3"), ("99.50", "7")
    )
    assert seen[2]["asks"] == side(("100.01", "0.5"), ("100.50", "10"), ("100.70", "4"))
    assert seen[3]["bids"] == side(("100.00", "1.5"), ("99.98", "3"), ("99.50", "7"))
    assert fake.snapshot_requests == [f"symbol={symbol}&limit=1000"] * 2


async def test_quotes_trades_and_a_market_order_on_the_exchange_book(
    full_settings: Settings,
) -> None:
    async with (
        binance_pipeline(full_settings) as (fake, pipeline, symbol, quotes),
        graphql_ws(pipeline.server.ws) as trades,
        httpx.AsyncClient(base_url=pipeline.server.http, timeout=30) as http,
    ):
        await trades.subscribe("t", TRADES, {"s": [symbol]})
        await wait_subscribed(pipeline.settings, f"quote:{symbol}")
        await fake.book_ticker(symbol, "100.00", "1.2", "100.01", "0.5")
        quote = (await quotes.next_payload(30))["data"]["quotes"]
        await fake.trade(symbol, "100.01", "0.25")
        trade = (await trades.next_payload(30))["data"]["trades"]
        api = Api(http)
        account = await new_account(api)
        order = await place(api, account.token, symbol=symbol, quantity="1.5")
        cash = D((await folio(api, account.token))["cash"])
    print("fake sent:", *fake.sent, sep="\n  ")
    print("subscribers saw:", quote, trade, order, sep="\n  ")

    assert (quote["bid"], quote["ask"]) == ("100.00", "100.01")
    assert (quote["bidSize"], quote["askSize"]) == ("1.2", "0.5")  # bookTicker's
    assert (trade["symbol"], trade["price"], trade["size"]) == (symbol, "100.01", "0.25")
    # 0.5 @ 100.01 + 1 @ 100.50 = 150.505 for 1.5: 100.33667 -> 100.34, off the exchange's book
    # (the touch alone would give 100.01), around the clock (BINANCE's calendar is 24/7)
    assert (order["status"], order["averageFillPrice"]) == ("FILLED", "100.34")
    assert cash == START - D("1.5") * D("100.34")
