"""The live stream of a symbol's forming bar, to clients."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from streaming.cache import Cache
from streaming.candles import Bar, Interval
from streaming.channels import candle_channel, candle_key
from streaming.hub import Hub

log = logging.getLogger(__name__)


def read_bar(raw: bytes) -> Bar | None:
    try:
        return Bar.from_json(raw)
    except ValueError as error:  # msgspec's DecodeError names the field
        log.warning("skipping a malformed candle message: %r", error)
        return None


async def stream_candles(
    hub: Hub, cache: Cache, symbol: str, interval: Interval
) -> AsyncIterator[Bar]:
    """The forming bar now (if any), then every change; a new bar replaces the closed one.

    Conflated: a slow reader gets the bar's latest state, never a backlog.
    """
    async with hub.subscribe([candle_channel(symbol, interval.value)]) as mailbox:
        last: tuple[object, ...] = ()
        raw = await cache.get(candle_key(symbol, interval.value))
        if raw is not None and (bar := read_bar(raw)) is not None:
            last = (bar.start, bar.last_sequence)
            yield bar
        async for _channel, message in mailbox:
            bar = read_bar(message)
            if bar is not None and (not last or (bar.start, bar.last_sequence) > last):
                last = (bar.start, bar.last_sequence)
                yield bar
