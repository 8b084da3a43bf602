"""The enumerations of the schema: the very enums the resolvers use, registered with Strawberry.

Import names from here in `graph/` so that registration always happens first.
"""

from __future__ import annotations

import strawberry

from models.tables import AlertCondition, NotificationKind, OrderSide, OrderStatus, OrderType
from resolvers.auth import AuthErrorCode
from trading.orders import CancelFailure, RejectReason

for _enum, _description in (
    (AuthErrorCode, "Why registering or signing in failed."),
    (OrderSide, "Buy or sell."),
    (OrderType, "MARKET fills at once at the quote; LIMIT rests until the price crosses."),
    (OrderStatus, "Where an order is in its life."),
    (RejectReason, "Why an order was not accepted."),
    (CancelFailure, "Why an order could not be cancelled."),
    (AlertCondition, "Fire when the price trades at or above / at or below the threshold."),
    (NotificationKind, "What a notification is about."),
):
    strawberry.enum(_enum, description=_description)

__all__ = [
    "AlertCondition",
    "AuthErrorCode",
    "CancelFailure",
    "NotificationKind",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "RejectReason",
]
