"""The Query root: every field delegates to `resolvers/` and maps the result to a type."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from delivery.quotes import latest_quotes
from graph.context import Info
from graph.errors import BadInput
from graph.permissions import IsAuthenticated, require_user
from graph.query_cost import CACHE, DATABASE, cost
from graph.tape import TapeQuery
from graph.types.account import User
from graph.types.alert import Notification, NotificationConnection, PriceAlert
from graph.types.candle import Candle, CandleInterval
from graph.types.enums import OrderStatus
from graph.types.instrument import Instrument, market_status
from graph.types.market import MarketStatus
from graph.types.pagination import Connection, to_connection
from graph.types.quote import Quote
from graph.types.trading import Order, OrderConnection, Portfolio
from graph.types.watchlist import Watchlist
from models.types import plain
from resolvers.candles import BadRange, candle_history
from resolvers.instruments import instrument_by_symbol, search_instruments
from resolvers.pagination import BadPage, decode_int_cursor, make_page, page_size
from resolvers.portfolio import portfolio
from resolvers.quotes import BadSymbols, normalise_symbols
from resolvers.watchlists import MAX_WATCHLISTS, my_watchlists
from streaming.candle_store import to_bar
from trading.alerts import my_alerts, notifications_page
from trading.orders import list_orders
from trading.sessions import UnknownExchange

AUTH: list[type[BasePermission]] = [IsAuthenticated]
MAX_CANDLES = 1000


async def _quotes(info: Info, symbols: list[str]) -> list[Quote]:
    runtime = info.context.runtime
    try:
        wanted = normalise_symbols(symbols, limit=runtime.settings.max_page_size)
    except BadSymbols as error:
        raise BadInput(str(error)) from None
    return [Quote.from_tick(t) for t in await latest_quotes(runtime.cache, wanted)]


def _size(info: Info, first: int | None) -> int:
    try:
        return page_size(first, info.context.runtime.settings.max_page_size)
    except BadPage as error:
        raise BadInput(str(error)) from None


def _before(kind: str, after: str | None) -> int | None:
    try:
        return decode_int_cursor(kind, after)
    except BadPage as error:
        raise BadInput(str(error)) from None


@strawberry.type
class Query(TapeQuery):
    @strawberry.field(
        description="The latest quote of a symbol, or null before its first tick.",
        metadata=cost(CACHE),
    )
    async def quote(self, info: Info, symbol: str) -> Quote | None:
        found = await _quotes(info, [symbol])
        return found[0] if found else None

    @strawberry.field(
        description="Latest quotes of the symbols that have one, in the order asked.",
        metadata=cost(CACHE),
    )
    async def quotes(self, info: Info, symbols: list[str]) -> list[Quote]:
        return await _quotes(info, symbols)

    @strawberry.field(
        description="An exchange's status (by name, NYSE or NASDAQ, or calendar code, XNYS or "
        "XNAS) at `at` (default now), from its published calendar. Out of session the rule "
        "for orders is: LIMIT orders are always accepted and rest; with the setting "
        "MARKET_HOURS=calendar a MARKET order is refused with MARKET_CLOSED unless the market "
        "is OPEN (and the instrument not halted)."
    )
    async def market_status(
        self, info: Info, exchange: str, at: datetime | None = None
    ) -> MarketStatus:
        try:
            return market_status(info, exchange, at=at)
        except UnknownExchange as error:
            raise BadInput(str(error)) from None

    @strawberry.field(
        description="One instrument by symbol (case-insensitive), or null.", metadata=cost(CACHE)
    )
    async def instrument(self, info: Info, symbol: str) -> Instrument | None:
        runtime = info.context.runtime
        record = await instrument_by_symbol(runtime.sessions, runtime.cache, symbol)
        return Instrument.of(record) if record else None

    @strawberry.field(
        description="Instruments by symbol prefix or name substring (case-insensitive), "
        "optionally of one exchange or sector, ordered by symbol.",
        metadata=cost(DATABASE),
    )
    async def instruments(
        self,
        info: Info,
        *,
        search: str | None = None,
        exchange: str | None = None,
        sector: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Instrument]:
        size = _size(info, first)
        try:
            async with info.context.runtime.sessions() as session:
                page = await search_instruments(
                    session, search=search, exchange=exchange, sector=sector, size=size, after=after
                )
        except BadPage as error:
            raise BadInput(str(error)) from None
        return to_connection(page, Instrument.of)

    @strawberry.field(
        description=f"Bars of [from, to), oldest first; at most the latest {MAX_CANDLES}.",
        metadata=cost(DATABASE, size=MAX_CANDLES),
    )
    async def candles(
        self,
        info: Info,
        symbol: str,
        interval: CandleInterval,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> list[Candle]:
        runtime = info.context.runtime
        wanted = symbol.strip().upper()
        try:
            async with runtime.sessions() as session:
                rows = await candle_history(
                    session,
                    wanted,
                    interval.value,
                    start=from_,
                    end=to,
                    limit=MAX_CANDLES,
                )
        except BadRange as error:
            raise BadInput(str(error)) from None
        instrument = await instrument_by_symbol(runtime.sessions, runtime.cache, wanted)
        tick_size = plain(instrument.tick_size) if instrument else None
        return [Candle.from_bar(to_bar(r), tick_size) for r in rows]

    @strawberry.field(
        description="The signed-in user, or null when not signed in.", metadata=cost(DATABASE)
    )
    async def me(self, info: Info) -> User | None:
        user = await info.context.current_user()
        return User.of(user) if user else None

    @strawberry.field(
        permission_classes=AUTH,
        description="My watchlists, oldest first.",
        metadata=cost(DATABASE, size=MAX_WATCHLISTS),
    )
    async def watchlists(self, info: Info) -> list[Watchlist]:
        user = await require_user(info)
        async with info.context.runtime.sessions() as session:
            found = await my_watchlists(session, user.id)
        return [Watchlist.of(w) for w in found]

    @strawberry.field(
        permission_classes=AUTH, description="My orders, newest first.", metadata=cost(DATABASE)
    )
    async def orders(
        self,
        info: Info,
        status: OrderStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> OrderConnection:
        user = await require_user(info)
        size = _size(info, first)
        before = _before("order", after)
        async with info.context.runtime.sessions() as session:
            rows = await list_orders(session, user.id, status, size, before)
        return to_connection(make_page(rows, size, "order", lambda r: r.id), Order.of)

    @strawberry.field(
        permission_classes=AUTH, description="My cash and positions.", metadata=cost(DATABASE)
    )
    async def portfolio(self, info: Info) -> Portfolio:
        user = await require_user(info)
        runtime = info.context.runtime
        return Portfolio.of(await portfolio(runtime.sessions, runtime.cache, user.id))

    @strawberry.field(
        permission_classes=AUTH,
        description="My price alerts, newest first.",
        metadata=cost(DATABASE),
    )
    async def alerts(self, info: Info) -> list[PriceAlert]:
        user = await require_user(info)
        async with info.context.runtime.sessions() as session:
            found = await my_alerts(session, user.id)
        return [PriceAlert.of(a) for a in found]

    @strawberry.field(
        permission_classes=AUTH,
        description="My notifications, newest first.",
        metadata=cost(DATABASE),
    )
    async def notifications(
        self,
        info: Info,
        unread_only: bool | None = False,
        first: int | None = None,
        after: str | None = None,
    ) -> NotificationConnection:
        user = await require_user(info)
        size = _size(info, first)
        before = _before("notification", after)
        async with info.context.runtime.sessions() as session:
            rows = await notifications_page(session, user.id, bool(unread_only), size, before)
        page = make_page(rows, size, "notification", lambda r: r.id)
        return to_connection(page, Notification.of)
