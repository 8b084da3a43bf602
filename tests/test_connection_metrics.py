"""Live connections counted by transport while they are open
(`trado_live_connections{transport}`), on the embedded server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.conftest import make_settings
from tests.utils.graphql_ws import graphql_ws, legacy_graphql_ws
from tests.utils.http_stream import http_subscriptions
from tests.utils.server import RunningServer, running_server

QUOTES = 'subscription { quotes(symbols: ["AAPL"]) { symbol } }'


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    settings = make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'trado.db'}")
    async with running_server(settings) as running:
        yield running


def open_now(transport: str) -> float:
    labels = {"transport": transport}
    return REGISTRY.get_sample_value("trado_live_connections", labels) or 0.0


async def settles(transport: str, expected: float) -> None:
    for _ in range(200):
        if open_now(transport) == expected:
            return
        await asyncio.sleep(0.025)
    assert open_now(transport) == expected, transport


Opener = Callable[[RunningServer], AbstractAsyncContextManager[Any]]
OPENERS: dict[str, Opener] = {
    "graphql-transport-ws": lambda server: graphql_ws(server.ws),
    "graphql-ws": lambda server: legacy_graphql_ws(server.ws),
    "sse": lambda server: http_subscriptions(server.http, "sse"),
    "multipart": lambda server: http_subscriptions(server.http, "multipart"),
}


@pytest.mark.parametrize("transport", OPENERS)
async def test_a_connection_counts_while_it_is_open(server: RunningServer, transport: str) -> None:
    before = open_now(transport)
    async with OPENERS[transport](server) as client:
        await client.subscribe("q", QUOTES)
        await client.next_payload(30)
        await settles(transport, before + 1)
    await settles(transport, before)
