"""The subscription root. Live streams start with a snapshot, then update as ticks arrive;
`orderUpdates` and `notifications` stream the caller's own events (token in `connection_init`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import strawberry

from delivery.fanout import View, candle_stream, quote_stream
from delivery.user_events import stream_user_events
from graph.context import Info
from graph.errors import BadInput
from graph.instrument_checks import require_instruments
from graph.permissions import require_user
from graph.query_cost import CACHE, DATABASE, cost
from graph.scalars import BigInt
from graph.tape import TapeSubscription
from graph.types.alert import Notification
from graph.types.candle import Candle, CandleInterval
from graph.types.market import MarketStatus
from graph.types.quote import Quote, SymbolSequence
from graph.types.trading import Order
from resolvers.market import exchange_status, exchange_statuses
from resolvers.quotes import (
    BadResume,
    BadSymbols,
    BadThrottle,
    normalise_symbols,
    resume_positions,
    throttle_seconds,
)
from trading.events import NotificationEvent, OrderEvent, Recorded
from trading.sessions import UnknownExchange

QUOTES = View("quotes", live=Quote.from_tick, opening=Quote.from_tick)
CANDLES = View("candles", live=Candle.from_bar, opening=Candle.from_bar)


async def my_events(info: Info, after_event: int | None) -> AsyncIterator[Recorded]:
    """The caller's events (signed in), after `afterEvent` when given."""
    user = await require_user(info)
    if after_event is not None and after_event < 0:
        raise BadInput("afterEvent must be 0 or more")
    runtime = info.context.runtime
    return stream_user_events(runtime.hub, runtime.sessions, user.id, after=after_event)


@strawberry.type
class Subscription(TapeSubscription):
    @strawberry.subscription(
        description="An exchange's status (see the `marketStatus` query) at once, then each "
        "time it changes."
    )
    async def market_status(self, info: Info, exchange: str) -> AsyncGenerator[MarketStatus, None]:
        clock = info.context.runtime.clock
        try:
            exchange_status(clock, exchange)
        except UnknownExchange as error:
            raise BadInput(str(error)) from None
        async for code, phase in exchange_statuses(clock, exchange):
            yield MarketStatus.of(code, phase)

    @strawberry.subscription(
        description="Each symbol's latest quote at once, then every new tick, in sequence order "
        "per symbol (latest-only when the client reads slower than ticks arrive). With "
        "`throttleMs`, each symbol updates at most once per that many milliseconds (0-60000), "
        "with its latest quote. With `since` (the last sequence seen of some symbols, after a "
        "reconnect), those symbols start with every tick after it that the server still holds "
        "(HISTORY_MAX_MESSAGES, HISTORY_MAX_AGE_SECONDS), then continue live with no gap and "
        "no duplicate; where the history no longer reaches back, with the latest quote (the "
        "sequence then jumps).",
        metadata=cost(CACHE, sized_by="symbols"),
    )
    async def quotes(
        self,
        info: Info,
        symbols: list[str],
        throttle_ms: int | None = None,
        since: list[SymbolSequence] | None = None,
    ) -> AsyncGenerator[Quote, None]:
        runtime = info.context.runtime
        try:
            wanted = normalise_symbols(symbols, limit=runtime.settings.max_symbols_per_subscription)
            throttle = throttle_seconds(throttle_ms)
            resume = resume_positions([(s.symbol, s.sequence) for s in since or ()], wanted)
        except (BadSymbols, BadThrottle, BadResume) as error:
            raise BadInput(str(error)) from None
        await require_instruments(info, wanted)
        async for quote in quote_stream(info, wanted, resume, view=QUOTES, throttle=throttle):
            yield quote

    @strawberry.subscription(
        description="The forming bar of a symbol at once (if it has traded in this interval), "
        "then every update; when an interval ends, the next bar follows. The daily bar's "
        "volume is the symbol's day volume.",
        metadata=cost(CACHE),
    )
    async def candles(
        self, info: Info, symbol: str, interval: CandleInterval
    ) -> AsyncGenerator[Candle, None]:
        try:
            (wanted,) = normalise_symbols([symbol], limit=1)
        except BadSymbols as error:
            raise BadInput(str(error)) from None
        await require_instruments(info, [wanted])
        async for candle in candle_stream(info, wanted, interval.interval, CANDLES):
            yield candle

    @strawberry.subscription(
        description="Every change to one of my orders (placed, filled, cancelled, rejected) "
        "from now on, or with `afterEvent` (the `eventSequence` of the last event you saw), "
        "every one after it first: a reconnect misses nothing. Needs the token in "
        '`connection_init`: `{"authorization": "Bearer <token>"}`.',
        metadata=cost(DATABASE),
    )
    async def order_updates(
        self, info: Info, after_event: BigInt | None = None
    ) -> AsyncGenerator[Order, None]:
        async for item in await my_events(info, after_event):
            if isinstance(item.event, OrderEvent):
                yield Order.of(item.event.order, item.sequence)

    @strawberry.subscription(
        description="My new notifications (price alerts fired, orders filled) from now on, or "
        "with `afterEvent` (the `eventSequence` of the last event you saw), every one after "
        "it first. Needs the token in `connection_init`: "
        '`{"authorization": "Bearer <token>"}`.',
        metadata=cost(DATABASE),
    )
    async def notifications(
        self, info: Info, after_event: BigInt | None = None
    ) -> AsyncGenerator[Notification, None]:
        async for item in await my_events(info, after_event):
            if isinstance(item.event, NotificationEvent):
                yield Notification.of(item.event.notification, item.sequence)
