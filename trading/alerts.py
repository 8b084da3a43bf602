"""Price alerts (create, list, delete) and the caller's notifications (page, mark read).

An alert fires once: the streaming side evaluates active alerts on each tick and calls
`trigger_alert`, which deactivates the alert and writes a PRICE_ALERT notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case
from sqlmodel import col, delete, func, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import SessionFactory, session_scope
from models.tables import (
    AlertCondition,
    Instrument,
    Notification,
    NotificationKind,
    PriceAlert,
    PriceAlertFields,
)
from models.types import utcnow
from trading.echo import echo
from trading.event_log import record_events
from trading.events import NotificationEvent, Recorded
from trading.locking import lock_user
from trading.money import MAX_PRICE, exact_aggregate, fits_scale
from trading.records import NotificationRecord
from trading.tracing import current_traceparent

MAX_ACTIVE_ALERTS = 100


class AlertError(ValueError):
    """An alert that cannot be created (`code` names why, the message explains)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class AlertRecord(PriceAlertFields):
    model_config = {"frozen": True, "from_attributes": True}  # a read model (trading/records.py)
    id: int


async def create_alert(
    sessions: SessionFactory,
    user_id: int,
    symbol: str,
    condition: AlertCondition,
    threshold: Decimal,
) -> AlertRecord:
    symbol = symbol.strip().upper()
    if (
        not threshold.is_finite()
        or threshold <= 0
        or threshold > MAX_PRICE
        or not fits_scale(threshold)
    ):
        raise AlertError("INVALID_THRESHOLD", f"Threshold must be above 0 and at most {MAX_PRICE}.")
    async with session_scope(sessions) as session:
        instrument = (
            await session.exec(select(Instrument).where(Instrument.symbol == symbol))
        ).first()
        if instrument is None or instrument.id is None:
            raise AlertError("UNKNOWN_SYMBOL", f"No instrument {echo(symbol)!r}.")
        active = (
            await session.exec(
                select(func.count()).where(PriceAlert.user_id == user_id, col(PriceAlert.active))
            )
        ).one()
        if active >= MAX_ACTIVE_ALERTS:
            raise AlertError("TOO_MANY_ALERTS", f"At most {MAX_ACTIVE_ALERTS} active alerts.")
        row = PriceAlert(
            user_id=user_id,
            instrument_id=instrument.id,
            condition=condition,
            threshold=threshold,
            created_at=utcnow(),
            trace_context=current_traceparent(),
        )
        session.add(row)
        await session.flush()
        return AlertRecord.model_validate(row)


async def my_alerts(session: AsyncSession, user_id: int) -> list[AlertRecord]:
    rows = await session.exec(
        select(PriceAlert).where(PriceAlert.user_id == user_id).order_by(col(PriceAlert.id).desc())
    )
    return [AlertRecord.model_validate(r) for r in rows]


async def delete_alert(sessions: SessionFactory, user_id: int, alert_id: int) -> bool:
    """True when the caller had that alert (another user's alert is left alone: False)."""
    async with session_scope(sessions) as session:
        result = await session.exec(
            delete(PriceAlert).where(
                col(PriceAlert.id) == alert_id, col(PriceAlert.user_id) == user_id
            )
        )
        return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    """An active alert that some price of the ticks since a flush fires (see `alerts_in_ranges`)."""

    id: int
    symbol: str
    condition: AlertCondition
    threshold: Decimal
    trace_context: str | None = None  # the traceparent of the operation that set it

    def fired_by(self, price: Decimal) -> bool:
        if self.condition == AlertCondition.ABOVE:
            return price >= self.threshold
        return price <= self.threshold


async def alert_bounds(
    session: AsyncSession, symbols: list[str]
) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """Per symbol with active alerts: (lowest ABOVE threshold, highest BELOW threshold). A
    price between the two fires nothing, so most flushes need no other query. One statement
    of a fixed shape (its compiled form and plan are reused), at most one row per symbol."""
    if not symbols:
        return {}
    above = col(PriceAlert.condition) == AlertCondition.ABOVE
    below = col(PriceAlert.condition) == AlertCondition.BELOW
    query = (
        select(
            col(Instrument.symbol),
            func.min(case((above, col(PriceAlert.threshold)))),
            func.max(case((below, col(PriceAlert.threshold)))),
        )
        .join(Instrument, col(Instrument.id) == col(PriceAlert.instrument_id))
        .where(col(PriceAlert.active), col(Instrument.symbol).in_(symbols))
        .group_by(col(Instrument.symbol))
    )
    return {
        symbol: (exact_aggregate(low), exact_aggregate(high))
        for symbol, low, high in (await session.exec(query)).all()
    }


async def alerts_in_ranges(
    session: AsyncSession, ranges: dict[str, tuple[Decimal, Decimal]]
) -> list[AlertCandidate]:
    """Active alerts that a price within `ranges[symbol] = (low, high)` fires, oldest first:
    ABOVE with threshold <= high, BELOW with threshold >= low. One query for all the ticks
    of a flush; each candidate then fires at the first tick that crosses it (`trigger_alert`)."""
    if not ranges:
        return []
    per_symbol = [
        (col(Instrument.symbol) == symbol)
        & or_(
            (col(PriceAlert.condition) == AlertCondition.ABOVE)
            & (col(PriceAlert.threshold) <= high),
            (col(PriceAlert.condition) == AlertCondition.BELOW)
            & (col(PriceAlert.threshold) >= low),
        )
        for symbol, (low, high) in ranges.items()
    ]
    query = (
        select(PriceAlert, col(Instrument.symbol))
        .join(Instrument, col(Instrument.id) == col(PriceAlert.instrument_id))
        .where(col(PriceAlert.active), or_(*per_symbol))
        .order_by(col(PriceAlert.id))
    )
    return [
        AlertCandidate(a.id, symbol, a.condition, a.threshold, a.trace_context)
        for a, symbol in (await session.exec(query)).all()
        if a.id is not None
    ]


async def trigger_alert(
    session: AsyncSession, alert_id: int, price: Decimal, symbol: str
) -> Recorded | None:
    """Fire an active alert once, inside the caller's transaction: deactivate it and write a
    PRICE_ALERT notification, recorded as the user's event for the caller to publish after
    the commit. None when the alert is gone or already fired (the conditional UPDATE makes
    concurrent bridges safe)."""
    now = utcnow()
    result = await session.exec(
        update(PriceAlert)
        .where(col(PriceAlert.id) == alert_id, col(PriceAlert.active))
        .values(active=False, triggered_at=now, triggered_price=price)
    )
    if not result.rowcount:
        return None
    alert = await session.get(PriceAlert, alert_id, populate_existing=True)
    assert alert is not None
    word = "above" if alert.condition == AlertCondition.ABOVE else "below"
    note = Notification(
        user_id=alert.user_id,
        kind=NotificationKind.PRICE_ALERT,
        alert_id=alert_id,
        message=f"{symbol} traded at {price}, {word} your alert at {alert.threshold}",
        created_at=now,
    )
    session.add(note)
    await session.flush()
    owner = await lock_user(session, alert.user_id)
    assert owner is not None
    [event] = record_events(
        session, owner, [NotificationEvent(NotificationRecord.model_validate(note))]
    )
    return event


async def notifications_page(
    session: AsyncSession, user_id: int, unread_only: bool, size: int, before_id: int | None
) -> list[NotificationRecord]:
    """Newest first; size + 1 rows so the caller can tell a next page."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    if before_id is not None:
        query = query.where(col(Notification.id) < before_id)
    rows = await session.exec(query.order_by(col(Notification.id).desc()).limit(size + 1))
    return [NotificationRecord.model_validate(r) for r in rows]


async def mark_read(sessions: SessionFactory, user_id: int, ids: list[int] | None) -> int:
    """Mark the caller's unread notifications read (all of them when `ids` is None); returns
    how many changed. Ids of other users' notifications are ignored."""
    query = update(Notification).where(
        col(Notification.user_id) == user_id, col(Notification.read_at).is_(None)
    )
    if ids is not None:
        query = query.where(col(Notification.id).in_(ids))
    async with session_scope(sessions) as session:
        result = await session.exec(query.values(read_at=utcnow()))
        return int(result.rowcount)
