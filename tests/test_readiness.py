"""/readyz against the real PostgreSQL, Redis and Kafka, and while one of them is down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from settings import Settings
from tests.utils.redis_server import PrivateRedis
from tests.utils.server import running_server


async def readiness(base_url: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as client:
        return await client.get("/readyz")


async def eventually_ready(base_url: str, seconds: float = 20) -> bool:
    """Poll /readyz, as a load balancer would, until it says ready or time runs out."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if (await readiness(base_url)).status_code == 200:
            return True
        await asyncio.sleep(0.2)
    return False


async def test_ready_with_every_real_service(full_settings: Settings) -> None:
    async with running_server(full_settings) as server:
        response = await readiness(server.http)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "backends": {"database": "ok", "cache": "ok", "pubsub": "ok", "log": "ok"},
    }


async def test_redis_down_then_back(full_settings: Settings, tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path)
    await redis.start()
    settings = full_settings.model_copy(update={"redis_url": redis.url})
    try:
        async with running_server(settings) as server:
            assert (await readiness(server.http)).status_code == 200

            await redis.stop()
            down = await readiness(server.http)
            assert down.status_code == 503
            body = down.json()
            assert body["status"] == "unavailable"
            assert body["backends"]["cache"] != "ok"
            assert body["backends"]["pubsub"] != "ok"
            assert body["backends"]["database"] == "ok"
            assert body["backends"]["log"] == "ok"

            await redis.start()  # same port: the app must reconnect by itself
            assert await eventually_ready(server.http)
    finally:
        await redis.stop()


async def test_database_unreachable_is_reported(full_settings: Settings) -> None:
    settings = full_settings.model_copy(
        update={"database_url": "postgresql+asyncpg://trado:x@127.0.0.1:1/trado"}
    )
    async with running_server(settings) as server:
        response = await readiness(server.http)
    assert response.status_code == 503
    backends = response.json()["backends"]
    assert backends["database"] != "ok"
    assert backends["cache"] == backends["pubsub"] == backends["log"] == "ok"


async def test_kafka_unreachable_is_reported(full_settings: Settings) -> None:
    settings = full_settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    async with running_server(settings) as server:
        response = await readiness(server.http)
    assert response.status_code == 503
    assert response.json()["backends"]["log"] != "ok"
