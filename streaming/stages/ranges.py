"""What the database stages keep between flushes, per symbol: the range the ticks covered
(so one query per flush serves every symbol) and the few ticks that can be the first, in log
order, to cross some threshold.

A threshold crossed from below (price >= T) is first crossed by a tick that set a new running
high: every tick before it was below T, so below it. Likewise from above, by a new running low.
So keeping only the ticks that set a new low or high of their symbol (in log order) is enough
for first-crossing semantics, and bounded by the ticks of one flush interval (far fewer unless
the price moves one way the whole interval).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from operator import attrgetter

from streaming.tick import Tick


@dataclass
class _Window:
    low: Decimal
    high: Decimal
    sequence: int
    ticks: list[Tick]


@dataclass
class Extremes:
    """Per symbol since the last `clear`: (low, high) of `low_of`/`high_of` over its ticks, and
    the ticks that set a new low or high, in log order. A tick at or below a sequence already
    added (a batch applied again after a failed stage) is ignored."""

    low_of: Callable[[Tick], Decimal]
    high_of: Callable[[Tick], Decimal]
    _windows: dict[str, _Window] = field(default_factory=dict)

    def add(self, ticks: Iterable[Tick]) -> None:
        for tick in ticks:
            low, high = self.low_of(tick), self.high_of(tick)
            window = self._windows.get(tick.symbol)
            if window is None:
                self._windows[tick.symbol] = _Window(low, high, tick.sequence, [tick])
                continue
            if tick.sequence <= window.sequence:
                continue
            window.sequence = tick.sequence
            if low < window.low or high > window.high:
                window.ticks.append(tick)
                window.low = min(window.low, low)
                window.high = max(window.high, high)

    def __bool__(self) -> bool:
        return bool(self._windows)

    def symbols(self) -> list[str]:
        return list(self._windows)

    def ranges(self) -> dict[str, tuple[Decimal, Decimal]]:
        return {s: (w.low, w.high) for s, w in self._windows.items()}

    def ticks(self) -> dict[str, list[Tick]]:
        """Per symbol, the ticks that set a new low or high, in log order."""
        return {s: w.ticks for s, w in self._windows.items()}

    def clear(self) -> None:
        self._windows.clear()


def trade_extremes() -> Extremes:
    """(lowest, highest) trade price: what fires price alerts."""
    return Extremes(low_of=attrgetter("price"), high_of=attrgetter("price"))


def quote_extremes() -> Extremes:
    """(lowest ask, highest bid): the best any buyer or seller was offered, what fills limits."""
    return Extremes(low_of=attrgetter("ask"), high_of=attrgetter("bid"))
