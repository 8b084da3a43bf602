"""Fixtures: real PostgreSQL, Redis and Kafka for integration tests, isolated per test session.

Each session gets its own database (migrated), Redis key prefix and Kafka topic and group, so
runs never see each other's data. A missing service fails the run and says how to start it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from commands.migrate import upgrade
from settings import Settings
from tests.utils.server import RunningServer, running_server
from tests.utils.services import ServicesMissing, asyncpg_url, check_services, read_services

RUN_ID = secrets.token_hex(4)


@pytest.fixture(scope="session")
async def services() -> dict[str, str]:
    try:
        values = read_services()
        await check_services(values)
    except ServicesMissing as error:
        pytest.fail(str(error), pytrace=False)
    return values


@pytest.fixture(scope="session")
async def database_url(services: dict[str, str]) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    admin_url = services["DATABASE_URL"]
    name = f"trado_test_{RUN_ID}"
    admin = await asyncpg.connect(asyncpg_url(admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    await asyncio.to_thread(upgrade, url)
    yield url
    admin = await asyncpg.connect(asyncpg_url(admin_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def redis_prefix(services: dict[str, str]) -> AsyncIterator[str]:
    prefix = f"test-{RUN_ID}:"
    yield prefix
    redis = Redis.from_url(services["REDIS_URL"])
    try:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def make_settings(**values: Any) -> Settings:
    """Settings from explicit values only: neither the environment's `.env` nor defaults leak."""
    values.setdefault("environment", "test")
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="session")
def full_settings(services: dict[str, str], database_url: str, redis_prefix: str) -> Settings:
    """Full mode against the real services; feed and bridge off unless a test starts them."""
    return make_settings(
        database_url=database_url,
        redis_url=services["REDIS_URL"],
        redis_key_prefix=redis_prefix,
        kafka_bootstrap_servers=services["KAFKA_BOOTSTRAP_SERVERS"],
        kafka_ticks_topic=f"ticks-{RUN_ID}",
        kafka_bridge_group=f"bridge-{RUN_ID}",
        run_feed_in_process=False,
    )


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    return make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'trado.db'}",
        simulator_seed=7,
        simulator_ticks_per_second=500,
    )


@pytest.fixture
async def embedded_server(embedded_settings: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(embedded_settings) as server:
        yield server
