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
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from zlib import crc32

from streaming.tick import MAX_BOOK_LEVELS, Level, Tick

MAX_DEPTH = MAX_BOOK_LEVELS
BOOK_DEPTHS = (5, 10, 20)
LOTS_AT_TOUCH = 100  # a touch level holds 50-149 lots; each level further out about 25 more
LOTS_PER_LEVEL = 25
ZERO = Decimal(0)


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
    """`depth` levels a side around `tick`'s bid and ask (bids stop above zero): level `n` at
    `bid - tick_size * n` and `ask + tick_size * n`, each a tick size from the one before."""
    head = crc32(b"%s|%d|" % (tick.symbol.encode(), tick.sequence))
    # by its text: 1 and 1.0 are equal but not written the same
    multiples = _lot_multiples(str(lot_size), max(depth, MAX_DEPTH))
    bids = []
    price = tick.bid - tick_size * 0  # at the places of both, as every level further out
    for size in _sizes(head, b"b|", depth, multiples):
        if price <= ZERO:  # against an int, a comparison costs four times more
            break
        bids.append((price, size))
        price -= tick_size
    asks = []
    price = tick.ask + tick_size * 0
    for size in _sizes(head, b"a|", depth, multiples):
        asks.append((price, size))
        price += tick_size
    return Book(tick.symbol, tick.sequence, tuple(bids), tuple(asks), previous=tick.sequence - 1)


def _sizes(head: int, side: bytes, depth: int, multiples: tuple[Decimal, ...]) -> list[Decimal]:
    """Each level's size: its lots from a hash of b"symbol|sequence|side|level" (`head` the
    CRC of its first two parts, carried on), as a multiple of the lot size."""
    seed = crc32(side, head)
    return [multiples[lots + crc32(level, seed) % LOTS_AT_TOUCH] for level, lots in _steps(depth)]


@lru_cache(maxsize=8)
def _steps(depth: int) -> tuple[tuple[bytes, int], ...]:
    """Each level's number as hashed and the fewest lots it holds."""
    return tuple(
        (b"%d" % level, LOTS_AT_TOUCH // 2 + LOTS_PER_LEVEL * level) for level in range(depth)
    )


@lru_cache(maxsize=32)  # ~65 KB each: one per lot size in use
def _lot_multiples(lot_size: str, depth: int) -> tuple[Decimal, ...]:
    """`lot_size` times each number of lots a level of a book `depth` deep can hold, worked out
    once rather than per level of every tick."""
    most = LOTS_AT_TOUCH // 2 + LOTS_AT_TOUCH - 1 + LOTS_PER_LEVEL * (depth - 1)
    unit = Decimal(lot_size)
    return tuple(unit * lots for lots in range(most + 1))
