"""Time and sales and order-book depth: `recentTrades`, `trades` and `book`, mixed into the
Query and Subscription roots. Live, both ride the symbols' quote channels through the shared
fan-out, each seen through its own `View` (a tick is a trade print, and the book is derived
from it: `resolvers/tape.py`, `streaming/book.py`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from functools import partial

import strawberry

from delivery.fanout import View, quote_stream
from graph.context import Info
from graph.errors import BadInput
from graph.instrument_checks import require_instruments
from graph.query_cost import CACHE, cost
from graph.types.quote import SymbolSequence
from graph.types.tape import OrderBook, Trade
from resolvers.instruments import instrument_by_symbol
from resolvers.quotes import BadResume, BadSymbols, normalise_symbols, resume_positions
from resolvers.tape import BadTapeArgument, book_depth, recent_count, recent_trades
from streaming.book import book_of
from streaming.tick import Tick
from trading.echo import echo
from trading.instruments import InstrumentRecord

TRADES = View("trades", live=Trade.from_tick, opening=Trade.from_tick)


def _order_book(
    instrument: InstrumentRecord, depth: int, tick: Tick, *, snapshot: bool
) -> OrderBook:
    book = book_of(tick, instrument.tick_size, instrument.lot_size, depth)
    return OrderBook.of(book, tick, snapshot=snapshot)


def book_view(instrument: InstrumentRecord, depth: int) -> View[Tick, OrderBook]:
    """The book of `depth` levels a side: a snapshot to open with, then each update."""
    return View(
        ("book", depth, instrument.tick_size, instrument.lot_size),
        live=partial(_order_book, instrument, depth, snapshot=False),
        opening=partial(_order_book, instrument, depth, snapshot=True),
    )


def _one_symbol(symbol: str) -> str:
    try:
        (wanted,) = normalise_symbols([symbol], limit=1)
    except BadSymbols as error:
        raise BadInput(str(error)) from None
    return wanted


@strawberry.type
class TapeQuery:
    @strawberry.field(
        description="The symbol's newest trade prints, newest first (`first`: 50 unless "
        "given, at most MAX_PAGE_SIZE), as far back as the live history holds them "
        "(HISTORY_MAX_MESSAGES, HISTORY_MAX_AGE_SECONDS).",
        metadata=cost(CACHE, sized_by="first"),
    )
    async def recent_trades(self, info: Info, symbol: str, first: int | None = None) -> list[Trade]:
        runtime = info.context.runtime
        wanted = _one_symbol(symbol)
        try:
            count = recent_count(first, runtime.settings.max_page_size)
        except BadTapeArgument as error:
            raise BadInput(str(error)) from None
        return [Trade.from_tick(t) for t in await recent_trades(runtime.pubsub, wanted, count)]


@strawberry.type
class TapeSubscription:
    @strawberry.subscription(
        description="Time and sales: each symbol's latest print at once, then every new "
        "print, in sequence order per symbol, with the same rules as `quotes`: latest-only "
        "when the client reads slower than prints arrive, and with `since` (the last sequence "
        "seen of some symbols) every print after it that the history still holds first.",
        metadata=cost(CACHE, sized_by="symbols"),
    )
    async def trades(
        self, info: Info, symbols: list[str], since: list[SymbolSequence] | None = None
    ) -> AsyncGenerator[Trade, None]:
        runtime = info.context.runtime
        try:
            wanted = normalise_symbols(symbols, limit=runtime.settings.max_symbols_per_subscription)
            resume = resume_positions([(s.symbol, s.sequence) for s in since or ()], wanted)
        except (BadSymbols, BadResume) as error:
            raise BadInput(str(error)) from None
        await require_instruments(info, wanted)
        async for trade in quote_stream(info, wanted, resume, view=TRADES):
            yield trade

    @strawberry.subscription(
        description="The order book of a symbol, `depth` levels a side (5, 10 or 20): a "
        "snapshot at once (once the symbol has ticked), then the book after each update. "
        "Each message holds the whole top of the book; each update's `previousSequence` is "
        "the `sequence` of the one before it: when it is not, an update was missed (a client "
        "reading slower than updates arrive gets the latest), so subscribe again. The book is "
        "simulated around each quote (SIMULATED_DEPTH); MARKET orders fill against it.",
        metadata=cost(CACHE),
    )
    async def book(
        self, info: Info, symbol: str, depth: int = 10
    ) -> AsyncGenerator[OrderBook, None]:
        runtime = info.context.runtime
        wanted = _one_symbol(symbol)
        try:
            levels = book_depth(depth)
        except BadTapeArgument as error:
            raise BadInput(str(error)) from None
        if not runtime.settings.simulated_depth:
            raise BadInput("This server keeps no order book (SIMULATED_DEPTH is off).")
        instrument = await instrument_by_symbol(runtime.sessions, runtime.cache, wanted)
        if instrument is None:
            raise BadInput(f"No instrument {echo(wanted)}.")
        async for book in quote_stream(info, [wanted], {}, view=book_view(instrument, levels)):
            yield book
