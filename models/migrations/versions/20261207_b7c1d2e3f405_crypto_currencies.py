"""instrument.currency: up to 8 characters (crypto assets such as USDT, FDUSD)

Revision ID: b7c1d2e3f405
Revises: 5d2e8a7c1b90
Create Date: 2026-12-07 17:00:00.000000

Widening keeps every stored code; narrowing back refuses while a longer one is stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7c1d2e3f405"
down_revision: str | None = "5d2e8a7c1b90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instrument") as batch:
        batch.alter_column("currency", existing_type=sa.String(length=3), type_=sa.String(length=8))


def downgrade() -> None:
    with op.batch_alter_table("instrument") as batch:
        batch.alter_column("currency", existing_type=sa.String(length=8), type_=sa.String(length=3))
