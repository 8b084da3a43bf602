"""The Mutation root: every field delegates to `resolvers/` and maps the result to a type."""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal

import strawberry
from strawberry.permission import BasePermission

from graph.context import Info
from graph.errors import BadInput, parse_id
from graph.permissions import IsAdmin, IsAuthenticated, require_user
from graph.types.account import AuthResult, auth_result
from graph.types.alert import AlertError, PriceAlert, PriceAlertResult
from graph.types.enums import AlertCondition
from graph.types.instrument import Instrument, InstrumentInput
from graph.types.records import init_fields
from graph.types.trading import (
    CancelOrderResult,
    CancelRejected,
    Order,
    OrderRejected,
    PlaceOrderInput,
    PlaceOrderResult,
)
from graph.types.watchlist import Watchlist
from models.instrument_file import parse_row
from resolvers import auth, orders, watchlists
from resolvers.instruments import replace_instruments
from resolvers.rate_limits import Attempt
from trading import alerts
from trading.orders import CancelRefused, OrderRequest, Rejection

AUTH: list[type[BasePermission]] = [IsAuthenticated]
MAX_UPSERT = 1000
MAX_MARK_READ = 1000


async def _watchlist_change(change: Awaitable[watchlists.WatchlistRecord]) -> Watchlist:
    """The list as a change left it; a change refused (no such list, a bad name or symbol)
    is bad input."""
    try:
        return Watchlist.of(await change)
    except watchlists.WatchlistError as error:
        raise BadInput(str(error)) from None


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Open an account (with the starting paper cash). Limited per email and per "
        "client address: past a limit, `AuthError` RATE_LIMITED with `retryAfterSeconds`."
    )
    async def register(self, info: Info, email: str, password: str) -> AuthResult:
        runtime = info.context.runtime
        attempt = Attempt(runtime.cache, info.context.client_address)
        outcome = await auth.register(runtime.sessions, runtime.settings, email, password, attempt)
        return auth_result(outcome, runtime.settings.jwt_expire_minutes * 60)

    @strawberry.mutation(
        description="Sign in: returns a bearer token. Too many wrong passwords for an account, "
        "or attempts from one client address, get `AuthError` RATE_LIMITED with "
        "`retryAfterSeconds` (the right password too, until then)."
    )
    async def login(self, info: Info, email: str, password: str) -> AuthResult:
        runtime = info.context.runtime
        attempt = Attempt(runtime.cache, info.context.client_address)
        outcome = await auth.login(runtime.sessions, runtime.settings, email, password, attempt)
        return auth_result(outcome, runtime.settings.jwt_expire_minutes * 60)

    @strawberry.mutation(permission_classes=AUTH)
    async def create_watchlist(self, info: Info, name: str) -> Watchlist:
        user = await require_user(info)
        sessions = info.context.runtime.sessions
        return await _watchlist_change(watchlists.create_watchlist(sessions, user.id, name))

    @strawberry.mutation(permission_classes=AUTH)
    async def rename_watchlist(self, info: Info, id: strawberry.ID, name: str) -> Watchlist:
        user = await require_user(info)
        return await _watchlist_change(
            watchlists.rename_watchlist(
                info.context.runtime.sessions, user.id, parse_id(id, "watchlist"), name
            )
        )

    @strawberry.mutation(permission_classes=AUTH, description="False when you have no such list.")
    async def delete_watchlist(self, info: Info, id: strawberry.ID) -> bool:
        user = await require_user(info)
        return await watchlists.delete_watchlist(
            info.context.runtime.sessions, user.id, parse_id(id, "watchlist")
        )

    @strawberry.mutation(
        permission_classes=AUTH, description="Adding one already there is a no-op."
    )
    async def add_to_watchlist(
        self, info: Info, watchlist_id: strawberry.ID, symbol: str
    ) -> Watchlist:
        user = await require_user(info)
        return await _watchlist_change(
            watchlists.add_to_watchlist(
                info.context.runtime.sessions, user.id, parse_id(watchlist_id, "watchlist"), symbol
            )
        )

    @strawberry.mutation(permission_classes=AUTH, description="Removing one not there is a no-op.")
    async def remove_from_watchlist(
        self, info: Info, watchlist_id: strawberry.ID, symbol: str
    ) -> Watchlist:
        user = await require_user(info)
        return await _watchlist_change(
            watchlists.remove_from_watchlist(
                info.context.runtime.sessions, user.id, parse_id(watchlist_id, "watchlist"), symbol
            )
        )

    @strawberry.mutation(
        permission_classes=AUTH,
        description="MARKET orders fill at once, walking the order book (`book`): a buy takes "
        "the asks best first, a sell the bids, at the depth-weighted price rounded half-even "
        "to the tick size's decimals (with no depth: at the ask or bid). LIMIT orders fill at "
        "once at the ask or bid when the quote already crosses, else rest OPEN until it does. "
        "Out of session (the instrument halted, or, with MARKET_HOURS=calendar, its exchange "
        "outside regular hours: see `marketStatus`) a MARKET order is rejected with "
        "MARKET_CLOSED and a LIMIT order is accepted and rests.",
    )
    async def place_order(self, info: Info, input: PlaceOrderInput) -> PlaceOrderResult:
        user = await require_user(info)
        runtime = info.context.runtime
        request = OrderRequest(**{name: getattr(input, name) for name in init_fields(OrderRequest)})
        hours = runtime.clock if runtime.settings.market_hours == "calendar" else None
        result = await orders.place_order(
            runtime.sessions,
            runtime.cache,
            runtime.pubsub,
            user,
            request,
            hours=hours,
            with_depth=runtime.settings.simulated_depth,
        )
        if isinstance(result, Rejection):
            return OrderRejected.of(result)
        return Order.of(result)

    @strawberry.mutation(permission_classes=AUTH, description="Cancel an OPEN order of yours.")
    async def cancel_order(self, info: Info, id: strawberry.ID) -> CancelOrderResult:
        user = await require_user(info)
        runtime = info.context.runtime
        result = await orders.cancel_order(
            runtime.sessions, runtime.pubsub, user, parse_id(id, "order")
        )
        if isinstance(result, CancelRefused):
            return CancelRejected.of(result)
        return Order.of(result)

    @strawberry.mutation(permission_classes=AUTH)
    async def create_price_alert(
        self, info: Info, symbol: str, condition: AlertCondition, threshold: Decimal
    ) -> PriceAlertResult:
        user = await require_user(info)
        try:
            record = await alerts.create_alert(
                info.context.runtime.sessions, user.id, symbol, condition, threshold
            )
        except alerts.AlertError as error:
            return AlertError(code=error.code, message=str(error))
        return PriceAlert.of(record)

    @strawberry.mutation(permission_classes=AUTH, description="False when you have no such alert.")
    async def delete_price_alert(self, info: Info, id: strawberry.ID) -> bool:
        user = await require_user(info)
        return await alerts.delete_alert(
            info.context.runtime.sessions, user.id, parse_id(id, "alert")
        )

    @strawberry.mutation(
        permission_classes=AUTH,
        description="Mark these (or, without ids, all) of my unread notifications read; "
        "returns how many changed.",
    )
    async def mark_notifications_read(
        self, info: Info, ids: list[strawberry.ID] | None = None
    ) -> int:
        user = await require_user(info)
        if ids is not None and len(ids) > MAX_MARK_READ:
            raise BadInput(f"at most {MAX_MARK_READ} ids at once")
        numbers = None if ids is None else [parse_id(i, "notification") for i in ids]
        return await alerts.mark_read(info.context.runtime.sessions, user.id, numbers)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Admin: add or update instruments (all or none); returns them by symbol.",
    )
    async def upsert_instruments(
        self, info: Info, instruments: list[InstrumentInput]
    ) -> list[Instrument]:
        if not 1 <= len(instruments) <= MAX_UPSERT:
            raise BadInput(f"give 1 to {MAX_UPSERT} instruments")
        rows = []
        for number, item in enumerate(instruments, start=1):
            try:
                rows.append(parse_row(_as_row(item)))
            except ValueError as error:
                raise BadInput(f"instrument {number}: {error}") from None
        if len({r.symbol for r in rows}) != len(rows):
            raise BadInput("a symbol appears twice")
        runtime = info.context.runtime
        records = await replace_instruments(runtime.sessions, runtime.cache, rows)
        return [Instrument.of(r) for r in records]


def _as_row(item: InstrumentInput) -> dict[str, str | None]:
    return {
        "symbol": item.symbol,
        "name": item.name,
        "exchange": item.exchange,
        "sector": item.sector,
        "isin": item.isin,
        "currency": item.currency,
        "lot_size": format(item.lot_size, "f"),
        "tick_size": format(item.tick_size, "f"),
    }
