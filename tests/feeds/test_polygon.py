"""Polygon's (Massive's) stocks stream: each message read exactly, bad ones counted; the adapter
against the fake server (auth refused then accepted, limits, drops); and through the whole
pipeline (feed → Kafka → bridge → Redis → API → a graphql-transport-ws client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from settings import Settings
from streaming.errors import BadTick
from streaming.feeds.connection import Backoff
from streaming.feeds.market import BarEvent, EventFeed, MarketEvent, QuoteEvent, TradeEvent
from streaming.feeds.polygon import (
    REAL_TIME_URL,
    PolygonAdapter,
    Status,
    from_settings,
    parse_message,
)
from streaming.metrics import FEED_BAD_MESSAGES
from tests.conftest import make_settings
from tests.utils.fake_polygon import API_KEY, MILLIS, FakePolygon, aggregate, fake_polygon, quote
from tests.utils.fake_polygon import trade as trade_event
from tests.utils.feed_pipeline import feed_pipeline
from tests.utils.graphql_ws import graphql_ws
from tests.utils.live import eventually, symbol_for, wait_subscribed

AT = datetime(2026, 1, 1, 14, 30, 0, 123000, tzinfo=UTC)  # MILLIS, exactly


# --- each message read exactly --------------------------------------------------------------


def test_a_trade_is_read_exactly() -> None:
    raw = (
        '[{"ev":"T","sym":"AAPL","x":4,"i":"12345","z":3,"p":249.10,"s":30,'
        '"c":[14,41],"t":1767277800123,"q":3681328}]'
    )
    assert parse_message(raw).items == [TradeEvent("AAPL", Decimal("249.10"), Decimal(30), AT)]


def test_a_price_no_float_can_hold_stays_exact() -> None:
    raw = '[{"ev":"T","sym":"X","p":0.30000000000000004,"s":1,"t":1767277800123}]'
    (event,) = parse_message(raw).items
    assert isinstance(event, TradeEvent)
    assert event.price == Decimal("0.30000000000000004")


def test_a_quote_is_read_with_its_sizes_in_shares() -> None:
    raw = (
        '[{"ev":"Q","sym":"MSFT","bx":4,"bp":114.125,"bs":100,"ax":7,"ap":114.128,"as":160,'
        '"c":0,"i":[604],"t":1767277800123,"q":50385480,"z":3}]'
    )
    assert parse_message(raw).items == [
        QuoteEvent("MSFT", Decimal("114.125"), Decimal("114.128"), AT, Decimal(100), Decimal(160))
    ]


def test_second_and_minute_aggregates_are_bars_from_their_start() -> None:
    raw = (
        '[{"ev":"A","sym":"SPCE","v":200,"av":8642007,"op":25.66,"vw":25.3981,"o":25.39,'
        '"c":25.39,"h":25.40,"l":25.38,"a":25.3714,"z":50,"s":1767277800000,"e":1767277801000},'
        '{"ev":"AM","sym":"GTE","v":4110,"av":9470157,"op":0.4372,"vw":0.4488,"o":0.4488,'
        '"c":0.4486,"h":0.4489,"l":0.4486,"a":0.4352,"z":685,"s":1767277740000,"e":1767277800000}]'
    )
    second, minute = parse_message(raw).items
    assert second == BarEvent(
        "SPCE",
        "1s",
        Decimal("25.39"),
        Decimal("25.40"),
        Decimal("25.38"),
        Decimal("25.39"),
        Decimal(200),
        datetime(2026, 1, 1, 14, 30, tzinfo=UTC),
    )
    assert isinstance(minute, BarEvent)
    assert (minute.interval, minute.open, minute.time) == (
        "1m",
        Decimal("0.4488"),
        datetime(2026, 1, 1, 14, 29, tzinfo=UTC),
    )


def test_statuses_are_read_in_order_with_events() -> None:
    raw = (
        '[{"ev":"status","status":"success","message":"subscribed to: T.AAPL"},'
        '{"ev":"T","sym":"AAPL","p":1,"s":1,"t":0}]'
    )
    status, trade = parse_message(raw).items
    assert status == Status("success", "subscribed to: T.AAPL")
    assert isinstance(trade, TradeEvent)
    assert trade.time == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("conditions", "kept"),
    [
        ([], True),
        ([0], True),  # regular sale
        ([14, 41], True),  # intermarket sweep, trade-through exempt
        ([12], True),  # Form T: pre- and after-hours trades move the price
        ([37], False),  # odd lot: volume only, never the last price
        ([2], False),  # average price
        ([14, 37, 41], False),
        ([15], False),  # market center official close: not a trade
    ],
)
def test_trades_that_are_no_last_sale_are_passed_over(conditions: list[int], kept: bool) -> None:
    raw = f'[{{"ev":"T","sym":"AAPL","p":249,"s":5,"c":{conditions},"t":1767277800123}}]'
    parsed = parse_message(raw)
    assert (len(parsed.items), parsed.passed_over, parsed.bad) == (int(kept), int(not kept), [])


def test_known_events_trado_has_no_use_for_are_passed_over_not_bad() -> None:
    raw = (
        '[{"ev":"LULD","T":"MSFT","h":218.96,"l":198.11,"i":[21],"z":3,"t":1601316752683746,'
        '"q":290317},{"ev":"Q","sym":"AAPL","bp":0,"bs":0,"ap":249.01,"as":300,"t":1}]'
    )
    parsed = parse_message(raw)
    assert (parsed.items, parsed.passed_over, parsed.bad) == ([], 2, [])


def test_bad_events_cost_only_themselves() -> None:
    good = '{"ev":"T","sym":"AAPL","p":249,"s":1,"t":1767277800123}'
    bad = [
        '{"ev":"T","sym":"AAPL","p":"249","s":1,"t":1}',  # price as a string
        '{"ev":"T","sym":"AAPL","p":0,"s":1,"t":1}',  # no price
        '{"ev":"T","sym":"AAPL","p":249,"s":-1,"t":1}',  # negative size
        '{"ev":"T","sym":"AAPL","p":249,"s":1,"t":1.5}',  # fractional milliseconds
        '{"ev":"T","sym":"AAPL","p":249,"s":1}',  # no time
        '{"ev":"Q","sym":"AAPL","bp":249,"ap":249.01,"t":1}',  # no sizes
        '{"ev":"AM","sym":"AAPL","o":1,"h":1,"l":1,"c":1,"v":true,"s":1}',  # volume a boolean
        '{"ev":"XT","pair":"BTC-USD"}',  # not a stocks event
        '{"sym":"AAPL"}',  # no type
        "[1]",
        "null",
    ]
    parsed = parse_message("[" + ",".join([good, *bad, good]) + "]")
    assert len(parsed.items) == 2
    assert len(parsed.bad) == len(bad)


@pytest.mark.parametrize("raw", ["", "not json", '{"ev":"status"}', "42", b"\xff"])
def test_a_message_that_is_no_array_of_events_is_bad(raw: str | bytes) -> None:
    with pytest.raises(BadTick):
        parse_message(raw)


# --- settings --------------------------------------------------------------------------------


def test_from_settings_needs_the_key() -> None:
    with pytest.raises(ValueError, match="POLYGON_API_KEY"):
        from_settings(make_settings(provider="polygon"), ["AAPL"])


def test_from_settings_defaults_to_the_real_time_feed_unless_provider_url() -> None:
    keyed = make_settings(provider="polygon", polygon_api_key="k")
    adapter = from_settings(keyed, ["AAPL", "MSFT"])
    assert (adapter.url, adapter.api_key, adapter.name) == (REAL_TIME_URL, "k", "polygon")
    assert adapter.subscription == "T.AAPL,Q.AAPL,A.AAPL,AM.AAPL,T.MSFT,Q.MSFT,A.MSFT,AM.MSFT"
    delayed = make_settings(
        provider="polygon", polygon_api_key="k", provider_url="wss://delayed.massive.com/stocks"
    )
    assert from_settings(delayed, ["AAPL"]).url == "wss://delayed.massive.com/stocks"


# --- the adapter against the fake server ----------------------------------------------------


@asynccontextmanager
async def streaming(adapter: PolygonAdapter) -> AsyncIterator[asyncio.Queue[MarketEvent]]:
    """`adapter` streaming into a queue until the block ends."""
    events: asyncio.Queue[MarketEvent] = asyncio.Queue()

    async def emit(event: MarketEvent) -> None:
        await events.put(event)

    task = asyncio.create_task(adapter.stream(emit))
    try:
        yield events
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def adapter_for(polygon: FakePolygon, symbols: list[str], key: str = API_KEY) -> PolygonAdapter:
    backoff = Backoff(0.05, 0.2, refused=0.1, refused_maximum=0.2)
    return PolygonAdapter(key, symbols, polygon.url, backoff)


async def next_event(events: asyncio.Queue[MarketEvent]) -> MarketEvent:
    async with asyncio.timeout(10):
        return await events.get()


async def test_the_adapter_authenticates_subscribes_and_emits_a_batch_in_order() -> None:
    async with fake_polygon() as polygon:
        adapter = adapter_for(polygon, ["AAPL"])
        async with streaming(adapter) as events:
            await polygon.wait_subscribed(connections=1, channels=4)
            await polygon.push(
                quote("AAPL", "248.99", "249.01"),
                trade_event("AAPL", "249.00", 30),
                trade_event("OTHER", "1", 1),  # not subscribed: the fake leaves it out
                aggregate("AM", "AAPL", ("249", "249.5", "248.5", "249"), 900, MILLIS - 123),
            )
            got = [await next_event(events) for _ in range(3)]
    assert polygon.auths == [API_KEY]
    assert polygon.subscriptions == [["T.AAPL", "Q.AAPL", "A.AAPL", "AM.AAPL"]]
    assert [type(e) for e in got] == [QuoteEvent, TradeEvent, BarEvent]
    assert got[1] == TradeEvent("AAPL", Decimal("249.00"), Decimal(30), AT)


async def test_a_refused_key_is_retried_later_and_never_crashes() -> None:
    async with fake_polygon() as polygon:
        polygon.refuse_keys = 1  # refused once, accepted on the retry
        adapter = adapter_for(polygon, ["AAPL"])
        async with streaming(adapter) as events:
            await polygon.wait_subscribed(connections=1, channels=4)
            await polygon.push(trade_event("AAPL", "249", 1))
            assert isinstance(await next_event(events), TradeEvent)
    assert polygon.auths == [API_KEY, API_KEY]
    assert (adapter.refusals, adapter.connections) == (1, 2)


async def test_a_wrong_key_or_a_plan_without_the_stream_is_refused_again_and_again() -> None:
    async with fake_polygon() as polygon:
        wrong = adapter_for(polygon, ["AAPL"], key="wrong")
        async with streaming(wrong):
            await eventually(lambda: wrong.refusals >= 3, seconds=10)
        polygon.plan_refused = True
        unpaid = adapter_for(polygon, ["AAPL"])
        async with streaming(unpaid):
            await eventually(lambda: unpaid.refusals >= 2, seconds=10)
    assert polygon.auths[:3] == ["wrong"] * 3
    assert polygon.subscriptions == []


async def test_max_connections_backs_off_longer_then_reconnects() -> None:
    async with fake_polygon() as polygon:
        adapter = adapter_for(polygon, ["AAPL"])
        adapter.backoff = Backoff(0.05, 0.2, refused=1.0)
        async with streaming(adapter) as events:
            await polygon.wait_subscribed(connections=1, channels=4)
            loop = asyncio.get_running_loop()
            cut = loop.time()
            await polygon.max_connections()
            await polygon.wait_subscribed(connections=2, channels=4)
            waited = loop.time() - cut
            await polygon.push(trade_event("AAPL", "249", 1))
            assert isinstance(await next_event(events), TradeEvent)
    assert adapter.refusals == 1
    assert waited >= 0.5  # a random half to all of refused_backoff


@pytest.mark.parametrize("reason", ["slow_consumer", "force_disconnect", "auth_timeout"])
async def test_a_disconnect_status_reconnects_at_once(reason: str) -> None:
    async with fake_polygon() as polygon:
        adapter = adapter_for(polygon, ["AAPL"])
        adapter.backoff = Backoff(0.05, 0.2, refused=60.0)  # not waited: these are no refusals
        async with streaming(adapter):
            await polygon.wait_subscribed(connections=1, channels=4)
            await polygon.send_status(reason, "bye")
            await polygon.wait_subscribed(connections=2, channels=4)
    assert (adapter.refusals, adapter.bad_messages) == (0, 0)


async def test_a_dropped_connection_reconnects_and_subscribes_again() -> None:
    async with fake_polygon() as polygon:
        adapter = adapter_for(polygon, ["AAPL", "MSFT"])
        async with streaming(adapter) as events:
            await polygon.wait_subscribed(connections=1, channels=8)
            await polygon.drop_all()
            await polygon.wait_subscribed(connections=2, channels=8)
            await polygon.push(trade_event("MSFT", "480.5", 2))
            event = await next_event(events)
    assert polygon.subscriptions[0] == polygon.subscriptions[1]
    assert event == TradeEvent("MSFT", Decimal("480.5"), Decimal(2), AT)


async def test_bad_messages_are_counted_and_the_stream_goes_on() -> None:
    before = FEED_BAD_MESSAGES.labels("polygon")._value.get()
    async with fake_polygon() as polygon:
        adapter = adapter_for(polygon, ["AAPL"])
        async with streaming(adapter) as events:
            await polygon.wait_subscribed(connections=1, channels=4)
            await polygon.send_raw("not json")
            await polygon.send_raw('{"ev":"T","sym":"AAPL","p":249,"s":1,"t":1}')  # no array
            await polygon.send_raw('[{"ev":"T","sym":"AAPL","p":"x","s":1,"t":1}]')
            await polygon.send_status("error", "something went wrong")  # logged, not bad
            await polygon.push(trade_event("AAPL", "249", 1))
            assert isinstance(await next_event(events), TradeEvent)
    assert adapter.bad_messages == 3
    assert FEED_BAD_MESSAGES.labels("polygon")._value.get() - before == 3
    assert adapter.connections == 1


# --- through the pipeline --------------------------------------------------------------------

QUOTES = (
    "subscription ($s: [String!]!) { quotes(symbols: $s) "
    "{ symbol price bid ask bidSize askSize volume sequence } }"
)
TRADES = (
    "subscription ($s: [String!]!) { trades(symbols: $s) "
    "{ symbol price size aggressor timestamp sequence } }"
)


async def next_of(client: Any, kind: str) -> dict[str, Any]:
    payload = await client.next_payload(30)
    data: dict[str, Any] = payload["data"][kind]
    return data


async def test_quotes_from_quotes_and_trades_from_trades_reach_a_subscriber(
    full_settings: Settings,
) -> None:
    symbol = symbol_for("PG")
    async with fake_polygon() as polygon:
        polygon.refuse_keys = 1  # the first connection is refused: the retry gets through
        adapter = adapter_for(polygon, [symbol])
        async with (
            feed_pipeline(full_settings, EventFeed(adapter), [symbol], "polygon") as pipeline,
            graphql_ws(pipeline.server.ws) as quotes,
            graphql_ws(pipeline.server.ws) as trades,
        ):
            await polygon.wait_subscribed(connections=1, channels=4)
            await quotes.subscribe("q", QUOTES, {"s": [symbol]})
            await trades.subscribe("t", TRADES, {"s": [symbol]})
            await wait_subscribed(pipeline.settings, f"quote:{symbol}")
            await polygon.push(quote(symbol, "248.99", "249.01", 200, 300, sequence=1))
            first = await next_of(quotes, "quotes")
            await polygon.push(
                trade_event(symbol, "249.01", 30, sequence=2),
                trade_event(symbol, "249.005", 3, conditions=(37,), sequence=3),  # odd lot
                aggregate("A", symbol, ("249", "249.01", "249", "249.01"), 30, MILLIS - 123),
                aggregate("AM", symbol, ("248", "249.01", "248", "249.01"), 900, MILLIS - 123),
            )
            second = await next_of(quotes, "quotes")
            tape = await next_of(trades, "trades")
            await polygon.drop_all()  # reconnect, subscribe again, carry on
            await polygon.wait_subscribed(connections=2, channels=4)
            await polygon.push(quote(symbol, "249", "249.02", 100, 400, sequence=4))
            third = await next_of(quotes, "quotes")
    assert first == {
        "symbol": symbol,
        "price": "249.00",  # the midpoint before any trade
        "bid": "248.99",
        "ask": "249.01",
        "bidSize": "200",
        "askSize": "300",
        "volume": "0",
        "sequence": 1,
    }
    assert second == {**first, "price": "249.01", "volume": "30", "sequence": 2}
    assert tape == {
        "symbol": symbol,
        "price": "249.01",
        "size": "30",
        "aggressor": "BUY",  # at the ask it left
        "timestamp": "2026-01-01T14:30:00.123000+00:00",
        "sequence": 2,  # the quote before it (1) is not on the tape
    }
    # The odd lot and both bars made no tick: the next quote follows the trade at once.
    assert third == {
        **first,
        "price": "249.01",
        "bid": "249.00",
        "ask": "249.02",
        "bidSize": "100",
        "askSize": "400",
        "sequence": 3,
    }
    assert polygon.auths == [API_KEY, API_KEY, API_KEY]
    assert polygon.subscriptions == [[f"{c}.{symbol}" for c in ("T", "Q", "A", "AM")]] * 2
    await eventually(lambda: adapter.passed_over == 1)
