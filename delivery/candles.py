"""The live stream of a symbol's forming bar, to clients: the candle channels on the shared
fan-out (`CandleChannels`), and the per-subscriber stream (for a selection the shared fan-out
cannot share)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from delivery.channel_fanout import ChannelFanout, SharedOperation, View
from delivery.live_subscribers import LiveSubscriber, Position
from delivery.shared_selection import Info
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


async def forming_bar(cache: Cache, symbol: str, interval: Interval) -> Bar | None:
    """The bar forming now, as the bridge last cached it (None before the symbol traded in
    this interval)."""
    raw = await cache.get(candle_key(symbol, interval.value))
    return None if raw is None else read_bar(raw)


class CandleChannels(ChannelFanout[Bar]):
    """The candle channels, one per symbol and interval: each bar update as published. A bar
    goes out only when its (start, last sequence) moves forward for the subscriber; a missed
    update needs no filling, since each message is the whole bar."""

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
        view: View[Bar],
    ) -> bool:
        """The forming bar now (if any), then every change."""
        cache = self._runtime.cache

        async def opening() -> list[Bar]:
            bar = await forming_bar(cache, symbol, interval)
            return [] if bar is None else [bar]

        subscriber = LiveSubscriber(operation, [symbol], {})
        channels = [candle_channel(symbol, interval.value)]
        return await self._serve(
            info, operation, view=view, subscriber=subscriber, channels=channels, opening=opening
        )


async def stream_candles(
    hub: Hub, cache: Cache, symbol: str, interval: Interval
) -> AsyncIterator[Bar]:
    """The forming bar now (if any), then every change; a new bar replaces the closed one.

    Conflated: a slow reader gets the bar's latest state, never a backlog.
    """
    async with hub.subscribe([candle_channel(symbol, interval.value)]) as mailbox:
        last: tuple[object, ...] = ()
        if (bar := await forming_bar(cache, symbol, interval)) is not None:
            last = (bar.start, bar.last_sequence)
            yield bar
        async for _channel, message in mailbox:
            bar = read_bar(message)
            if bar is not None and (not last or (bar.start, bar.last_sequence) > last):
                last = (bar.start, bar.last_sequence)
                yield bar
