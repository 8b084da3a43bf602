"""Subscriptions over both WebSocket protocols (embedded mode, real sockets): candles (over
the HTTP streams too), throttling, limits, the protocols' close codes, and /metrics."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from settings import Settings
from tests.conftest import embedded_mode
from tests.utils.graphql_ws import (
    LEGACY_PROTOCOL,
    close_code,
    graphql_ws,
    legacy_graphql_ws,
    raw_socket,
)
from tests.utils.server import RunningServer, running_server
from tests.utils.transports import TRANSPORTS, subscription_client

QUOTES = "subscription ($s: [String!]!, $t: Int) { quotes(symbols: $s, throttleMs: $t) { symbol sequence } }"  # noqa: E501
CANDLES = (
    "subscription ($s: String!, $i: CandleInterval!) { candles(symbol: $s, interval: $i) "
    "{ symbol interval start open high low close volume lastSequence } }"
)


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    """With /metrics, which the tests read (the test environment serves it only when told)."""
    return embedded_mode(tmp_path, metrics_endpoint=True)


@pytest.fixture
async def limited_server(embedded_settings: Settings) -> AsyncIterator[RunningServer]:
    settings = embedded_settings.model_copy(
        update={
            "connection_init_timeout_seconds": 0.5,
            "max_subscriptions_per_connection": 2,
            "max_symbols_per_subscription": 3,
        }
    )
    async with running_server(settings) as server:
        yield server


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_candles_stream_the_forming_bar(
    embedded_server: RunningServer, transport: str
) -> None:
    async with subscription_client(transport, embedded_server) as client:
        await client.subscribe("c", CANDLES, {"s": "aapl", "i": "ONE_DAY"})
        bars = [(await client.next_payload())["data"]["candles"] for _ in range(5)]
    assert {(b["symbol"], b["interval"]) for b in bars} == {("AAPL", "ONE_DAY")}
    sequences = [b["lastSequence"] for b in bars]
    assert sequences == sorted(set(sequences)), "each update is newer than the last"
    assert Decimal(bars[-1]["volume"]) > Decimal(bars[0]["volume"]), "volume accumulates"
    for bar in bars:
        low, high = Decimal(bar["low"]), Decimal(bar["high"])
        assert low <= Decimal(bar["open"]) <= high
        assert low <= Decimal(bar["close"]) <= high
        assert "T00:00:00" in bar["start"], "a daily bar starts at midnight UTC"


async def test_throttle_limits_updates_per_symbol(embedded_server: RunningServer) -> None:
    async with graphql_ws(embedded_server.ws) as ws:
        await ws.subscribe("q", QUOTES, {"s": ["AAPL"], "t": 300})
        await ws.next_payload()  # the snapshot
        arrivals = []
        for _ in range(4):
            await ws.next_payload()
            arrivals.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.25, gaps


@pytest.mark.parametrize("throttle", [-1, 60_001])
async def test_bad_throttle_is_a_clear_error(embedded_server: RunningServer, throttle: int) -> None:
    async with graphql_ws(embedded_server.ws) as ws:
        await ws.subscribe("q", QUOTES, {"s": ["AAPL"], "t": throttle})
        message = await ws.receive()
    assert "throttleMs must be between 0 and 60000" in message["payload"]["errors"][0]["message"]


async def test_legacy_protocol_streams_and_stops(embedded_server: RunningServer) -> None:
    async with legacy_graphql_ws(embedded_server.ws) as ws:
        await ws.subscribe("1", QUOTES, {"s": ["MSFT"]})
        quotes = [(await ws.next_payload())["data"]["quotes"] for _ in range(3)]
        await ws.send({"type": "stop", "id": "1"})
        while (message := await ws.receive())["type"] == "data":
            pass
        assert message == {"type": "complete", "id": "1"}
    assert [q["symbol"] for q in quotes] == ["MSFT"] * 3
    assert [q["sequence"] for q in quotes] == sorted({q["sequence"] for q in quotes})


async def test_legacy_protocol_answers_bad_messages_with_errors(
    limited_server: RunningServer,
) -> None:
    async with legacy_graphql_ws(limited_server.ws) as ws:
        await ws.send({"type": "bogus"})
        assert (await ws.receive())["type"] == "error"
        await ws.send({"type": "start", "id": "1"})
        assert (await ws.receive()) == {
            "type": "error",
            "id": "1",
            "payload": {"message": "start needs a payload with a query"},
        }
        await ws.socket.send("[1, 2]")
        assert (await ws.receive())["type"] == "error"
        await ws.send({"type": "connection_init", "payload": {}})
        assert await close_code(ws) == 4429


async def test_legacy_protocol_init_timeout(limited_server: RunningServer) -> None:
    async with raw_socket(limited_server.ws, LEGACY_PROTOCOL) as ws:
        assert await close_code(ws, 5) == 4408


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"type": "bogus"}], 4400),
        ([{"type": "connection_init", "payload": "not an object"}], 4400),
        ([{"id": "1", "type": "subscribe", "payload": {"query": "subscription { x }"}}], 4401),
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429),
        ([], 4408),
    ],
    ids=["unknown-type", "bad-init-payload", "subscribe-before-init", "second-init", "no-init"],
)
async def test_transport_ws_close_codes(
    limited_server: RunningServer, messages: list[dict[str, object]], code: int
) -> None:
    async with raw_socket(limited_server.ws) as ws:
        for message in messages:
            await ws.send(message)
        assert await close_code(ws, 5) == code


async def test_transport_ws_reused_id_is_4409(limited_server: RunningServer) -> None:
    async with graphql_ws(limited_server.ws) as ws:
        await ws.subscribe("same", QUOTES, {"s": ["AAPL"]})
        await ws.subscribe("same", QUOTES, {"s": ["MSFT"]})
        assert await close_code(ws) == 4409


async def test_limits_per_subscription_and_per_connection(
    limited_server: RunningServer,
) -> None:
    async with graphql_ws(limited_server.ws) as ws:
        await ws.subscribe("big", QUOTES, {"s": ["AAPL", "MSFT", "NVDA", "AMZN"]})
        message = await ws.receive()
        assert "at most 3 symbols" in message["payload"]["errors"][0]["message"]
        await ws.subscribe("1", QUOTES, {"s": ["AAPL"]})
        await ws.subscribe("2", QUOTES, {"s": ["MSFT"]})
        await ws.subscribe("3", QUOTES, {"s": ["NVDA"]})
        while (message := await ws.receive())["type"] != "error":
            assert message["id"] in ("1", "2", "big")
        assert message["id"] == "3"
        assert message["payload"][0]["message"] == "Subscription limit reached"


async def test_metrics_are_served(embedded_server: RunningServer) -> None:
    async with graphql_ws(embedded_server.ws) as ws:
        await ws.subscribe("q", QUOTES, {"s": ["AAPL"]})
        for _ in range(3):
            await ws.next_payload()
        async with httpx.AsyncClient(base_url=embedded_server.http) as client:
            response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in response.text.splitlines()
        if line and not line.startswith("#")
    }
    for name in (
        "trado_ticks_consumed_total",
        "trado_consumer_lag",
        'trado_publishes_total{kind="quote"}',
        "trado_active_subscriptions",
        "trado_deliveries_total",
        "trado_conflated_drops_total",
    ):
        assert name in values, name
    assert values["trado_ticks_consumed_total"] > 0
    assert values["trado_active_subscriptions"] >= 1
    assert values["trado_deliveries_total"] >= 2


async def test_subscription_ends_cleanly_when_the_client_leaves(
    embedded_server: RunningServer,
) -> None:
    """Closing the socket unsubscribes from the hub (no leaked channels or subscribers)."""
    async with graphql_ws(embedded_server.ws) as ws:
        await ws.subscribe("q", QUOTES, {"s": ["AAPL", "MSFT"]})
        await ws.next_payload()
    async with httpx.AsyncClient(base_url=embedded_server.http) as client:
        for _ in range(50):
            text = (await client.get("/metrics")).text
            if "\ntrado_hub_channels 0.0" in text:
                break
            await asyncio.sleep(0.05)
    assert "\ntrado_hub_channels 0.0" in text


async def test_shared_selections_keep_each_operation_its_own_id_shape_and_symbols(
    embedded_server: RunningServer,
) -> None:
    """Quotes are executed once per tick per distinct selection and the frame's id spliced in
    per operation: two connections share one selection with different symbols, and a second
    operation on the first connection asks for another shape (alias, directive)."""
    plain = "subscription ($s: [String!]!) { quotes(symbols: $s) { symbol sequence } }"
    shaped = (
        "subscription ($s: [String!]!, $b: Boolean!) "
        "{ q: quotes(symbols: $s) { sym: symbol sequence bid @include(if: $b) } }"
    )
    async with graphql_ws(embedded_server.ws) as one, graphql_ws(embedded_server.ws) as two:
        await one.subscribe("a", plain, {"s": ["AAPL", "MSFT"]})
        await one.subscribe("b", shaped, {"s": ["GS"], "b": False})
        await two.subscribe("a", plain, {"s": ["JPM"]})
        seen: dict[str, set[str]] = {"a": set(), "b": set()}
        last: dict[tuple[str, str], int] = {}
        while len(seen["a"]) < 2 or not seen["b"]:
            message = await one.receive()
            data = message["payload"]["data"]
            if message["id"] == "a":
                assert set(data) == {"quotes"}
                assert set(data["quotes"]) == {"symbol", "sequence"}
                symbol = data["quotes"]["symbol"]
            else:
                assert message["id"] == "b", message
                assert set(data) == {"q"}
                assert set(data["q"]) == {"sym", "sequence"}  # bid excluded by $b
                symbol = data["q"]["sym"]
            assert symbol in ({"AAPL", "MSFT"} if message["id"] == "a" else {"GS"})
            key = (message["id"], symbol)
            sequence = (data.get("quotes") or data["q"])["sequence"]
            assert sequence > last.get(key, -1), "in sequence order per symbol"
            last[key] = sequence
            seen[message["id"]].add(symbol)
        for _ in range(3):
            message = await two.receive()
            assert message["id"] == "a"
            assert message["payload"]["data"]["quotes"]["symbol"] == "JPM"
