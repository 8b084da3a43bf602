"""Record and replay through the whole pipeline: a recorder beside the live Finnhub feed keeps
what the fake provider sends; the file replayed into the same log reaches a GraphQL
subscriber of `quotes` exactly as the live feed did (same prices, touches, sizes, statuses
and timestamps), its sequences continuing the live ones."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from settings import Settings
from streaming.feed_sender import Overflow
from streaming.feeds.connection import Backoff
from streaming.feeds.finnhub import FinnhubAdapter
from streaming.feeds.market import EventFeed
from streaming.feeds.recording import Recording, record
from streaming.feeds.replay import Replay
from streaming.runtime import feed_into_log
from tests.utils.fake_provider import FakeProvider, fake_provider
from tests.utils.feed_pipeline import feed_pipeline
from tests.utils.graphql_ws import GraphQLWS, graphql_ws
from tests.utils.live import eventually, symbol_for, wait_subscribed

QUOTES = """subscription ($s: [String!]!) {
  quotes(symbols: $s) { symbol price bid ask bidSize askSize volume halted timestamp sequence }
}"""

T = 1796657400000  # 2026-12-07T15:30:00Z, a Monday's regular session


def session(symbol: str) -> list[str]:
    """What the provider sends: a trade, a trade with the touch (a quote, then the trade), a
    halt and its end, a trade after it."""
    trade = '{"type":"trade","data":[{"s":"%s","p":%s,"v":%d,"t":%d%s}]}'
    status = '{"type":"status","data":[{"s":"%s","halted":%s,"t":%d}]}'
    return [
        trade % (symbol, "249", 30, T, ""),
        trade % (symbol, "249.02", 5, T + 100, ',"b":249.01,"a":249.03'),
        status % (symbol, "true", T + 200),
        status % (symbol, "false", T + 300),
        trade % (symbol, "249.03", 12, T + 400, ""),
    ]


async def payloads(client: GraphQLWS, count: int) -> list[dict[str, Any]]:
    return [(await client.next_payload(30))["data"]["quotes"] for _ in range(count)]


async def play_live(provider: FakeProvider, client: GraphQLWS, symbol: str) -> list[Any]:
    """One message at a time, each seen before the next goes (nothing conflated)."""
    seen: list[dict[str, Any]] = []
    for message, ticks in zip(session(symbol), [1, 2, 1, 1, 1], strict=True):
        await provider.publish(symbol, message)
        seen += await payloads(client, ticks)
    return seen


async def test_a_recording_replays_as_the_live_feed_went(
    full_settings: Settings, tmp_path: Path
) -> None:
    symbol = symbol_for("RR")
    path = tmp_path / "session.ndjson"
    recording = Recording(path)
    async with fake_provider() as provider:
        live = EventFeed(FinnhubAdapter(provider.url, [symbol], Backoff(0.05)))
        async with (
            feed_pipeline(full_settings, live, [symbol]) as pipeline,
            graphql_ws(pipeline.server.ws) as client,
        ):
            with recording:
                recorder = asyncio.create_task(
                    record(FinnhubAdapter(provider.url, [symbol]), recording)
                )
                await provider.wait_subscribed(connections=2, symbols=1)
                await client.subscribe("q", QUOTES, {"s": [symbol]})
                await wait_subscribed(pipeline.settings, f"quote:{symbol}")
                seen_live = await play_live(provider, client, symbol)
                await eventually(lambda: recording.rows == 6)
                recorder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recorder

            replay = Replay(path, speed=0)
            await feed_into_log(pipeline.worker, replay, "replay", Overflow.WAIT)
            seen_replayed = await payloads(client, 6)

    assert replay.bad_rows == 0
    assert [q["sequence"] for q in seen_live] == [1, 2, 3, 4, 5, 6]
    assert [q["sequence"] for q in seen_replayed] == [7, 8, 9, 10, 11, 12], "continued"
    unnumbered = [{k: v for k, v in q.items() if k != "sequence"} for q in seen_live]
    assert [{k: v for k, v in q.items() if k != "sequence"} for q in seen_replayed] == unnumbered
    assert [(q["price"], q["bid"], q["ask"], q["volume"], q["halted"]) for q in seen_live] == [
        ("249.00", "249.00", "249.00", "30", False),  # a trade: bid = ask = price
        ("249.00", "249.01", "249.03", "0", False),  # the quote its b/a gave
        ("249.02", "249.01", "249.03", "5", False),  # then the trade, at that touch
        ("249.02", "249.01", "249.03", "0", True),  # halted
        ("249.02", "249.01", "249.03", "0", False),  # resumed
        ("249.03", "249.01", "249.03", "12", False),  # a trade: the last quote's touch
    ]
