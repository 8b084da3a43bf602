from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graph.context import Info
from graph.errors import BadInput
from graph.types.quote import Quote
from resolvers.quotes import BadSymbols, normalise_symbols, stream_quotes


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Each symbol's latest quote at once, then every new tick (latest-only when "
        "the client reads slower than ticks arrive)."
    )
    async def quotes(self, info: Info, symbols: list[str]) -> AsyncGenerator[Quote, None]:
        runtime = info.context.runtime
        try:
            wanted = normalise_symbols(symbols, limit=runtime.settings.max_symbols_per_subscription)
        except BadSymbols as error:
            raise BadInput(str(error)) from None
        async for tick in stream_quotes(runtime.hub, runtime.cache, wanted):
            yield Quote.from_tick(tick)
