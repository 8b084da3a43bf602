"""Fixtures: real PostgreSQL, Redis and Kafka for integration tests, isolated per test session,
and every backend of the cache, the pub/sub and the tick log for the tests that run over each.

Each session gets its own database (migrated), Redis key prefix and Kafka topic and group, so
runs never see each other's data. A missing service fails the run and says how to start it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from commands.migrate import upgrade
from settings import Settings
from streaming.cache import make_cache
from streaming.log import make_tick_log
from streaming.pubsub import PubSub, Retention, make_pubsub
from streaming.runtime import Runtime, open_runtime
from tests.utils.backends import CACHES, LOGS, PUBSUBS, opened
from tests.utils.kafka_server import PrivateKafka, private_kafka
from tests.utils.live import create_topic, isolated
from tests.utils.server import RunningServer, running_server
from tests.utils.services import ServicesMissing, asyncpg_url, check_services, read_services

RUN_ID = secrets.token_hex(4)

# Parameter values that choose a real service's backend (`cache`, `pubsub`, `tick_log`, and the
# tests that run once over SQLite and once over PostgreSQL).
SERVICE_PARAMS = frozenset({"redis", "kafka", "postgresql"})


def needs_services(item: pytest.Item) -> bool:
    """Whether a test reaches the real services: through the `services` fixture, or through a
    parameter that picks a service's backend (those fixtures look the services up lazily)."""
    if "services" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    return any(isinstance(value, str) and value in SERVICE_PARAMS for value in params)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the services, so the service-free tier (`make check`)
    deselects them by marker rather than by a list kept by hand; and start first the
    benchmark smoke run that stops a broker of its own (chaos: its outages are the longest
    wait of the benchmark stage, which would otherwise end with it running alone). The other
    tests keep their order: xdist's worksteal splits the parallel stage by it, and there a
    change of order put both fuzz runs on one worker (a minute longer)."""
    for item in items:
        if needs_services(item) and item.get_closest_marker("services") is None:
            item.add_marker(pytest.mark.services)
    items.sort(key=lambda item: not (stops_a_broker(item) and item.get_closest_marker("bench")))


def stops_a_broker(item: pytest.Item) -> bool:
    return "kafka" in getattr(item, "fixturenames", ())


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
        # every test client comes from 127.0.0.1: the per-address limits would add them all up
        login_attempts_per_address=1_000_000,
        registrations_per_address=1_000_000,
    )


def embedded_mode(directory: Path, **values: Any) -> Settings:
    """Embedded mode with its SQLite database in `directory`; `values` set anything else (e.g.
    `graphiql=True`: the test environment, like production, serves no developer tools)."""
    return make_settings(
        database_url=f"sqlite+aiosqlite:///{directory / 'trado.db'}",
        simulator_seed=7,
        simulator_ticks_per_second=500,
        **values,
    )


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    return embedded_mode(tmp_path)


@pytest.fixture
async def kafka(
    tmp_path: Path,
    services: dict[str, str],  # noqa: ARG001 (first: the private broker runs the shared one's jars)
) -> AsyncIterator[PrivateKafka]:
    """A Kafka broker of the test's own, for a test that stops it (the shared one is never
    stopped)."""
    async with private_kafka(tmp_path / "kafka") as started:
        yield started


@pytest.fixture(name="runtime")
async def embedded_runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """An embedded runtime (SQLite, memory backends) with no feed: the test sends the ticks."""
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'trado.db'}", run_feed_in_process=False
    )
    async with open_runtime(settings) as runtime:
        yield runtime


@pytest.fixture
async def embedded_server(embedded_settings: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(embedded_settings) as server:
        yield server


# One test body over every backend: `cache`, `pubsub` and `tick_log` are parametrised by
# backend id, each made by the app's own factory from settings that choose it; a test narrows
# itself to one with e.g. `@pytest.mark.parametrize("cache", ["redis"], indirect=True)`.

BACKEND_FIXTURES = ("cache", "pubsub", "tick_log")


@pytest.fixture
def service_settings(request: pytest.FixtureRequest) -> Settings | None:
    """Full mode on a fresh Redis prefix, Kafka topic and group when the test runs over a
    real service's backend; None for memory only (no service asked for). Not async: it looks
    up the async fixtures behind `full_settings` only when needed."""
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params if callspec is not None else {}
    if all(params.get(name, "memory") == "memory" for name in BACKEND_FIXTURES):
        return None
    full_settings: Settings = request.getfixturevalue("full_settings")
    return isolated(full_settings)


@asynccontextmanager
async def opened_backend(
    request: pytest.FixtureRequest,
    service_settings: Settings | None,
    make: Callable[[Settings], Any],
    classes: dict[str, type],
    **changes: Any,
) -> AsyncIterator[Any]:
    """The backend `request.param`, made by the app's factory `make` from settings that
    choose it (with `changes`), opened for the block."""
    kind = request.param
    if kind == "memory":
        settings = make_settings(**changes)  # embedded mode: no Redis, no Kafka
    else:
        assert service_settings is not None
        settings = service_settings.model_copy(update=changes)
    if kind == "kafka":
        await create_topic(settings)  # 3 partitions, as `scripts/services.sh` makes them
    async with opened(make(settings), classes[kind]) as made:
        yield made


def backend_fixture(name: str, make: Callable[[Settings], Any], classes: dict[str, type]) -> Any:
    """The fixture `name`: parametrised by the ids of `classes`, it yields that backend."""

    @pytest.fixture(name=name, params=list(classes))
    async def fixture(
        request: pytest.FixtureRequest, service_settings: Settings | None
    ) -> AsyncIterator[Any]:
        async with opened_backend(request, service_settings, make, classes) as made:
            yield made

    return fixture


cache = backend_fixture("cache", make_cache, CACHES)
tick_log = backend_fixture("tick_log", make_tick_log, LOGS)


@pytest.fixture
def retention() -> Retention:
    """The pub/sub's history retention; a test sets its own with `parametrize("retention")`."""
    return Retention()


@pytest.fixture(params=list(PUBSUBS))
async def pubsub(
    request: pytest.FixtureRequest, service_settings: Settings | None, retention: Retention
) -> AsyncIterator[PubSub]:
    async with opened_backend(
        request,
        service_settings,
        make_pubsub,
        PUBSUBS,
        history_max_messages=retention.max_messages,
        history_max_age_seconds=retention.max_age_seconds,
    ) as made:
        yield made
