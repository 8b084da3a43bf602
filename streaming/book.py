"""The order book around a quote: the depth the simulated market offers at each tick.

None of Trado's sources carries depth (the simulator, the replay format and the provider's
trades are all top of book), so depth is derived, and derived the same way everywhere: a
pure function of the tick and the instrument. Levels sit at whole tick-size steps outward
from the bid and the ask; each level's size is a whole number of lots that grows with the
distance from the touch and varies from tick to tick by a hash of (symbol, sequence, side,
level), never by Python's per-process `hash`. Any process (an API replica rendering `book`,
another placing a MARKET order) therefore sees the same book for the same tick, and a tick
re-delivered after a crash gives the same book again.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from decimal import Decimal

from streaming.tick import Tick

MAX_DEPTH = 20
BOOK_DEPTHS = (5, 10, 20)
LOTS_AT_TOUCH = 100  # a touch level holds 50-149 lots; each level further out about 25 more
LOTS_PER_LEVEL = 25

Level = tuple[Decimal, Decimal]  # (price, size)


@dataclass(frozen=True, slots=True)
class Book:
    """Bids best (highest) first, asks best (lowest) first."""

    symbol: str
    sequence: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    def top(self, depth: int) -> Book:
        return Book(self.symbol, self.sequence, self.bids[:depth], self.asks[:depth])


def book_of(tick: Tick, tick_size: Decimal, lot_size: Decimal, depth: int = MAX_DEPTH) -> Book:
    """`depth` levels a side around `tick`'s bid and ask (bids stop above zero)."""
    bids = []
    for level in range(depth):
        price = tick.bid - tick_size * level
        if price <= 0:
            break
        bids.append((price, _size(tick, b"b", level, lot_size)))
    asks = [
        (tick.ask + tick_size * level, _size(tick, b"a", level, lot_size)) for level in range(depth)
    ]
    return Book(tick.symbol, tick.sequence, tuple(bids), tuple(asks))


def _size(tick: Tick, side: bytes, level: int, lot_size: Decimal) -> Decimal:
    seed = zlib.crc32(b"%s|%d|%s|%d" % (tick.symbol.encode(), tick.sequence, side, level))
    lots = LOTS_AT_TOUCH // 2 + seed % LOTS_AT_TOUCH + LOTS_PER_LEVEL * level
    return lot_size * lots
