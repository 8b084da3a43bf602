"""users.token_key: tokens name their account, not merely its id

Revision ID: 9c3f5a1e2d47
Revises: 4b1e0c9d7a55
Create Date: 2026-12-02 21:10:00.000000

Each existing account gets its own random key. Tokens issued before carry no key and stop
working: their holders sign in again.
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c3f5a1e2d47"
down_revision: str | None = "4b1e0c9d7a55"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

users = sa.table("users", sa.column("id", sa.Integer), sa.column("token_key", sa.String))


def upgrade() -> None:
    op.add_column("users", sa.Column("token_key", sa.String(length=32), nullable=True))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        key = secrets.token_urlsafe(16)
        connection.execute(users.update().where(users.c.id == user_id).values(token_key=key))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("token_key", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_key")
