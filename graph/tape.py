"""Time and sales and order-book depth: `recentTrades`, `trades` and `book`, mixed into the
Query and Subscription roots. Live, both ride the symbols' quote channels through the shared
fan-out, each seen through its own `View`: `trades` shows the trade ticks; `book` the
exchange's book ticks where the feed carries depth, else a book derived around every quote
(`resolvers/tape.py`, `streaming/book.py`)."""

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
from resolvers.tape import (
    BadTapeArgument,
    book_depth,
    has_exchange_book,
    recent_count,
    recent_trades,
)
from streaming.book import book_of, exchange_book
from streaming.channels import book_key, trade_key
from streaming.tick import Tick
from trading.echo import echo
from trading.instruments import InstrumentRecord


def _is_trade(tick: Tick) -> bool:
    return tick.is_trade


def _is_book(tick: Tick) -> bool:
    return tick.book is not None


TRADES = View(
    "trades", live=Trade.from_tick, opening=Trade.from_tick, accepts=_is_trade, latest=trade_key
)


def _exchange_order_book(depth: int, tick: Tick, *, snapshot: bool) -> OrderBook:
    book = exchange_book(tick, depth)
    assert book is not None  # the view accepts book ticks only
    return OrderBook.of(book, tick, snapshot=snapshot)


def exchange_book_view(depth: int) -> View[Tick, OrderBook]:
    """The exchange's book, `depth` levels a side: its latest to open with, then each
    update, numbered by the exchange's update ids."""
    return View(
        ("exchange-book", depth),
        live=partial(_exchange_order_book, depth, snapshot=False),
        opening=partial(_exchange_order_book, depth, snapshot=True),
        accepts=_is_book,
        latest=book_key,
    )


def _order_book(
    instrument: InstrumentRecord, depth: int, tick: Tick, *, snapshot: bool
) -> OrderBook:
    book = book_of(tick, instrument.tick_size, instrument.lot_size, depth)
    return OrderBook.of(book, tick, snapshot=snapshot)


def book_view(instrument: InstrumentRecord, depth: int) -> View[Tick, OrderBook]:
    """The simulated book of `depth` levels a side: a snapshot to open with, then each update."""
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
        held = runtime.settings.history_max_messages
        trades = await recent_trades(runtime.pubsub, wanted, count, held)
        return [Trade.from_tick(t) for t in trades]


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
        "reading slower than updates arrive gets the latest), so subscribe again. Where the "
        "feed carries depth (Binance), it is the exchange's book, numbered by its update ids; "
        "otherwise it is simulated around each quote (SIMULATED_DEPTH, `simulated: true`). "
        "MARKET orders fill against it.",
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
        instrument = await instrument_by_symbol(runtime.sessions, runtime.cache, wanted)
        if instrument is None:
            raise BadInput(f"No instrument {echo(wanted)}.")
        if await has_exchange_book(runtime.cache, wanted):
            view = exchange_book_view(levels)
        elif runtime.settings.simulated_depth:
            view = book_view(instrument, levels)
        else:
            raise BadInput(
                f"No order book for {echo(wanted)}: its feed carries no depth and "
                "SIMULATED_DEPTH is off."
            )
        async for book in quote_stream(info, [wanted], {}, view=view):
            yield book
