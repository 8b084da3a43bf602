"""Per-symbol views of a batch that the database stages share: ticks grouped by symbol, in
log order, and the price range each symbol covered (so one query serves the whole batch)."""

from __future__ import annotations

from decimal import Decimal

from streaming.tick import Tick


def by_symbol(ticks: list[Tick]) -> dict[str, list[Tick]]:
    grouped: dict[str, list[Tick]] = {}
    for tick in ticks:
        grouped.setdefault(tick.symbol, []).append(tick)
    return grouped


def trade_ranges(grouped: dict[str, list[Tick]]) -> dict[str, tuple[Decimal, Decimal]]:
    """(lowest, highest) trade price of each symbol."""
    return {s: (min(t.price for t in ts), max(t.price for t in ts)) for s, ts in grouped.items()}


def quote_ranges(grouped: dict[str, list[Tick]]) -> dict[str, tuple[Decimal, Decimal]]:
    """(lowest ask, highest bid) of each symbol: the best any buyer or seller was offered."""
    return {s: (min(t.ask for t in ts), max(t.bid for t in ts)) for s, ts in grouped.items()}
