"""Time and sales and order-book depth: what the `trades`, `recentTrades` and `book` fields
yield for a tick."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from graph.scalars import BigInt, Written
from graph.types.enums import OrderSide
from resolvers.tape import aggressor_side
from streaming.book import Book
from streaming.tick import Tick


@strawberry.type(description="One trade print of an instrument (time and sales).")
class Trade:
    symbol: str
    price: Decimal
    size: Decimal
    aggressor: OrderSide | None = strawberry.field(
        description="Who took liquidity: BUY when the print is at or above the ask it left, "
        "SELL at or below the bid, null when it printed inside the spread."
    )
    timestamp: datetime = strawberry.field(description="Exchange time of the trade.")
    sequence: BigInt = strawberry.field(
        description="The symbol's sequence, shared with its quotes: prints rise in it, with a "
        "gap wherever a quote, book or status update came between; give the last one seen "
        "to `trades(since:)` to resume."
    )

    @classmethod
    def from_tick(cls, tick: Tick) -> Trade:
        return cls(
            symbol=tick.symbol,
            price=Written(tick.price),
            size=tick.volume,
            aggressor=aggressor_side(tick),
            timestamp=tick.exchange_ts,
            sequence=BigInt(tick.sequence),
        )


@strawberry.type(description="The size resting at one price.")
class BookLevel:
    price: Decimal
    size: Decimal

    def __init__(self, price: Decimal, size: Decimal) -> None:
        """Positional too: a book makes 10-40 of them per message, and a class called with
        positional arguments alone is the cheap call (Strawberry's `__init__` takes keywords)."""
        self.price = price
        self.size = size


@strawberry.type(
    description="An instrument's order book, best levels first: the first message of `book` "
    "is the snapshot, each later one the book after the next update."
)
class OrderBook:
    symbol: str
    snapshot: bool = strawberry.field(
        description="True on the first message of a stream, and when the exchange's book was "
        "resynchronised (its `previousSequence` is then null)."
    )
    simulated: bool = strawberry.field(
        description="True when the book is derived around the quote (SIMULATED_DEPTH: the "
        "feed carries no depth); false when it is the exchange's own, kept update by update."
    )
    sequence: BigInt = strawberry.field(
        description="The update this book is as of: the symbol's sequence for a simulated "
        "book, the exchange's update id for a real one."
    )
    previous_sequence: BigInt | None = strawberry.field(
        description="The update this one follows (null on a snapshot). When it is not the "
        "`sequence` you saw last, an update is missing: subscribe again for a new snapshot."
    )
    bids: list[BookLevel] = strawberry.field(description="Highest price first.")
    asks: list[BookLevel] = strawberry.field(description="Lowest price first.")
    timestamp: datetime = strawberry.field(description="Exchange time of the update.")

    @classmethod
    def of(cls, book: Book, tick: Tick, *, snapshot: bool) -> OrderBook:
        snapshot = snapshot or book.previous is None
        return cls(
            symbol=book.symbol,
            snapshot=snapshot,
            simulated=book.simulated,
            sequence=BigInt(book.sequence),
            previous_sequence=None if snapshot else BigInt(book.previous),  # type: ignore[arg-type]
            bids=[BookLevel(Written(price), size) for price, size in book.bids],
            asks=[BookLevel(Written(price), size) for price, size in book.asks],
            timestamp=tick.exchange_ts,
        )
