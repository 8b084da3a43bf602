"""normalise stored emails (NFKC, lower-case, IDNA domain)

Revision ID: 4b1e0c9d7a55
Revises: 8f6149831ca2
Create Date: 2026-12-02 21:00:00.000000

Addresses used to be stored trimmed and lower-cased only; sign-in now looks them up in
their NFKC form, with an internationalised domain in its ASCII (xn--) form. A stored address
that differs from that form is rewritten to it, so its owner can still sign in. Left as it
is (and logged): one whose new form another account already has, and one that cannot be
written in ASCII (a non-ASCII local part); such an account needs an administrator. The
normalisation is written out here rather than imported, so this revision keeps doing what it
did when the application's code moves on. Irreversible: downgrade leaves the addresses.
"""

import logging
import unicodedata
from collections.abc import Sequence

import idna
import sqlalchemy as sa
from alembic import op

revision: str = "4b1e0c9d7a55"
down_revision: str | None = "8f6149831ca2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")
users = sa.table("users", sa.column("id", sa.Integer), sa.column("email", sa.String))


def _normal_form(email: str) -> str | None:
    """The address as sign-in now looks it up, or None when it has no ASCII form."""
    local, _, domain = unicodedata.normalize("NFKC", email).strip().lower().rpartition("@")
    if not local.isascii():
        return None
    try:
        domain = domain if domain.isascii() else idna.encode(domain, uts46=True).decode()
    except idna.IDNAError:
        return None
    return f"{local}@{domain.lower()}"


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(users.c.id, users.c.email)).all()
    taken = {email for _, email in rows}
    for user_id, email in rows:
        normal = _normal_form(email)
        if normal == email:
            continue
        if normal is None or normal in taken:
            log.warning("user %s: email left as stored (no free ASCII form)", user_id)
            continue
        connection.execute(users.update().where(users.c.id == user_id).values(email=normal))
        taken.add(normal)


def downgrade() -> None:
    pass
