"""Market status: an exchange's phase from its calendar, and its changes as they come."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

from models.types import utcnow
from trading.sessions import MarketPhase, PhaseAt, SessionClock, exchange_code


def exchange_status(
    clock: SessionClock, exchange: str, *, at: datetime | None = None, halted: bool = False
) -> tuple[str, PhaseAt]:
    """The exchange's calendar code and phase at `at` (default now); HALTED, until the
    calendar's next change, for a halted instrument during a session's hours."""
    phase = clock.exchange(exchange).status(at or utcnow())
    if halted and phase.phase is not MarketPhase.CLOSED:
        phase = PhaseAt(MarketPhase.HALTED, phase.until, phase.next_phase)
    return exchange_code(exchange), phase


async def exchange_statuses(
    clock: SessionClock, exchange: str
) -> AsyncIterator[tuple[str, PhaseAt]]:
    """The status now, then each change when it happens (a sleep until the calendar's next
    change: no polling)."""
    while True:
        code, phase = exchange_status(clock, exchange)
        yield code, phase
        await asyncio.sleep(max((phase.until - utcnow()).total_seconds(), 0) + 0.001)
