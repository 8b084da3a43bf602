"""The order book of a symbol: the exchange's, for a feed that carries depth (a `book` tick,
`exchange_book`), else the depth a simulated market offers around each quote (`book_of`).

Most feeds are top of book (the simulator, trade-only providers, quote streams), so for them
depth is derived, and derived the same way everywhere: a pure function of the tick and the
instrument. Levels sit at whole tick-size steps outward
from the bid and the ask; each level's size is a whole number of lots that grows with the
distance from the touch and varies from tick to tick by a hash of (symbol, sequence, side,
level), never by Python's per-process `hash`. Any process (an API replica rendering `book`,
another placing a MARKET order) therefore sees the same book for the same tick, and a tick
re-delivered after a crash gives the same book again.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from decimal import Decimal

from streaming.tick import MAX_BOOK_LEVELS, Level, Tick

MAX_DEPTH = MAX_BOOK_LEVELS
BOOK_DEPTHS = (5, 10, 20)
LOTS_AT_TOUCH = 100  # a touch level holds 50-149 lots; each level further out about 25 more
LOTS_PER_LEVEL = 25


@dataclass(frozen=True, slots=True)
class Book:
    """Bids best (highest) first, asks best (lowest) first; `sequence` the update it is as of
    and `previous` the one it follows (None: a snapshot); `simulated` when derived."""

    symbol: str
    sequence: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    previous: int | None = None
    simulated: bool = True

    def top(self, depth: int) -> Book:
        return dataclasses.replace(self, bids=self.bids[:depth], asks=self.asks[:depth])


def exchange_book(tick: Tick, depth: int = MAX_DEPTH) -> Book | None:
    """The exchange's book a `book` tick carries (None for any other tick), numbered by the
    exchange's update ids."""
    if tick.book is None:
        return None
    depth_book = tick.book
    return Book(
        tick.symbol,
        depth_book.update,
        depth_book.bids[:depth],
        depth_book.asks[:depth],
        previous=depth_book.previous,
        simulated=False,
    )


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
    return Book(tick.symbol, tick.sequence, tuple(bids), tuple(asks), previous=tick.sequence - 1)


def _size(tick: Tick, side: bytes, level: int, lot_size: Decimal) -> Decimal:
    seed = zlib.crc32(b"%s|%d|%s|%d" % (tick.symbol.encode(), tick.sequence, side, level))
    lots = LOTS_AT_TOUCH // 2 + seed % LOTS_AT_TOUCH + LOTS_PER_LEVEL * level
    return lot_size * lots
