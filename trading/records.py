"""Read models of orders and notifications: the table's own fields (`models.tables`'
`*Fields` bases) plus a known id, frozen, built from a row with `model_validate(row)`. What
the API and the event stream see; the row stays inside its session."""

from __future__ import annotations

from sqlmodel._compat import SQLModelConfig  # the config type SQLModel models declare

from models.tables import NotificationFields, OrderFields

READ_MODEL = SQLModelConfig(frozen=True, from_attributes=True)


class OrderRecord(OrderFields):
    model_config = READ_MODEL
    id: int


class NotificationRecord(NotificationFields):
    model_config = READ_MODEL
    id: int
