"""Every subscription transport takes the shared fan-out for `quotes`, with or without
`throttleMs` (each tick executed and encoded once per selection, whatever the transport)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Quotes
from tests.utils.live import eventually
from tests.utils.server import RunningServer
from tests.utils.transports import TRANSPORTS, shared_subscriptions, subscription_client

LIVE = 'subscription { quotes(symbols: ["ORCL"]) { symbol } }'
THROTTLED = 'subscription { quotes(symbols: ["ORCL"], throttleMs: 500) { symbol } }'


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_quotes_take_the_shared_fanout_on_every_transport(
    api_server: RunningServer, quotes: Quotes, transport: str
) -> None:
    await quotes.set("ORCL", bid="120.00", ask="120.02")
    before = shared_subscriptions()
    async with subscription_client(transport, api_server) as client:
        await client.subscribe("live", LIVE)
        assert (await client.next_payload())["data"]["quotes"]["symbol"] == "ORCL"
        assert shared_subscriptions() == before + 1
        await client.subscribe("throttled", THROTTLED)
        assert (await client.next_payload())["data"]["quotes"]["symbol"] == "ORCL"
        assert shared_subscriptions() == before + 2
    await eventually(lambda: shared_subscriptions() == before)  # the server saw them leave
