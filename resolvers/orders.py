"""Placing and cancelling the caller's orders: the instrument and the quote from the cache,
the decision from the trading core, its events published after the commit."""

from __future__ import annotations

from delivery.quotes import latest_quotes
from models.db import SessionFactory
from models.types import utcnow
from resolvers.auth import CurrentUser
from resolvers.instruments import instrument_by_symbol
from streaming.book import Book, book_of, exchange_book
from streaming.cache import Cache
from streaming.channels import book_key
from streaming.pubsub import PubSub
from streaming.user_events import publish_recorded
from trading import orders
from trading.orders import CancelRefused, OrderRequest, Rejection
from trading.records import OrderRecord
from trading.sessions import SessionClock


async def place_order(
    sessions: SessionFactory,
    cache: Cache,
    pubsub: PubSub,
    user: CurrentUser,
    request: OrderRequest,
    *,
    hours: SessionClock | None = None,
    with_depth: bool = False,
) -> OrderRecord | Rejection:
    """`hours`: the calendars when the market keeps them (MARKET_HOURS=calendar), else None
    (always open). A halted instrument (its cached quote says so) never trades at once.
    `with_depth`: a MARKET order walks the book: the exchange's latest where the feed carries
    depth, else the simulated one around the quote."""
    instrument = await instrument_by_symbol(sessions, cache, request.symbol)
    quotes = await latest_quotes(cache, [instrument.symbol]) if instrument else []
    quote = quotes[0] if quotes else None
    tradable = not (quote and quote.halted)
    if instrument and hours is not None:
        tradable = tradable and hours.is_open(instrument.exchange, utcnow())
    depth: Book | None = None
    if instrument is not None and quote is not None:
        depth = await _latest_exchange_book(cache, instrument.symbol)
        if depth is None and with_depth:
            depth = book_of(quote, instrument.tick_size, instrument.lot_size)
    placed = await orders.place_order(
        sessions, user.id, request, instrument, quote, tradable=tradable, depth=depth
    )
    await publish_recorded(sessions, pubsub, placed.events)
    return placed.result


async def _latest_exchange_book(cache: Cache, symbol: str) -> Book | None:
    books = await latest_quotes(cache, [symbol], book_key)
    return exchange_book(books[0]) if books else None


async def cancel_order(
    sessions: SessionFactory, pubsub: PubSub, user: CurrentUser, order_id: int
) -> OrderRecord | CancelRefused:
    cancelled = await orders.cancel_order(sessions, user.id, order_id)
    await publish_recorded(sessions, pubsub, cancelled.events)
    return cancelled.result
