"""The real services that `scripts/services.sh up` starts, and a check that each answers."""

from __future__ import annotations

import asyncpg
from redis.asyncio import Redis

from bench import services
from bench.services import ServicesMissing
from streaming.log.kafka import KafkaTickLog

__all__ = ["ServicesMissing", "asyncpg_url", "check_services", "read_services"]

HOW_TO_START = "start them with `scripts/services.sh up` (or run the whole suite with `make test`)"


def read_services() -> dict[str, str]:
    """The services' settings, from `.services/services.env` (or `TRADO_SERVICES_ENV`)."""
    return services.read_services(HOW_TO_START)


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
