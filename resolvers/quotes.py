"""Quotes: the latest from the cache, and live streams that begin with that snapshot."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence

from streaming.cache import Cache
from streaming.channels import quote_channel, quote_key
from streaming.hub import Hub
from streaming.tick import Tick

SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,31}$")


class BadSymbols(ValueError):
    pass


def normalise_symbols(symbols: Sequence[str], *, limit: int) -> list[str]:
    """Upper-cased, de-duplicated, in the caller's order; refuses empty, too many or malformed."""
    wanted = list(dict.fromkeys(s.strip().upper() for s in symbols))
    if not wanted:
        raise BadSymbols("give at least one symbol")
    if len(wanted) > limit:
        raise BadSymbols(f"at most {limit} symbols at once, got {len(wanted)}")
    bad = [s for s in wanted if not SYMBOL.match(s)]
    if bad:
        raise BadSymbols(f"not a valid symbol: {', '.join(bad[:5])}")
    return wanted


async def latest_quotes(cache: Cache, symbols: Sequence[str]) -> list[Tick]:
    """The cached quote of each symbol that has one, in the order asked."""
    raw = await cache.get_many([quote_key(s) for s in symbols])
    return [Tick.from_json(value) for value in raw if value is not None]


async def stream_quotes(hub: Hub, cache: Cache, symbols: Sequence[str]) -> AsyncIterator[Tick]:
    """Snapshot of each symbol first, then every newer tick (conflated if the reader lags).

    Subscribing before reading the snapshot means no tick falls between the two; sequence
    numbers drop anything the snapshot already covered.
    """
    async with hub.subscribe([quote_channel(s) for s in symbols]) as mailbox:
        last: dict[str, int] = {}
        for tick in await latest_quotes(cache, symbols):
            last[tick.symbol] = tick.sequence
            yield tick
        async for _channel, message in mailbox:
            tick = Tick.from_json(message)
            if tick.sequence > last.get(tick.symbol, -1):
                last[tick.symbol] = tick.sequence
                yield tick
