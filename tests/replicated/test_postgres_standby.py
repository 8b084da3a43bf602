"""PostgreSQL's synchronous standby (scripts/replicated/postgres.sh), through the app's own
engine on the multi-host DATABASE_URL: a commit is on the standby; losing the standby does not
stop writes, which go on unprotected (what /readyz and trado_database_sync_standbys read) until
it is back; losing the primary and promoting the standby keeps every acknowledged write, and a
new session reaches the promoted node. The tests run in order (-p no:randomly) and leave the
topology healthy (the lost node rebuilt as a standby)."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import engine_url, make_engine, sync_standbys
from settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "replicated" / "postgres.sh"
WRITE_BOUND = 3.0  # seconds a write may take while the guard relaxes synchronous replication


def postgres_sh(*args: str) -> str:
    done = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode in (0, 3), done.stdout + done.stderr
    return done.stdout


@pytest.fixture
async def engine(replicated_env: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    settings = Settings(database_url=replicated_env["DATABASE_URL"])
    engine = make_engine(settings)
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE IF NOT EXISTS replication_probe (id text PRIMARY KEY)")
        )
    yield engine
    await engine.dispose()


async def write(engine: AsyncEngine) -> tuple[str, int]:
    """One committed row, and the port of the node that took it."""
    row = uuid.uuid4().hex
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO replication_probe VALUES (:id)"), {"id": row})
        port = (await connection.execute(text("SELECT current_setting('port')"))).scalar_one()
    return row, int(port)


async def eventually(check: Callable[[], Awaitable[bool]], within: float) -> float:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < within, f"not within {within}s"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def on_node(replicated_env: dict[str, str], port: int, row: str) -> bool:
    url = engine_url(replicated_env["DATABASE_URL"])
    connection = await asyncpg.connect(
        host="127.0.0.1", port=port, user=url.username, password=url.password, database="trado"
    )
    try:
        query = "SELECT count(*) FROM replication_probe WHERE id = $1"
        found = await connection.fetchval(query, row)
    finally:
        await connection.close()
    return bool(found)


def other(port: int) -> int:
    return 25533 if port == 25532 else 25532


async def test_a_commit_is_on_the_standby(
    engine: AsyncEngine, replicated_env: dict[str, str]
) -> None:
    assert await sync_standbys(engine) == 1
    row, primary = await write(engine)
    # synchronous_commit=on: flushed on the standby at the ack; replayed (visible) just after
    await eventually(lambda: on_node(replicated_env, other(primary), row), within=2)


async def test_losing_the_standby_does_not_stop_writes(engine: AsyncEngine) -> None:
    postgres_sh("kill", "standby")
    started = time.monotonic()
    await write(engine)
    took = time.monotonic() - started
    print(f"a write right after the standby's kill -9 took {took:.3f}s")
    assert took < WRITE_BOUND
    await eventually(lambda: unprotected(engine), within=WRITE_BOUND)
    assert "writes UNPROTECTED" in postgres_sh("status")

    postgres_sh("up")  # the standby back, catching up
    back = await eventually(lambda: protected(engine), within=30)
    print(f"protected again {back:.3f}s after `up` returned")
    await write(engine)


async def test_failover_keeps_acknowledged_writes(
    engine: AsyncEngine, replicated_env: dict[str, str]
) -> None:
    row, primary = await write(engine)
    postgres_sh("kill", "primary")
    postgres_sh("promote")
    started = time.monotonic()
    # the pool's connections went with the primary: its pre-ping finds them dead, and a new
    # connection by the multi-host URL skips the lost node and reaches the read-write one
    _, promoted = await write(engine)
    print(f"first write on the promoted node {time.monotonic() - started:.3f}s after promote")
    assert promoted == other(primary)
    assert await on_node(replicated_env, promoted, row)  # acknowledged before the kill: kept

    status = postgres_sh("up")  # heal: the lost node rebuilt as a standby of the promoted one
    assert f"127.0.0.1:{promoted} up   primary" in status
    await eventually(lambda: protected(engine), within=30)


async def unprotected(engine: AsyncEngine) -> bool:
    return await sync_standbys(engine) == 0


async def protected(engine: AsyncEngine) -> bool:
    return await sync_standbys(engine) == 1
