"""day_stats: each symbol's current-session statistics and halt state

Revision ID: 5d2e8a7c1b90
Revises: 9c3f5a1e2d47
Create Date: 2026-12-03 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d2e8a7c1b90"
down_revision: str | None = "9c3f5a1e2d47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "day_stats",
        sa.Column("symbol", sa.String(length=32), primary_key=True),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("previous_close", sa.Numeric(28, 8), nullable=True),
        *(sa.Column(name, sa.Numeric(28, 8), nullable=False) for name in _EXACT),
        sa.Column("halted", sa.Boolean(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
    )


_EXACT = ("open", "high", "low", "last", "volume", "turnover")


def downgrade() -> None:
    op.drop_table("day_stats")
