"""/readyz against the real PostgreSQL, Redis and Kafka: while one of them is down or frozen,
while ticks stop and resume, and under a connection storm."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from commands.migrate import load_instruments
from settings import Settings
from streaming.cache.redis import RedisCache
from streaming.channels import quote_channel
from streaming.pubsub.redis import RedisPubSub
from streaming.stages.quotes import QuoteStage
from streaming.tick import Tick
from tests.api.conftest import Api, new_account
from tests.utils.graphql_ws import graphql_ws
from tests.utils.live import isolated, listed, make_tick, symbol_for, wait_subscribed
from tests.utils.redis_server import PrivateRedis
from tests.utils.server import running_server
from tests.utils.services import asyncpg_url

FAST_CHECKS: dict[str, Any] = {
    "readiness_check_interval_seconds": 0.2,
    "readiness_check_timeout_seconds": 1.0,
    "readiness_failures_before_down": 2,
}
ME = "{ me { id email } }"


async def readiness(base_url: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as client:
        return await client.get("/readyz")


async def wait_for_readiness(
    base_url: str, wanted: Callable[[httpx.Response], bool], seconds: float = 20
) -> tuple[httpx.Response, float]:
    """Poll /readyz, as a load balancer would, until `wanted` holds; the answer and how long
    it took. Fails the test when time runs out."""
    started = time.monotonic()
    while True:
        response = await readiness(base_url)
        if wanted(response):
            return response, time.monotonic() - started
        assert time.monotonic() - started < seconds, f"still {response.text} after {seconds}s"
        await asyncio.sleep(0.1)


def is_ready(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json()["status"] != "unavailable"


def is_unavailable(response: httpx.Response) -> bool:
    return response.status_code == 503 and response.json()["status"] == "unavailable"


def redis_down_for_both(response: httpx.Response) -> bool:
    backends = response.json()["backends"]
    redis_down = all(backends[name].startswith("down: ") for name in ("cache", "pubsub"))
    return is_unavailable(response) and redis_down


def live_state(wanted: str) -> Callable[[httpx.Response], bool]:
    return lambda response: response.json()["live"]["state"] == wanted


async def test_ready_with_every_real_service(full_settings: Settings) -> None:
    async with running_server(isolated(full_settings)) as server:
        response = await readiness(server.http)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["backends"] == {"database": "ok", "cache": "ok", "pubsub": "ok", "log": "ok"}
    # No feed here and a fresh key prefix: every backend answers, but no tick was ever seen.
    assert body["status"] == "degraded"
    assert body["live"] == {
        "newest_tick_age_seconds": None,
        "state": "none yet",
        "source": "cache",
        "stale_after_seconds": 5.0,
    }


async def test_redis_down_then_back(full_settings: Settings, tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path)
    await redis.start()
    settings = full_settings.model_copy(update={"redis_url": redis.url, **FAST_CHECKS})
    try:
        async with running_server(settings) as server:
            assert is_ready(await readiness(server.http))

            await redis.stop()
            # cache and pub/sub are checked each on its own connection: one may see the loss
            # a check before the other
            down, _ = await wait_for_readiness(server.http, redis_down_for_both)
            backends = down.json()["backends"]
            assert backends["database"] == backends["log"] == "ok"

            async with httpx.AsyncClient(base_url=server.http) as client:
                query = {"query": '{ quote(symbol: "AAPL") { price } }'}
                answer = await client.post("/graphql", json=query)
            assert answer.status_code == 200
            [error] = answer.json()["errors"]
            assert error["message"].startswith("The cache (Redis) cannot be reached right now")
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"

            await redis.start()  # same port: the app must reconnect by itself
            await wait_for_readiness(server.http, is_ready)
    finally:
        await redis.stop()


async def test_a_missing_sync_standby_degrades_readiness(full_settings: Settings) -> None:
    """The single-node database has no standby: with one asked for, writes are unprotected,
    which /readyz says without failing (the replicated tests see it come and go)."""
    settings = full_settings.model_copy(update={"database_sync_standbys": 1})
    async with running_server(isolated(settings)) as server:
        response = await readiness(server.http)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database_replication"] == {
        "state": "standby missing: writes unprotected",
        "sync_standbys": 0,
        "expected": 1,
    }


async def test_database_unreachable_is_reported(full_settings: Settings) -> None:
    settings = full_settings.model_copy(
        update={"database_url": "postgresql+asyncpg://trado:x@127.0.0.1:1/trado"}
    )
    async with running_server(settings) as server:
        response = await readiness(server.http)
    assert response.status_code == 503
    backends = response.json()["backends"]
    assert backends["database"].startswith("down: DatabaseUnavailable")
    assert backends["cache"] == backends["pubsub"] == backends["log"] == "ok"


async def test_kafka_unreachable_is_reported(full_settings: Settings) -> None:
    settings = full_settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    async with running_server(settings) as server:
        response = await readiness(server.http)
    assert response.status_code == 503
    assert response.json()["backends"]["log"].startswith("down: ")


@asynccontextmanager
async def silent_listener() -> AsyncIterator[str]:
    """host:port of a socket that accepts connections and never answers, as the kernel does
    for a broker stopped with SIGSTOP."""
    accepted: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_frozen_kafka_is_not_ready(full_settings: Settings) -> None:
    """A broker that accepts connections but answers nothing times out: never "ok"."""
    async with silent_listener() as address:
        settings = full_settings.model_copy(
            update={"kafka_bootstrap_servers": address, **FAST_CHECKS}
        )
        async with running_server(settings) as server:
            first = await readiness(server.http)
            await asyncio.sleep(2)  # several more rounds: it stays down
            later = await readiness(server.http)
    for response in (first, later):
        assert response.status_code == 503
        assert response.json()["backends"]["log"].startswith("down: "), response.text
        assert "no answer within 1s" in response.json()["backends"]["log"]


class TickWriter:
    """Writes ticks as the bridge's quote stage does (cache, stamp, pub/sub) until paused."""

    def __init__(self, settings: Settings, symbol: str) -> None:
        assert settings.redis_url
        self.cache = RedisCache(settings.redis_url, prefix=settings.redis_key_prefix)
        self.pubsub = RedisPubSub(settings.redis_url, prefix=settings.redis_key_prefix)
        self.stage = QuoteStage(self.cache, self.pubsub)
        self.symbol = symbol
        self.sequence = 0
        self.last_written = 0.0  # monotonic

    async def __aenter__(self) -> TickWriter:
        await self.cache.connect()
        await self.pubsub.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.pubsub.close()
        await self.cache.close()

    async def write_for(self, seconds: float, every: float = 0.1) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sequence += 1
            await self.stage.apply([make_tick(self.symbol, self.sequence)])
            self.last_written = time.monotonic()
            await asyncio.sleep(every)


async def stale_then_fresh(server_http: str, ticks: TickWriter, stale_after: float) -> float:
    """Ticks flow (fresh), stop (stale within twice the setting), resume (fresh at once).
    Seconds from the last tick to /readyz saying stale."""
    await ticks.write_for(1.0)
    fresh, _ = await wait_for_readiness(server_http, live_state("fresh"), seconds=5)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["status"] == "ready", fresh.text

    stale, _ = await wait_for_readiness(server_http, live_state("stale"), seconds=10)
    waited = time.monotonic() - ticks.last_written
    assert waited <= 2 * stale_after, f"stale only after {waited:.2f}s"
    assert stale.status_code == 200, "a stale stream degrades; it does not fail readiness"
    assert stale.json()["status"] == "degraded"
    assert stale.json()["live"]["newest_tick_age_seconds"] > stale_after

    resumed = asyncio.create_task(ticks.write_for(1.0))
    again, _ = await wait_for_readiness(server_http, live_state("fresh"), seconds=5)
    await resumed
    assert again.json()["status"] == "ready"
    return waited


async def test_stream_goes_stale_and_fresh_again_read_from_the_cache(
    full_settings: Settings,
) -> None:
    """No quote subscriber in the API process: freshness comes from the cache's stamp."""
    settings = isolated(full_settings).model_copy(
        update={"live_stale_after_seconds": 1.0, **FAST_CHECKS}
    )
    async with running_server(settings) as server, TickWriter(settings, "AAPL") as ticks:
        waited = await stale_then_fresh(server.http, ticks, 1.0)
        body = (await readiness(server.http)).json()
    assert body["live"]["source"] == "cache"
    print(f"stale {waited:.2f}s after the last tick (setting 1s, read from the cache)")


async def test_stream_goes_stale_and_fresh_again_seen_by_the_hub(full_settings: Settings) -> None:
    """A client subscribes quotes: freshness is what this process's hub received."""
    settings = isolated(full_settings).model_copy(
        update={"live_stale_after_seconds": 1.0, **FAST_CHECKS}
    )
    symbol = symbol_for("FRSH")
    await listed(settings, symbol)
    query = "subscription ($s: [String!]!) { quotes(symbols: $s) { symbol sequence } }"
    async with (
        running_server(settings) as server,
        TickWriter(settings, symbol) as ticks,
        graphql_ws(server.ws) as client,
    ):
        await client.subscribe("1", query, {"s": [symbol]})
        await wait_subscribed(settings, quote_channel(symbol))
        waited = await stale_then_fresh(server.http, ticks, 1.0)
        body = (await readiness(server.http)).json()
    assert body["live"]["source"] == "hub"
    print(f"stale {waited:.2f}s after the last tick (setting 1s, seen by the hub)")


async def test_a_stale_stream_can_be_made_to_fail_readiness(full_settings: Settings) -> None:
    settings = isolated(full_settings).model_copy(
        update={"live_stale_after_seconds": 1.0, "live_stale_fails_readiness": True, **FAST_CHECKS}
    )
    async with running_server(settings) as server:
        response = await readiness(server.http)
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"


async def test_a_connection_storm_does_not_flip_readiness(full_settings: Settings) -> None:
    """50 requests that each hold a pooled connection (the users table is locked), with a
    pool of 2: requests queue for the pool, but the database check has its own connection."""
    settings = full_settings.model_copy(update={"database_pool_size": 2, **FAST_CHECKS})
    await load_instruments(settings)
    async with (
        running_server(settings) as server,
        httpx.AsyncClient(base_url=server.http, timeout=60) as client,
    ):
        api = Api(client)
        account = await new_account(api, "storm")
        assert is_ready(await readiness(server.http))
        locker = await asyncpg.connect(asyncpg_url(settings.database_url))
        try:
            async with locker.transaction():
                await locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                storm = [asyncio.create_task(api.post(ME, token=account.token)) for _ in range(50)]
                answers = []
                for _ in range(20):  # 4 s of polling while the storm waits
                    answers.append(await readiness(server.http))
                    await asyncio.sleep(0.2)
                assert not any(task.done() for task in storm), "the storm was not held"
        finally:
            await locker.close()
        results = await asyncio.gather(*storm)
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert all(r.json()["backends"]["database"] == "ok" for r in answers)
    assert all(result.get("data", {}).get("me") for result in results), results[:3]


QUOTES = "subscription ($s: [String!]!) { quotes(symbols: $s) { symbol sequence } }"


async def write_quotes(settings: Settings, ticks: list[Tick]) -> None:
    """Latest quotes in the cache, as the bridge's quote stage writes them."""
    assert settings.redis_url
    cache = RedisCache(settings.redis_url, prefix=settings.redis_key_prefix)
    pubsub = RedisPubSub(settings.redis_url, prefix=settings.redis_key_prefix)
    await cache.connect()
    await pubsub.connect()
    try:
        await QuoteStage(cache, pubsub).apply(ticks)
    finally:
        await pubsub.close()
        await cache.close()


async def opening_symbols(url: str, symbols: list[str]) -> list[str]:
    """Subscribe quotes of `symbols`; the symbols of the opening quotes, in arrival order."""
    async with graphql_ws(url) as client:
        await client.subscribe("1", QUOTES, {"s": symbols})
        return [(await client.next_payload(30))["data"]["quotes"]["symbol"] for _ in symbols]


async def poll_until(base_url: str, stop: asyncio.Event) -> list[httpx.Response]:
    """/readyz every 0.1 s until `stop`."""
    answers = []
    while not stop.is_set():
        answers.append(await readiness(base_url))
        await asyncio.sleep(0.1)
    return answers


async def test_a_subscribe_storm_on_a_small_redis_pool_opens_every_stream_and_stays_ready(
    full_settings: Settings,
) -> None:
    """200 subscribers (10 of 20 symbols each) join at once while the API's Redis clients hold
    two connections each (REDIS_MAX_CONNECTIONS=2): every one gets its opening quotes, /readyz
    answers 200 with every backend ok throughout, and afterwards the API holds no more Redis
    connections than its two clients and the readiness probes (one each) may open."""
    settings = isolated(full_settings).model_copy(
        update={"redis_max_connections": 2, **FAST_CHECKS}
    )
    base = symbol_for("ST")
    symbols = [f"{base}{i:02d}" for i in range(20)]
    await listed(settings, *symbols)
    await write_quotes(settings, [make_tick(symbol, 1) for symbol in symbols])
    plans = [[symbols[(i + j * 3) % 20] for j in range(10)] for i in range(200)]
    async with running_server(settings) as server:
        stop = asyncio.Event()
        polls = asyncio.create_task(poll_until(server.http, stop))
        opened = await asyncio.gather(*(opening_symbols(server.ws, plan) for plan in plans))
        stop.set()
        answers = await polls
        redis = Redis.from_url(settings.redis_url or "")
        try:
            names = [c["name"] for c in await redis.client_list()]
        finally:
            await redis.aclose()
    assert [sorted(got) for got in opened] == [sorted(plan) for plan in plans]
    assert answers, "readiness was polled during the storm"
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert all(set(r.json()["backends"].values()) == {"ok"} for r in answers)
    mine = [name for name in names if name.startswith(settings.redis_key_prefix)]
    assert 0 < len(mine) <= 2 * 2 + 2, mine
