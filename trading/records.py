"""Read models of orders and notifications: the table's own fields (`models.tables`'
`*Fields` bases) plus a known id, frozen, built from a row with `model_validate(row)`. What
the API and the event stream see; the row stays inside its session.

Each read model declares `model_config` as a dict literal: SQLModel types that attribute with
its private `SQLModelConfig` (pydantic's `ConfigDict` plus table keys), which a literal
satisfies without importing it, and SQLModel drops pydantic's config keywords in a class
statement (`class X(Fields, frozen=True)`)."""

from __future__ import annotations

from models.tables import NotificationFields, OrderFields


class OrderRecord(OrderFields):
    model_config = {"frozen": True, "from_attributes": True}
    id: int


class NotificationRecord(NotificationFields):
    model_config = {"frozen": True, "from_attributes": True}
    id: int
