from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from graph.context import Info
from graph.query_cost import LOADER, cost
from graph.scalars import BigInt, event_sequence_field
from graph.types.enums import AlertCondition, NotificationKind
from graph.types.instrument import Instrument, at_tick_precision, load_instrument
from graph.types.pagination import Connection
from graph.types.records import from_record
from trading.alerts import AlertRecord
from trading.records import NotificationRecord


@strawberry.type(description="Tells you once when a price crosses a threshold.")
class PriceAlert:
    id: strawberry.ID
    condition: AlertCondition
    active: bool = strawberry.field(description="False once it has fired.")
    triggered_at: datetime | None
    created_at: datetime
    instrument_id: strawberry.Private[int]
    at: strawberry.Private[Decimal]
    triggered_at_price: strawberry.Private[Decimal | None]

    @strawberry.field(metadata=cost(LOADER))
    async def instrument(self, info: Info) -> Instrument:
        return await load_instrument(info, self.instrument_id)

    @strawberry.field(metadata=cost(LOADER))
    async def threshold(self, info: Info) -> Decimal:
        threshold = await at_tick_precision(info, self.instrument_id, self.at)
        assert threshold is not None
        return threshold

    @strawberry.field(metadata=cost(LOADER))
    async def triggered_price(self, info: Info) -> Decimal | None:
        return await at_tick_precision(info, self.instrument_id, self.triggered_at_price)

    @classmethod
    def of(cls, r: AlertRecord) -> PriceAlert:
        return from_record(cls, r, at=r.threshold, triggered_at_price=r.triggered_price)


@strawberry.type(description="Why an alert was not created.")
class AlertError:
    code: str = strawberry.field(description="UNKNOWN_SYMBOL, INVALID_THRESHOLD, TOO_MANY_ALERTS")
    message: str


PriceAlertResult = Annotated[PriceAlert | AlertError, strawberry.union("PriceAlertResult")]


@strawberry.type(description="Something that happened to your orders or alerts.")
class Notification:
    id: strawberry.ID
    kind: NotificationKind
    message: str
    order_id: strawberry.ID | None
    alert_id: strawberry.ID | None
    created_at: datetime
    read_at: datetime | None
    event_sequence: BigInt | None = event_sequence_field()

    @classmethod
    def of(cls, r: NotificationRecord, event_sequence: int | None = None) -> Notification:
        def ident(value: int | None) -> strawberry.ID | None:
            return None if value is None else strawberry.ID(str(value))

        sequence = None if event_sequence is None else BigInt(event_sequence)
        return from_record(
            cls,
            r,
            event_sequence=sequence,
            order_id=ident(r.order_id),
            alert_id=ident(r.alert_id),
        )


NotificationConnection = Connection[Notification]
