"""A token dies with its account (#14): when an account is deleted and a new one gets the
same numeric id (SQLite reuses the highest rowid; a PostgreSQL sequence can be reset), the old
token names no one. One test body over SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, delete

from models.db import (
    SessionFactory,
    create_tables,
    make_engine,
    make_session_factory,
    session_scope,
)
from models.tables import User
from resolvers.auth import Session, register, user_from_token
from settings import Settings
from tests.api.conftest import PASSWORD
from tests.conftest import make_settings


@dataclass
class Accounts:
    settings: Settings
    sessions: SessionFactory

    async def register(self) -> Session:
        email = f"reuse-{secrets.token_hex(4)}@example.com"
        made = await register(self.sessions, self.settings, email, PASSWORD)
        assert isinstance(made, Session), made
        return made

    @property
    def on_postgresql(self) -> bool:
        return self.settings.database_url.startswith("postgresql")

    async def delete_so_its_id_comes_again(self, user_id: int) -> None:
        """Delete the account; on PostgreSQL also set the id sequence back to its id (SQLite
        gives the highest rowid again by itself)."""
        async with session_scope(self.sessions) as session:
            await session.exec(delete(User).where(col(User.id) == user_id))
            if self.on_postgresql:
                connection = await session.connection()
                await connection.execute(
                    text("SELECT setval('users_id_seq', :id, false)"), {"id": user_id}
                )

    async def restore_sequence(self) -> None:
        if self.on_postgresql:
            async with session_scope(self.sessions) as session:
                connection = await session.connection()
                await connection.execute(
                    text("SELECT setval('users_id_seq', (SELECT max(id) FROM users))")
                )


@pytest.fixture(params=["sqlite", "postgresql"])
async def accounts(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> AsyncIterator[Accounts]:
    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'trado.db'}"
    settings = make_settings(database_url=sqlite if request.param == "sqlite" else database_url)
    engine = make_engine(settings)
    if request.param == "sqlite":
        await create_tables(engine)
    made = Accounts(settings, make_session_factory(engine))
    try:
        yield made
    finally:
        await made.restore_sequence()
        await engine.dispose()


async def test_a_deleted_accounts_token_does_not_pass_to_the_next_owner_of_its_id(
    accounts: Accounts,
) -> None:
    old = await accounts.register()
    assert await user_from_token(accounts.sessions, accounts.settings, old.token) == old.user
    await accounts.delete_so_its_id_comes_again(old.user.id)
    new = await accounts.register()
    assert new.user.id == old.user.id  # the id did come again
    assert await user_from_token(accounts.sessions, accounts.settings, old.token) is None
    assert await user_from_token(accounts.sessions, accounts.settings, new.token) == new.user
