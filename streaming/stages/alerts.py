"""Alert stage: fire the price alerts that the trades since the last flush crossed, then
publish the notifications.

Nothing on the tick path: `apply` only notes, per symbol, the trade range and the ticks that
set a new low or high (the only ones that can be the first to cross a threshold; see
`ranges.Extremes`). The database work runs once per flush (`BRIDGE_FLUSH_INTERVAL_MS`), before
the bridge records its watermark and commits the offsets, so an alert fires at most one flush
interval after its tick. Per flush: one query (`alert_bounds`: per symbol seen, the lowest
ABOVE and highest BELOW threshold of its active alerts; a statement of a fixed shape, so its
compiled form is reused). Only a symbol whose range reaches a bound costs a second query
(`alerts_in_ranges`) and a write transaction; each candidate fires at the first tick, in log
order, that crosses it. No per-worker cache of thresholds: an alert created a moment ago must
fire on the next flush, and a cache would need invalidation across API replicas for little
gain over one indexed query per flush. (An alert created during an interval may fire at a
trade from earlier in that interval, as it could already when the log lags.)

Exactly once: `trigger_alert` is a conditional UPDATE (`WHERE active`), so a re-delivered
batch, a retried flush or a second worker racing on the same alert finds it inactive and
writes nothing. The notification is published only after its transaction has committed; it was
recorded in that transaction (`trading.event_log`), so a crash in between leaves it to the
relay, never lost. What was noted is dropped only
once the flush succeeded (a failed one is retried with it) or by `forget` (a rebalance: the
offsets were not committed, so the ticks are delivered again).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.util.types import Attributes
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import SessionFactory, session_scope
from streaming.metrics import ALERTS_FIRED
from streaming.pubsub import PubSub
from streaming.stages.ranges import Extremes, trade_extremes
from streaming.stages.thresholds import Bounds, Range, ThresholdStage
from streaming.tick import Tick
from streaming.user_events import publish_recorded
from trading.alerts import AlertCandidate, alert_bounds, alerts_in_ranges, trigger_alert
from trading.tracing import span_caused_by


@dataclass
class AlertStage(ThresholdStage):
    sessions: SessionFactory
    pubsub: PubSub
    name: str = "alerts"
    _seen: Extremes = field(default_factory=trade_extremes)

    async def bounds(self, session: AsyncSession, symbols: list[str]) -> dict[str, Bounds]:
        return await alert_bounds(session, symbols)

    def reaches(self, seen: Range, bounds: Bounds) -> bool:
        (low, high), (lowest_above, highest_below) = seen, bounds
        return (lowest_above is not None and high >= lowest_above) or (
            highest_below is not None and low <= highest_below
        )

    async def settle(self, reached: dict[str, Range]) -> None:
        """Each alert in a transaction of its own (it locks its owner's row to number the
        event), published after that commit."""
        async with self.sessions() as session:
            candidates = await alerts_in_ranges(session, reached)
        for candidate, tick in first_crossings(candidates, self._seen.ticks()):
            facts: Attributes = {"trado.alert.id": candidate.id, "trado.symbol": tick.symbol}
            with span_caused_by("fire alert", candidate.trace_context, attributes=facts):
                async with session_scope(self.sessions) as session:
                    event = await trigger_alert(session, candidate.id, tick.price, tick.symbol)
            if event is not None:
                await publish_recorded(self.sessions, self.pubsub, [event])
                ALERTS_FIRED.inc()


def first_crossings(
    candidates: list[AlertCandidate], grouped: dict[str, list[Tick]]
) -> list[tuple[AlertCandidate, Tick]]:
    """Each candidate with the first tick of its symbol that fires it (`grouped`: per symbol,
    its ticks in log order, or just those that set a new low or high)."""
    fired = []
    for candidate in candidates:
        tick = next((t for t in grouped[candidate.symbol] if candidate.fired_by(t.price)), None)
        if tick is not None:
            fired.append((candidate, tick))
    return fired
