"""Quotes to clients: the latest from the cache, the opening ticks of a stream (snapshot or
resume), and the quote channels (`QuoteChannels`), which `quotes`, `trades` and `book` stream
from, shared (`serve`) or per subscriber (`stream`), with the same rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from delivery.channel_fanout import ChannelFanout, SharedOperation, Stream, View
from delivery.gaps import ChannelGaps
from delivery.live_subscribers import Position
from delivery.shared_selection import Info
from streaming import metrics
from streaming.cache import Cache
from streaming.channels import quote_channel, quote_key
from streaming.errors import BadTick
from streaming.pubsub import PubSub
from streaming.runtime import Runtime
from streaming.tick import Tick

R = TypeVar("R")


@lru_cache(maxsize=4096)
def parse_tick(message: bytes) -> Tick:
    """Parsed once per message, not once per subscriber: the hub hands every subscriber of a
    channel the same bytes (ticks are immutable, so sharing them is safe)."""
    return Tick.from_json(message)


async def latest_quotes(
    cache: Cache, symbols: Sequence[str], key: Callable[[str], str] = quote_key
) -> list[Tick]:
    """The cached quote of each symbol that has one, in the order asked (or, with `key`, its
    latest trade or book: `streaming.channels`). Parsed through `parse_tick`: subscribers
    joining together get the same bytes from one coalesced read (`streaming.coalesced`), so
    each quote is parsed once for all of them."""
    raw = await cache.get_many([key(s) for s in symbols])
    return [parse_tick(value) for value in raw if value is not None]


async def opening_ticks(
    pubsub: PubSub,
    cache: Cache,
    symbols: Sequence[str],
    since: Mapping[str, int],
    latest_key: Callable[[str], str] = quote_key,
    *,
    at_hand: Mapping[str, Tick] | None = None,
) -> list[Tick]:
    """What a new quotes subscription sends before live ticks, symbol by symbol in the order
    asked: for a symbol with a `since` sequence, every tick after it that the history still
    holds; otherwise, or when the history no longer reaches back that far, the latest quote
    (or what `latest_key` names: the latest trade, the latest book) when it is newer than
    `since` (the client then sees the jump in sequence). A view picks what it shows of these.

    Call it after subscribing: the history is written atomically with each publish, so
    nothing falls between what this returns and the first live tick. `at_hand`: the latest of
    some symbols this process already has in order from a channel it is subscribed to, taken
    for the cache's (at most what is still on its way behind it differs, and that comes live)."""
    missed: dict[str, list[Tick]] = {}
    for symbol in since:
        held = await pubsub.history(quote_channel(symbol), since[symbol])
        if held is not None:
            missed[symbol] = [Tick.from_json(p.message) for p in held]
    at_hand = at_hand or {}
    latest = {s: at_hand[s] for s in symbols if s in at_hand and s not in missed}
    rest = [s for s in symbols if s not in missed and s not in latest]
    if rest:
        latest |= {tick.symbol: tick for tick in await latest_quotes(cache, rest, latest_key)}
    opening: list[Tick] = []
    for symbol in symbols:
        if symbol in missed:
            opening.extend(missed[symbol])
        elif symbol in latest and latest[symbol].sequence > since.get(symbol, -1):
            opening.append(latest[symbol])
    return opening


class QuoteChannels(ChannelFanout[Tick]):
    """The quote channels: each symbol's ticks in sequence order, any jump this process's
    pub/sub made filled from the history (`ChannelGaps`); seen as quotes, trade prints or a
    book, as the subscription's `View` says. A stream opens with `opening_ticks` (the
    snapshot, or what was missed after `since`), then goes live, at most once per `throttle`
    seconds per symbol when given (`delivery/live_subscribers.py`)."""

    kind = "quote"
    malformed = (BadTick,)

    def __init__(self, runtime: Runtime, context: object) -> None:
        super().__init__(runtime, context)
        self._gaps = ChannelGaps(runtime.pubsub, self._in_order)
        # Each subscribed channel's latest tick passed on in order: a joiner's opening quote
        # without a cache read (a connect storm's ten reads per subscribe).
        self._latest: dict[str, Tick] = {}
        self._parsed = 0  # messages from the hub, for sampling their age
        self._sampled: Tick | None = None

    def parse(self, message: bytes) -> Tick:
        tick = parse_tick(message)
        self._parsed += 1
        if self._parsed % metrics.TICK_AGE_SAMPLE == 0:
            metrics.observe_tick_age("received", tick.received_ts)
            self._sampled = tick
        return tick

    def stamp(self, message: Tick) -> tuple[str, Position]:
        return message.symbol, message.sequence

    def _pass_on(self, channel: str, message: Tick) -> int:
        reached = self._gaps.offer(channel, message)  # in order, any jump filled from the history
        if self._sampled is message:
            self._sampled = None
            # After the outboxes' flush, which this turn's first frame scheduled: written.
            asyncio.get_running_loop().call_soon(
                metrics.observe_tick_age, "written", message.received_ts
            )
        return reached

    def _in_order(self, channel: str, message: Tick) -> int:
        self._latest[channel] = message
        return self._deliver(channel, message)

    def _keep_latest(self, ticks: list[Tick]) -> None:
        """What a joiner read from the cache, kept for the next joiners where it is newer
        than the channel's latest at hand (it may run ahead of the hub by what is on its way:
        that then comes live, and each subscriber skips what its opening already had)."""
        for tick in ticks:
            channel = quote_channel(tick.symbol)
            known = self._latest.get(channel)
            if channel in self._channels and (known is None or known.sequence < tick.sequence):
                self._latest[channel] = tick

    def _forget(self, channel: str) -> None:
        self._gaps.forget(channel)
        self._latest.pop(channel, None)

    async def serve(
        self,
        info: Info,
        operation: SharedOperation,
        symbols: Sequence[str],
        since: Mapping[str, int],
        *,
        throttle: float,
        view: View[Tick, Any],
    ) -> bool:
        """`symbols` to a shared operation (see `ChannelFanout._serve`)."""
        return await self._serve(info, operation, view, self._of(symbols, since, throttle, view))

    def stream(
        self,
        symbols: Sequence[str],
        since: Mapping[str, int],
        *,
        throttle: float,
        view: View[Tick, R],
    ) -> AsyncIterator[R]:
        """`symbols` to one subscriber, as `view`'s root values (see `ChannelFanout._stream`)."""
        return self._stream(view, self._of(symbols, since, throttle, view))

    def _of(
        self,
        symbols: Sequence[str],
        since: Mapping[str, int],
        throttle: float,
        view: View[Tick, Any],
    ) -> Stream[Tick]:
        runtime = self._runtime
        latest_key = view.latest or quote_key
        channels = [quote_channel(symbol) for symbol in symbols]

        async def opening() -> list[Tick]:
            at_hand = {}  # trades and books: the cache's latest trade or book
            if view.latest is None:
                pairs = zip(symbols, channels, strict=True)
                at_hand = {s: self._latest[c] for s, c in pairs if c in self._latest}
            ticks = await opening_ticks(
                runtime.pubsub, runtime.cache, symbols, since, latest_key, at_hand=at_hand
            )
            if view.latest is None:
                self._keep_latest(ticks)
            return ticks

        return Stream(channels, symbols, opening, since, throttle)
