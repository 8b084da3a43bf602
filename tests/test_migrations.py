"""The Alembic migrations build exactly the schema the models describe, and carry existing
rows along."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from commands.migrate import alembic_config
from tests.utils.services import asyncpg_url


def diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_migrated_database_matches_the_models(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_stored_emails_are_normalised_and_every_account_gets_a_token_key(
    services: dict[str, str],
) -> None:
    """Rows written before the email and token-key revisions, migrated to head."""
    admin_url = asyncpg_url(services["DATABASE_URL"])
    name = f"trado_migrate_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = services["DATABASE_URL"].rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "8f6149831ca2")
        stored = [
            "ｆｕｌｌ@example.com",  # fullwidth: becomes full@example.com
            "kim@bücher.de",  # an internationalised domain: its xn-- form
            "taken@example.com",
            "ｔａｋｅｎ@example.com",  # its normal form is taken: left as it is
            "\u0430lice@example.com",  # a Cyrillic local part has no ASCII form: left
            "plain@example.com",
        ]
        connection = await asyncpg.connect(asyncpg_url(url))
        try:
            for email in stored:
                await connection.execute(
                    "INSERT INTO users (email, password_hash, is_admin, cash, created_at) "
                    "VALUES ($1, 'x', false, 0, now())",
                    email,
                )
            await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
            rows = await connection.fetch("SELECT email, token_key FROM users ORDER BY id")
        finally:
            await connection.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    assert [r["email"] for r in rows] == [
        "full@example.com",
        "kim@xn--bcher-kva.de",
        "taken@example.com",
        "ｔａｋｅｎ@example.com",
        "\u0430lice@example.com",
        "plain@example.com",
    ]
    keys = [r["token_key"] for r in rows]
    assert all(len(key) >= 22 for key in keys)
    assert len(set(keys)) == len(keys)
