"""Checks a live field makes of the symbols it is asked for."""

from __future__ import annotations

from graph.context import Info
from graph.errors import BadInput
from resolvers.instruments import unknown_symbols
from trading.echo import echo


async def require_instruments(info: Info, symbols: list[str]) -> None:
    """A subscription to a symbol no instrument has would never tick: say so at once."""
    runtime = info.context.runtime
    unknown = await unknown_symbols(runtime.sessions, runtime.cache, symbols)
    if unknown:
        raise BadInput(f"No instrument {', '.join(map(echo, unknown[:5]))}.")
