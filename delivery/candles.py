"""The live stream of a symbol's forming bar, to clients: the candle channels
(`CandleChannels`), shared (`serve`) or per subscriber (`stream`), with the same rules."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from delivery.channel_fanout import ChannelFanout, SharedOperation, Stream, View
from delivery.live_subscribers import Position
from delivery.shared_selection import Info
from streaming.cache import Cache
from streaming.candles import Bar, Interval
from streaming.channels import candle_channel, candle_key

log = logging.getLogger(__name__)

R = TypeVar("R")


def read_bar(raw: bytes) -> Bar | None:
    try:
        return Bar.from_json(raw)
    except ValueError as error:  # msgspec's DecodeError names the field
        log.warning("skipping a malformed candle message: %r", error)
        return None


async def forming_bar(cache: Cache, symbol: str, interval: Interval) -> Bar | None:
    """The bar forming now, as the bridge last cached it (None before the symbol traded in
    this interval)."""
    raw = await cache.get(candle_key(symbol, interval.value))
    return None if raw is None else read_bar(raw)


class CandleChannels(ChannelFanout[Bar]):
    """The candle channels, one per symbol and interval: the forming bar now (if any), then
    each bar update as published; a new bar replaces the closed one. A bar goes out only when
    its (start, last sequence) moves forward for the subscriber; a missed update needs no
    filling, since each message is the whole bar (a slow reader gets its latest state)."""

    kind = "candle"
    malformed = (ValueError,)  # msgspec's DecodeError names the field

    def parse(self, message: bytes) -> Bar:
        return Bar.from_json(message)

    def stamp(self, message: Bar) -> tuple[str, Position]:
        return message.symbol, (message.start, message.last_sequence)

    async def serve(
        self,
        info: Info,
        operation: SharedOperation,
        symbol: str,
        interval: Interval,
        view: View[Bar, Any],
    ) -> bool:
        """`symbol`'s bars to a shared operation (see `ChannelFanout._serve`)."""
        return await self._serve(info, operation, view, self._of(symbol, interval))

    def stream(self, symbol: str, interval: Interval, view: View[Bar, R]) -> AsyncIterator[R]:
        """`symbol`'s bars to one subscriber, as `view`'s root values (see
        `ChannelFanout._stream`)."""
        return self._stream(view, self._of(symbol, interval))

    def _of(self, symbol: str, interval: Interval) -> Stream[Bar]:
        cache = self._runtime.cache

        async def opening() -> list[Bar]:
            bar = await forming_bar(cache, symbol, interval)
            return [] if bar is None else [bar]

        return Stream([candle_channel(symbol, interval.value)], [symbol], opening)
