from __future__ import annotations

import strawberry

from graph.context import Info
from graph.errors import BadInput
from graph.types.quote import Quote
from resolvers.quotes import BadSymbols, latest_quotes, normalise_symbols


async def _quotes(info: Info, symbols: list[str]) -> list[Quote]:
    runtime = info.context.runtime
    try:
        wanted = normalise_symbols(symbols, limit=runtime.settings.max_page_size)
    except BadSymbols as error:
        raise BadInput(str(error)) from None
    return [Quote.from_tick(t) for t in await latest_quotes(runtime.cache, wanted)]


@strawberry.type
class Query:
    @strawberry.field(description="The latest quote of a symbol, or null before its first tick.")
    async def quote(self, info: Info, symbol: str) -> Quote | None:
        found = await _quotes(info, [symbol])
        return found[0] if found else None

    @strawberry.field(description="Latest quotes of the symbols that have one, in the order asked.")
    async def quotes(self, info: Info, symbols: list[str]) -> list[Quote]:
        return await _quotes(info, symbols)
