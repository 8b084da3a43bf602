"""Every subscription transport takes the shared fan-out for `quotes` (with or without
`throttleMs`) and `candles`: each message executed and encoded once per selection, whatever
the transport."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Candles, Quotes, one_minute_bar
from tests.utils.live import eventually
from tests.utils.server import RunningServer
from tests.utils.transports import TRANSPORTS, shared_subscriptions, subscription_client

LIVE = 'subscription { quotes(symbols: ["ORCL"]) { symbol } }'
THROTTLED = 'subscription { quotes(symbols: ["ORCL"], throttleMs: 500) { symbol } }'
CANDLES = 'subscription { candles(symbol: "AMGN", interval: ONE_MINUTE) { symbol close } }'


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_quotes_and_candles_take_the_shared_fanout_on_every_transport(
    api_server: RunningServer, quotes: Quotes, candles: Candles, transport: str
) -> None:
    await quotes.set("ORCL", bid="120.00", ask="120.02")
    await candles.set(one_minute_bar("AMGN", 1, "300.5"))
    before = shared_subscriptions()
    async with subscription_client(transport, api_server) as client:
        await client.subscribe("live", LIVE)
        assert (await client.next_payload())["data"]["quotes"]["symbol"] == "ORCL"
        assert shared_subscriptions() == before + 1
        await client.subscribe("throttled", THROTTLED)
        assert (await client.next_payload())["data"]["quotes"]["symbol"] == "ORCL"
        assert shared_subscriptions() == before + 2
        await client.subscribe("candles", CANDLES)
        bar = (await client.next_payload())["data"]["candles"]
        assert bar == {"symbol": "AMGN", "close": "300.5"}
        assert shared_subscriptions() == before + 3
    await eventually(lambda: shared_subscriptions() == before)  # the server saw them leave


SAME = (
    "subscription ($s: String!) { candles(symbol: $s, interval: ONE_MINUTE) "
    "{ symbol close lastSequence } }"
)
SAME_INLINE = (
    'subscription { candles(symbol: "QCOM", interval: ONE_MINUTE) { symbol close lastSequence } }'
)
OTHER = (
    'subscription { bar: candles(symbol: "QCOM", interval: ONE_MINUTE) '
    "{ ticker: symbol start lastSequence } }"
)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_candle_subscribers_share_a_selection_and_keep_each_bar_moving_forward(
    api_server: RunningServer, candles: Candles, transport: str
) -> None:
    """Two subscribers with the same selection (one through a variable) get the very same
    payloads, one with other fields and aliases its own; all three, like the per-subscriber
    stream, the forming bar first, then each bar whose (start, last sequence) moves forward:
    no malformed message, repeat or older bar."""
    forming = one_minute_bar("QCOM", 10, "150.25")
    await candles.set(forming)
    async with (
        subscription_client(transport, api_server) as first,
        subscription_client(transport, api_server) as second,
        subscription_client(transport, api_server) as other,
    ):
        await first.subscribe("a", SAME, {"s": "QCOM"})
        await second.subscribe("b", SAME_INLINE)
        await other.subscribe("c", OTHER)
        opened = [await client.next_payload() for client in (first, second, other)]
        updated = one_minute_bar("QCOM", 11, "150.5")
        older = one_minute_bar("QCOM", 9, "1")
        next_minute = one_minute_bar("QCOM", 12, "151", minute=1)
        await candles.publish("QCOM", b'{"not": "a bar"}', forming, updated, older, next_minute)
        live = [[await c.next_payload() for _ in range(2)] for c in (first, second, other)]
    bars = [opened[0], *live[0]]
    assert bars == [opened[1], *live[1]], "the same selection, the same payloads"
    assert [bar["data"]["candles"] for bar in bars] == [
        {"symbol": "QCOM", "close": "150.25", "lastSequence": 10},
        {"symbol": "QCOM", "close": "150.5", "lastSequence": 11},
        {"symbol": "QCOM", "close": "151", "lastSequence": 12},
    ]
    own: list[dict[str, Any]] = [payload["data"]["bar"] for payload in (opened[2], *live[2])]
    assert own == [
        {"ticker": "QCOM", "start": "2026-03-04T14:30:00+00:00", "lastSequence": 10},
        {"ticker": "QCOM", "start": "2026-03-04T14:30:00+00:00", "lastSequence": 11},
        {"ticker": "QCOM", "start": "2026-03-04T14:31:00+00:00", "lastSequence": 12},
    ]
