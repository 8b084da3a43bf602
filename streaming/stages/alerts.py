"""Alert stage: fire the price alerts a batch's trades cross, then publish the notifications.

Cost on the tick path: one query per batch, whatever its size (`alert_bounds`: per symbol of
the batch, the lowest ABOVE and highest BELOW threshold of its active alerts; a statement of a
fixed shape, so its compiled form is reused). Only a symbol whose batch range reaches a bound
costs a second query (`alerts_in_ranges`) and a write transaction; each candidate fires at the
first tick, in log order, that crosses it. No per-worker cache of thresholds: an alert created
a moment ago must fire on the next tick, and a cache would need invalidation across API
replicas for little gain over one indexed query per batch.

Exactly once: `trigger_alert` is a conditional UPDATE (`WHERE active`), so a re-delivered
batch, a retry or a second worker racing on the same alert finds it inactive and writes
nothing. The notifications are published only after their transaction has committed (a crash
in between loses the live message, never the row).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from models.db import SessionFactory, session_scope
from resolvers.alerts import AlertCandidate, alert_bounds, alerts_in_ranges, trigger_alert
from resolvers.events import NotificationEvent, publish_events
from resolvers.records import NotificationRecord
from streaming.metrics import ALERTS_FIRED
from streaming.pubsub import PubSub
from streaming.stages.ranges import by_symbol, trade_ranges
from streaming.tick import Tick


@dataclass
class AlertStage:
    sessions: SessionFactory
    pubsub: PubSub
    name: str = "alerts"

    async def apply(self, ticks: list[Tick]) -> None:
        if not ticks:
            return
        grouped = by_symbol(ticks)
        async with self.sessions() as session:
            bounds = await alert_bounds(session, list(grouped))
        reached = {
            symbol: (low, high)
            for symbol, (low, high) in trade_ranges(grouped).items()
            if symbol in bounds and _reaches(low, high, *bounds[symbol])
        }
        if not reached:
            return
        notes: list[NotificationRecord] = []
        async with session_scope(self.sessions) as session:
            candidates = await alerts_in_ranges(session, reached)
            for candidate, tick in first_crossings(candidates, grouped):
                note = await trigger_alert(session, candidate.id, tick.price, tick.symbol)
                if note is not None:
                    notes.append(note)
        if notes:
            await publish_events(self.pubsub, [NotificationEvent(n) for n in notes])
            ALERTS_FIRED.inc(len(notes))

    async def flush(self) -> None:
        return None  # `apply` commits: a fired alert is durable before it is published

    def forget(self) -> None:
        return None


def _reaches(
    low: Decimal, high: Decimal, lowest_above: Decimal | None, highest_below: Decimal | None
) -> bool:
    return (lowest_above is not None and high >= lowest_above) or (
        highest_below is not None and low <= highest_below
    )


def first_crossings(
    candidates: list[AlertCandidate], grouped: dict[str, list[Tick]]
) -> list[tuple[AlertCandidate, Tick]]:
    """Each candidate with the first tick of its symbol that fires it."""
    fired = []
    for candidate in candidates:
        tick = next((t for t in grouped[candidate.symbol] if candidate.fired_by(t.price)), None)
        if tick is not None:
            fired.append((candidate, tick))
    return fired
