"""The Alpaca stocks-stream adapter: each message kind read exactly, the connection's life
against a fake Alpaca speaking the documented protocol (auth refused then accepted, the
connection limit, errors, a dropped connection), and through the whole pipeline to a
graphql-transport-ws subscriber of `quotes` and `trades`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import REGISTRY

from settings import Settings
from streaming.feeds.alpaca import (
    AlpacaAdapter,
    Bands,
    Control,
    ProviderError,
    Skipped,
    Unreadable,
    from_settings,
    parse_frame,
)
from streaming.feeds.connection import Backoff
from streaming.feeds.market import (
    BarEvent,
    EventFeed,
    MarketEvent,
    QuoteEvent,
    StatusEvent,
    TradeEvent,
)
from tests.conftest import make_settings
from tests.utils.fake_alpaca import FakeAlpaca, fake_alpaca
from tests.utils.feed_pipeline import feed_pipeline
from tests.utils.graphql_ws import GraphQLWS, graphql_ws
from tests.utils.live import eventually, symbol_for, wait_subscribed

AT = datetime(2021, 2, 22, 15, 51, 45, 335689, tzinfo=UTC)


# --- reading each kind ---


def test_a_trade_is_read_exactly_with_its_time_cut_to_microseconds() -> None:
    (trade,) = parse_frame(
        '[{"T":"t","i":96921,"S":"AAPL","x":"D","p":126.55,"s":1,'
        '"t":"2021-02-22T15:51:45.335689999Z","c":["@","I"],"z":"C"}]'
    )
    assert trade == TradeEvent("AAPL", Decimal("126.55"), Decimal(1), AT)


def test_a_quote_gives_the_touch_with_sizes_in_shares() -> None:
    (quote,) = parse_frame(
        '[{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"Q","ap":87.68,"as":4,'
        '"t":"2021-02-22T10:51:45.335689322-05:00","c":["R"],"z":"C"}]'
    )
    assert quote == QuoteEvent(
        "AMD",
        bid=Decimal("87.66"),
        ask=Decimal("87.68"),
        time=AT,
        bid_size=Decimal(100),
        ask_size=Decimal(400),
    )


def test_a_one_sided_quote_is_skipped_not_published() -> None:
    reads = parse_frame(
        '[{"T":"q","S":"A","bp":177.23,"bs":3,"ap":0,"as":0,"t":"2021-09-03T13:30:01Z"},'
        '{"T":"q","S":"A","bp":0,"bs":0,"ap":178,"as":1,"t":"2021-09-03T13:30:01Z"}]'
    )
    assert [type(r) for r in reads] == [Skipped, Skipped]
    assert {r.reason for r in reads if isinstance(r, Skipped)} == {"one_sided_quote"}


@pytest.mark.parametrize(("kind", "interval"), [("b", "1m"), ("u", "1m"), ("d", "1d")])
def test_bars_of_each_kind(kind: str, interval: str) -> None:
    (bar,) = parse_frame(
        f'[{{"T":"{kind}","S":"SPY","o":388.985,"h":389.13,"l":388.975,"c":389.12,'
        '"v":49378,"t":"2021-02-22T19:15:00Z","n":12,"vw":389.01}]'
    )
    assert bar == BarEvent(
        "SPY",
        interval,
        Decimal("388.985"),
        Decimal("389.13"),
        Decimal("388.975"),
        Decimal("389.12"),
        Decimal(49378),
        datetime(2021, 2, 22, 19, 15, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("code", "halted"),
    [("H", True), ("P", True), ("2", True), ("T", False), ("3", False)],
)
def test_statuses_that_halt_or_resume(code: str, halted: bool) -> None:
    (status,) = parse_frame(
        f'[{{"T":"s","S":"AAPL","sc":"{code}","sm":"Trading Halt","rc":"T12",'
        '"rm":"Trading Halted; For information requested by NASDAQ",'
        '"t":"2021-02-22T19:15:00Z","z":"C"}]'
    )
    assert isinstance(status, StatusEvent)
    assert (status.symbol, status.halted) == ("AAPL", halted)
    assert status.reason == (
        f"{code} Trading Halt; reason T12 Trading Halted; For information requested by NASDAQ"
    )


@pytest.mark.parametrize("code", ["Q", "5", "E", "F"])
def test_statuses_that_leave_the_halt_as_it_was(code: str) -> None:
    """A quotation resumption still bars trading; price indications, short-sale restriction
    and the LULD indicator are no halt or resume."""
    (read,) = parse_frame(
        f'[{{"T":"s","S":"AAPL","sc":"{code}","sm":"x","rc":"","rm":"",'
        '"t":"2021-02-22T19:15:00Z","z":"C"}]'
    )
    assert isinstance(read, Skipped)
    assert read.reason == "status"


def test_luld_bands_are_read_not_taken_for_a_halt() -> None:
    (bands,) = parse_frame(
        '[{"T":"l","S":"TEST","u":4.21,"d":3.22,"i":"B","t":"2021-07-05T13:32:00Z","z":"C"}]'
    )
    assert bands == Bands(
        "TEST", Decimal("4.21"), Decimal("3.22"), "B", datetime(2021, 7, 5, 13, 32, tzinfo=UTC)
    )


def test_control_and_error_messages() -> None:
    assert parse_frame('[{"T":"success","msg":"connected"}]') == [Control("success", "connected")]
    assert parse_frame('[{"T":"error","code":407,"msg":"slow client"}]') == [
        ProviderError(407, "slow client")
    ]
    (subscription,) = parse_frame(
        '[{"T":"subscription","trades":["AAPL"],"quotes":["AMD","CLDR"],"bars":["*"]}]'
    )
    assert subscription == Control(
        "subscription", channels={"trades": ["AAPL"], "quotes": ["AMD", "CLDR"], "bars": ["*"]}
    )


def test_corrections_and_cancels_are_skipped() -> None:
    reads = parse_frame(
        '[{"T":"c","S":"X","x":"V","oi":1,"op":1.5,"os":10,"ci":2,"cp":1.6,"cs":10,'
        '"t":"2021-02-22T19:15:00Z","z":"C"},'
        '{"T":"x","S":"X","i":1,"x":"V","p":1.5,"s":10,"a":"C","t":"2021-02-22T19:15:00Z"}]'
    )
    assert [r.reason for r in reads if isinstance(r, Skipped)] == ["correction", "cancel_error"]


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '{"T":"t"}',
        "[5]",
        '[{"T":"t","S":"AAPL","p":1,"s":1}]',
        '[{"T":"t","S":"AAPL","p":-1,"s":1,"t":"2021-02-22T19:15:00Z"}]',
        '[{"T":"t","S":"AAPL","p":"NaN","s":1,"t":"2021-02-22T19:15:00Z"}]',
        '[{"T":"t","S":"AAPL","p":1,"s":1,"t":"2021-02-22"}]',
        '[{"T":"t","S":"AAPL","p":1,"s":1,"t":"1613997300"}]',
        '[{"T":"q","S":"AAPL","bp":1,"bs":1,"ap":2,"t":"2021-02-22T19:15:00Z"}]',
        '[{"T":"s","S":"AAPL","t":"2021-02-22T19:15:00Z"}]',
        '[{"T":"error","msg":"no code"}]',
    ],
)
def test_unreadable_messages(raw: str) -> None:
    assert [type(r) for r in parse_frame(raw)] == [Unreadable]


def test_one_bad_message_spoils_none_of_its_array() -> None:
    reads = parse_frame(
        '[{"T":"t","S":"AAPL","p":"x","s":1,"t":"2021-02-22T19:15:00Z"},'
        '{"T":"t","S":"AAPL","p":1.5,"s":2,"t":"2021-02-22T19:15:00Z"}]'
    )
    assert [type(r) for r in reads] == [Unreadable, TradeEvent]


# --- settings ---


def test_from_settings_names_the_missing_credentials() -> None:
    with pytest.raises(ValueError, match="ALPACA_KEY_ID and ALPACA_SECRET_KEY"):
        from_settings(make_settings(), ["AAPL"])
    with pytest.raises(ValueError, match="needs ALPACA_SECRET_KEY:"):
        from_settings(make_settings(alpaca_key_id="k"), ["AAPL"])


def test_from_settings_picks_the_feed_or_the_url() -> None:
    adapter = from_settings(
        make_settings(alpaca_key_id="k", alpaca_secret_key="s3cr3t", alpaca_feed="sip"),
        ["aapl"],
    )
    assert adapter.url == "wss://stream.data.alpaca.markets/v2/sip"
    assert (adapter.key_id, adapter.secret_key, list(adapter.symbols)) == ("k", "s3cr3t", ["AAPL"])
    assert "s3cr3t" not in repr(adapter)  # the secret stays out of logs
    adapter = from_settings(
        make_settings(
            alpaca_key_id="k", alpaca_secret_key="s", provider_url="ws://127.0.0.1:1/v2/test"
        ),
        ["FAKEPACA"],
    )
    assert adapter.url == "ws://127.0.0.1:1/v2/test"


# --- the connection's life, against the fake ---


def _adapter(alpaca: FakeAlpaca, symbols: list[str], **values: Any) -> AlpacaAdapter:
    values.setdefault("backoff", Backoff(0.05, refused=0.05))
    return AlpacaAdapter(alpaca.url, "test-key", "test-secret", symbols, **values)


_RUNNING: dict[int, asyncio.Task[None]] = {}


@asynccontextmanager
async def streaming(adapter: AlpacaAdapter) -> AsyncIterator[asyncio.Queue[MarketEvent]]:
    """The adapter streaming into a queue until the block ends (or `_stop`)."""
    events: asyncio.Queue[MarketEvent] = asyncio.Queue()
    _RUNNING[id(adapter)] = asyncio.create_task(adapter.stream(events.put))
    try:
        yield events
    finally:
        await _stop(adapter)


async def _stop(adapter: AlpacaAdapter) -> None:
    task = _RUNNING.pop(id(adapter), None)
    if task is not None:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def _counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_it_authenticates_subscribes_every_channel_and_streams() -> None:
    async with fake_alpaca() as alpaca:
        adapter = _adapter(alpaca, ["AAPL", "MSFT"])
        async with streaming(adapter) as events:
            await alpaca.wait_subscribed(connections=1)
            await alpaca.trade("AAPL", "126.55", size=5)
            await alpaca.quote("MSFT", "410.1", "410.12", bid_size=2, ask_size=3)
            first, second = await events.get(), await events.get()
    assert alpaca.requests == [
        {"action": "auth", "key": "test-key", "secret": "test-secret"},
        {
            "action": "subscribe",
            "trades": ["AAPL", "MSFT"],
            "quotes": ["AAPL", "MSFT"],
            "bars": ["AAPL", "MSFT"],
            "statuses": ["AAPL", "MSFT"],
            "lulds": ["AAPL", "MSFT"],
        },
    ]
    assert adapter.subscribed["corrections"] == ["AAPL", "MSFT"]  # Alpaca's own addition
    assert isinstance(first, TradeEvent)
    assert first.price == Decimal("126.55")
    assert isinstance(second, QuoteEvent)
    assert (second.bid, second.bid_size, second.ask_size) == (
        Decimal("410.1"),
        Decimal(200),
        Decimal(300),
    )


async def test_refused_credentials_are_logged_and_retried_until_accepted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with fake_alpaca(secret="not-yet-valid") as alpaca:
        adapter = _adapter(alpaca, ["AAPL"])
        failures = _counted("trado_feed_provider_errors_total", feed="alpaca", code="402")
        with caplog.at_level(logging.WARNING, logger="streaming.feeds.alpaca"):
            async with streaming(adapter) as events:
                await alpaca.wait_for(lambda: alpaca.auth_failures >= 2)
                alpaca.secret = "test-secret"  # the key is enabled (say, the plan renewed)
                await alpaca.wait_for(lambda: any(alpaca.subscriptions))
                await alpaca.trade("AAPL", "100")
                trade = await asyncio.wait_for(events.get(), 10)
    assert isinstance(trade, TradeEvent)
    assert adapter.errors[402] >= 2
    assert adapter.connections == alpaca.connections >= 3
    assert _counted("trado_feed_provider_errors_total", feed="alpaca", code="402") >= failures + 2
    refusals = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert refusals, caplog.text
    assert "check ALPACA_KEY_ID and ALPACA_SECRET_KEY" in refusals[0].getMessage()


async def test_a_second_connection_of_the_account_waits_for_the_first() -> None:
    async with fake_alpaca() as alpaca:
        first, second = _adapter(alpaca, ["AAPL"]), _adapter(alpaca, ["AAPL"])
        async with streaming(first):
            await alpaca.wait_subscribed(connections=1)
            async with streaming(second) as events:
                await eventually(lambda: second.errors[406] >= 2, seconds=10)
                assert not second.subscribed
                await _stop(first)
                await eventually(lambda: bool(second.subscribed), seconds=10)
                await alpaca.trade("AAPL", "101")
                assert isinstance(await asyncio.wait_for(events.get(), 10), TradeEvent)


async def test_a_symbol_limit_refusal_is_counted_and_retried() -> None:
    async with fake_alpaca(symbol_limit=1) as alpaca:
        adapter = _adapter(alpaca, ["AAPL", "MSFT"])
        async with streaming(adapter):
            await eventually(lambda: adapter.errors[405] >= 2, seconds=10)
    assert not adapter.subscribed


async def test_a_feed_without_statuses_still_streams_trades_and_quotes() -> None:
    async with fake_alpaca() as alpaca:
        alpaca.refused_channels = {"statuses", "lulds"}
        adapter = _adapter(alpaca, ["AAPL"])
        async with streaming(adapter) as events:
            await alpaca.wait_subscribed(connections=1)
            await alpaca.trade("AAPL", "100.5")
            trade = await asyncio.wait_for(events.get(), 10)
    assert isinstance(trade, TradeEvent)
    assert [sorted(set(r) - {"action"}) for r in alpaca.requests[1:]] == [
        ["bars", "lulds", "quotes", "statuses", "trades"],
        ["bars", "quotes", "trades"],
    ]
    assert adapter.errors[410] == 1
    assert (adapter.subscribed["trades"], adapter.subscribed["statuses"]) == (["AAPL"], [])
    assert adapter.connections == 1


async def test_a_dropped_connection_reconnects_and_subscribes_again() -> None:
    async with fake_alpaca() as alpaca:
        adapter = _adapter(alpaca, ["AAPL", "MSFT"])
        reconnects = _counted("trado_feed_reconnects_total", feed="alpaca")
        async with streaming(adapter) as events:
            await alpaca.wait_subscribed(connections=1)
            await alpaca.drop_all()
            await alpaca.wait_subscribed(connections=2)
            await alpaca.trade("MSFT", "400")
            trade = await asyncio.wait_for(events.get(), 10)
    assert isinstance(trade, TradeEvent)
    assert trade.symbol == "MSFT"
    assert alpaca.subscriptions[0] == alpaca.subscriptions[1]
    assert alpaca.subscriptions[1]["statuses"] == ["AAPL", "MSFT"]
    assert [r["action"] for r in alpaca.requests] == ["auth", "subscribe"] * 2
    assert adapter.connections == 2
    assert _counted("trado_feed_reconnects_total", feed="alpaca") == reconnects + 1


async def test_errors_and_bad_messages_are_counted_and_the_stream_goes_on() -> None:
    async with fake_alpaca() as alpaca:
        adapter = _adapter(alpaca, ["AAPL"])
        slow = _counted("trado_feed_provider_errors_total", feed="alpaca", code="407")
        bad = _counted("trado_feed_bad_messages_total", feed="alpaca")
        one_sided = _counted(
            "trado_feed_skipped_messages_total", feed="alpaca", reason="one_sided_quote"
        )
        async with streaming(adapter) as events:
            await alpaca.wait_subscribed(connections=1)
            await alpaca.error(407, "slow client")
            await alpaca.send_raw("not json")
            await alpaca.send_raw('[{"T":"t","S":"AAPL","p":1}]')
            await alpaca.quote("AAPL", "10", "0", ask_size=0)
            await alpaca.luld("AAPL", "11.5", "9.5")
            await alpaca.trade("AAPL", "10.01")
            trade = await asyncio.wait_for(events.get(), 10)
    assert isinstance(trade, TradeEvent)
    assert trade.price == Decimal("10.01")
    assert events.empty()
    assert adapter.errors[407] == 1
    assert (adapter.bad_messages, adapter.skipped["one_sided_quote"]) == (2, 1)
    assert adapter.bands["AAPL"].up == Decimal("11.5")
    assert adapter.connections == 1
    assert _counted("trado_feed_provider_errors_total", feed="alpaca", code="407") == slow + 1
    assert _counted("trado_feed_bad_messages_total", feed="alpaca") == bad + 2
    assert (
        _counted("trado_feed_skipped_messages_total", feed="alpaca", reason="one_sided_quote")
        == one_sided + 1
    )


# --- through the pipeline ---

QUOTES = (
    "subscription ($s: [String!]!) { quotes(symbols: $s) "
    "{ symbol price bid ask bidSize askSize volume halted sequence } }"
)
TRADES = (
    "subscription ($s: [String!]!) { trades(symbols: $s) { symbol price size aggressor sequence } }"
)


class _Subscriber:
    """One graphql-transport-ws connection with several subscriptions: the next payload of
    each by its id."""

    def __init__(self, client: GraphQLWS) -> None:
        self.client = client
        self.pending: dict[str, list[dict[str, Any]]] = {}

    async def next(self, id: str, seconds: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(seconds):
            while not self.pending.get(id):
                message = await self.client.receive(seconds)
                if message["type"] == "ping":
                    await self.client.send({"type": "pong"})
                    continue
                assert message["type"] == "next", message
                self.pending.setdefault(message["id"], []).append(message["payload"]["data"])
        return self.pending[id].pop(0)

    async def nothing_more(self, id: str, seconds: float = 1) -> None:
        try:
            payload = await self.next(id, seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {id}: {payload}")


async def test_quotes_trades_and_halts_reach_a_subscriber(full_settings: Settings) -> None:
    symbol = symbol_for("ALP")
    async with fake_alpaca() as alpaca:
        adapter = _adapter(alpaca, [symbol])
        async with (
            feed_pipeline(full_settings, EventFeed(adapter), [symbol], name="alpaca") as pipeline,
            graphql_ws(pipeline.server.ws) as client,
        ):
            subscriber = _Subscriber(client)
            await alpaca.wait_subscribed(connections=1)
            await client.subscribe("t", TRADES, {"s": [symbol]})
            await client.subscribe("q", QUOTES, {"s": [symbol]})
            await wait_subscribed(pipeline.settings, f"quote:{symbol}")

            await alpaca.quote(symbol, "248.9", "249.02", bid_size=3, ask_size=5)
            quote = (await subscriber.next("q"))["quotes"]
            await alpaca.trade(symbol, "249", size=30)
            after_trade = (await subscriber.next("q"))["quotes"]
            trade = (await subscriber.next("t"))["trades"]
            await alpaca.status(symbol, "H", "Trading Halt", "T12", "Trading Halted")
            halted = (await subscriber.next("q"))["quotes"]
            await alpaca.status(symbol, "T", "Trading Resumption")
            resumed = (await subscriber.next("q"))["quotes"]

            await alpaca.drop_all()
            await alpaca.wait_subscribed(connections=2)
            await alpaca.trade(symbol, "249.01", size=10)
            after_reconnect = (await subscriber.next("t"))["trades"]
            await subscriber.nothing_more("t")

    touch = {"symbol": symbol, "bid": "248.90", "ask": "249.02", "bidSize": "300", "askSize": "500"}
    assert quote == touch | {"price": "248.96", "volume": "0", "halted": False, "sequence": 1}
    assert after_trade == touch | {
        "price": "249.00",
        "volume": "30",
        "halted": False,
        "sequence": 2,
    }
    assert trade == {
        "symbol": symbol,
        "price": "249.00",
        "size": "30",
        "aggressor": None,
        "sequence": 2,
    }
    assert halted == touch | {"price": "249.00", "volume": "0", "halted": True, "sequence": 3}
    assert resumed == touch | {"price": "249.00", "volume": "0", "halted": False, "sequence": 4}
    assert after_reconnect == {
        "symbol": symbol,
        "price": "249.01",
        "size": "10",
        "aggressor": None,
        "sequence": 5,
    }
    assert alpaca.subscriptions[1]["quotes"] == [symbol]
