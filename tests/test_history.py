"""Per-channel history and resume: the rules of `missed_since`, and `quotes(since:)` across an
API restart over the real services, on both WebSocket protocols and both HTTP streams (SSE and
multipart), all on the shared fan-out. The history of each pub/sub backend is tested in
test_backend_pubsub.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from settings import Settings
from streaming.pubsub import HeldPublication, Publication, missed_since
from tests.utils.graphql_ws import graphql_ws
from tests.utils.live import (
    bridge_worker,
    create_topic,
    eventually,
    isolated,
    listed,
    make_tick,
    send,
    symbol_for,
    tick_producer,
    wait_subscribed,
)
from tests.utils.server import running_server
from tests.utils.transports import TRANSPORTS, Client, subscription_client

RESUME = (
    "subscription ($s: [String!]!, $since: [SymbolSequence!], $t: Int) "
    "{ quotes(symbols: $s, since: $since, throttleMs: $t) { symbol sequence price } }"
)


def held(position: int, at: float = 100.0) -> HeldPublication:
    return HeldPublication(Publication("c", position, str(position).encode()), at)


def positions(found: list[Publication] | None) -> list[int] | None:
    return None if found is None else [p.position for p in found]


def test_missed_since_rules() -> None:
    after = [held(6), held(7)]
    assert positions(missed_since(5, after, 7, oldest_time=0)) == [6, 7], "reaches back"
    assert missed_since(4, after, 7, oldest_time=0) is None, "5 is no longer held"
    assert missed_since(7, [], 7, oldest_time=0) == [], "nothing new since"
    assert missed_since(9, [], 7, oldest_time=0) == [], "a client ahead of us missed nothing"
    assert missed_since(5, [], None, oldest_time=0) is None, "nothing held at all"
    assert missed_since(5, after, 7, oldest_time=101) is None, "6 is older than the age limit"


async def sequences(ws: Client, count: int) -> list[int]:
    return [(await ws.next_payload())["data"]["quotes"]["sequence"] for _ in range(count)]


async def no_more(ws: Client, seconds: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await ws.next_payload(seconds)


@pytest.mark.parametrize(
    "protocol",
    TRANSPORTS,
)
async def test_resume_after_the_api_restarts_sees_every_tick_once(
    full_settings: Settings, protocol: str
) -> None:
    """A client reads ticks 1-20 from one API process, which then stops; ticks 21-60 arrive
    while no API runs; the client resumes on a new API process with `since: 20` and gets
    21-60 from the history, then 61-65 live: every tick once, in order."""
    settings = isolated(full_settings)
    await create_topic(settings)
    symbol, other = symbol_for("H"), symbol_for("K")
    await listed(settings, symbol, other)
    variables: dict[str, Any] = {"s": [symbol, other]}
    async with bridge_worker(settings) as worker, tick_producer(settings) as producer:
        bridge = worker.bridge
        assert bridge is not None
        async with running_server(settings) as api, subscription_client(protocol, api) as ws:
            await ws.subscribe("q", RESUME, variables)
            await wait_subscribed(settings, f"quote:{symbol}")
            await send(producer, *(make_tick(symbol, n) for n in range(1, 21)))
            assert await sequences(ws, 20) == list(range(1, 21))
        await send(producer, make_tick(other, 1), *(make_tick(symbol, n) for n in range(21, 61)))
        await eventually(lambda: bridge.stats.ticks >= 61)  # 21-60 applied while no API runs
        async with running_server(settings) as api, subscription_client(protocol, api) as ws:
            since = [{"symbol": symbol, "sequence": 20}]
            await ws.subscribe("q", RESUME, {**variables, "since": since})
            await wait_subscribed(settings, f"quote:{symbol}")
            opening = await sequences(ws, 41)
            await send(producer, *(make_tick(symbol, n) for n in range(61, 66)))
            live = await sequences(ws, 5)
            await no_more(ws)
    assert 1 in opening, "the symbol without `since` starts with its latest quote"
    opening.remove(1)
    assert opening + live == list(range(21, 66))


async def test_resume_beyond_the_history_starts_from_the_latest_quote(
    full_settings: Settings,
) -> None:
    """When the history no longer reaches back to `since`, the stream starts with the latest
    quote: the client sees the jump in sequence and knows what it lost."""
    settings = isolated(full_settings).model_copy(update={"history_max_age_seconds": 0.5})
    await create_topic(settings)
    symbol = symbol_for("J")
    await listed(settings, symbol)
    async with (
        bridge_worker(settings) as worker,
        tick_producer(settings) as producer,
        running_server(settings) as api,
        graphql_ws(api.ws) as ws,
    ):
        bridge = worker.bridge
        assert bridge is not None
        await send(producer, *(make_tick(symbol, n) for n in range(1, 11)))
        await eventually(lambda: bridge.stats.ticks >= 10)  # applied,
        await asyncio.sleep(1)  # then older than the history's age limit (0.5 s)
        since = [{"symbol": symbol, "sequence": 3}]
        await ws.subscribe("q", RESUME, {"s": [symbol], "since": since})
        assert await sequences(ws, 1) == [10]
        await send(producer, make_tick(symbol, 11))
        assert await sequences(ws, 1) == [11]


async def test_since_must_name_subscribed_symbols(embedded_server: Any) -> None:
    async with graphql_ws(embedded_server.ws) as ws:
        since = [{"symbol": "MSFT", "sequence": 3}]
        await ws.subscribe("q", RESUME, {"s": ["AAPL"], "since": since})
        message = await ws.receive()
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "not in symbols" in errors[0]["message"]
