"""The real services that `scripts/services.sh up` starts, and a check that each answers."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from settings import ROOT
from streaming.log.kafka import KafkaTickLog

SERVICES_ENV = Path(os.environ.get("TRADO_SERVICES_ENV", ROOT / ".services" / "services.env"))
HOW_TO_START = "start them with `scripts/services.sh up` (or run the whole suite with `make test`)"


class ServicesMissing(RuntimeError):
    pass


def read_services() -> dict[str, str]:
    if not SERVICES_ENV.exists():
        raise ServicesMissing(
            f"no {SERVICES_ENV}: PostgreSQL, Redis and Kafka are not up; {HOW_TO_START}"
        )
    values = {}
    for line in SERVICES_ENV.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            values[name.strip()] = value.strip()
    for name in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        if not values.get(name):
            raise ServicesMissing(f"{SERVICES_ENV} has no {name}; {HOW_TO_START}")
    return values


def asyncpg_url(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def check_services(values: dict[str, str]) -> None:
    """Fail loudly, naming the service, when one does not answer."""
    try:
        connection = await asyncpg.connect(asyncpg_url(values["DATABASE_URL"]), timeout=5)
        await connection.close()
    except (OSError, asyncpg.PostgresError) as error:
        raise ServicesMissing(f"PostgreSQL does not answer ({error}); {HOW_TO_START}") from None
    redis = Redis.from_url(values["REDIS_URL"], socket_connect_timeout=3)
    try:
        await redis.ping()
    except Exception as error:
        raise ServicesMissing(f"Redis does not answer ({error}); {HOW_TO_START}") from None
    finally:
        await redis.aclose()
    kafka = KafkaTickLog(values["KAFKA_BOOTSTRAP_SERVERS"], topic="unused")
    try:
        await kafka.ping()
    except Exception as error:
        raise ServicesMissing(f"Kafka does not answer ({error}); {HOW_TO_START}") from None
    finally:
        await kafka.close()
