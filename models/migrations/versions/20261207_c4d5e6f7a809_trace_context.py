"""orders.trace_context, price_alert.trace_context: the traceparent of the placing operation

Revision ID: c4d5e6f7a809
Revises: b7c1d2e3f405
Create Date: 2026-12-07 20:30:00.000000

A resting order or an alert keeps the W3C traceparent of the operation that set it up, when
that operation was traced, so the fill or the firing that comes later links to it. Nullable:
rows from before, and every row written with tracing off, have none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4d5e6f7a809"
down_revision: str | None = "b7c1d2e3f405"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("orders", "price_alert")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("trace_context", sa.String(length=55), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("trace_context")
