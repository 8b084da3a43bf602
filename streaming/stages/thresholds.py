"""What the alert and matching stages share: note each tick's symbol range on the tick path,
then once per flush ask the database for the thresholds near those ranges (one query of a
fixed shape) and settle only the symbols whose range reached one."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import SessionFactory
from streaming.stages.ranges import Extremes
from streaming.tick import Tick

Range = tuple[Decimal, Decimal]
Bounds = tuple[Decimal | None, Decimal | None]


class ThresholdStage:
    """A base for dataclass stages that declare `sessions` and `_seen`."""

    sessions: SessionFactory
    _seen: Extremes

    async def apply(self, ticks: list[Tick]) -> None:
        self._seen.add(ticks)

    async def flush(self) -> None:
        if not self._seen:
            return
        async with self.sessions() as session:
            bounds = await self.bounds(session, self._seen.symbols())
        reached = {
            symbol: seen
            for symbol, seen in self._seen.ranges().items()
            if symbol in bounds and self.reaches(seen, bounds[symbol])
        }
        if reached:
            await self.settle(reached)
        self._seen.clear()

    def forget(self) -> None:
        self._seen.clear()

    async def bounds(self, session: AsyncSession, symbols: list[str]) -> dict[str, Bounds]:
        """Per symbol, the two thresholds nearest any price (one query)."""
        raise NotImplementedError

    def reaches(self, seen: Range, bounds: Bounds) -> bool:
        """Whether the range of a flush's ticks reaches one of a symbol's bounds."""
        raise NotImplementedError

    async def settle(self, reached: dict[str, Range]) -> None:
        """Act on the symbols whose range reached a bound (the ticks are in `self._seen`)."""
        raise NotImplementedError
