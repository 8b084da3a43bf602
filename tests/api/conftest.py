"""Fixtures of the API tests: one full-mode server (real PostgreSQL and Redis) per session,
a small GraphQL client, users, quotes written straight into the Redis quote cache, and candles
into the cache and onto their channels."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from commands.migrate import load_instruments
from settings import Settings
from streaming.cache.redis import RedisCache
from streaming.candles import Bar, Interval
from streaming.channels import candle_channel, candle_key, quote_key, trade_key
from streaming.pubsub import PubSub, make_pubsub
from streaming.tick import Tick
from tests.utils.server import RunningServer, running_server

PASSWORD = "correct-horse-7"


class GraphQLFailed(AssertionError):
    pass


@dataclass
class Api:
    client: httpx.AsyncClient

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        response = await self.client.post("/graphql", json=body, headers=headers)
        assert response.status_code in (200, 400), response.text
        result: dict[str, Any] = response.json()
        return result

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The data of a query that must succeed."""
        result = await self.post(query, variables, token)
        if result.get("errors"):
            raise GraphQLFailed(str(result["errors"]))
        data: dict[str, Any] = result["data"]
        return data

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The first error of a query that must fail."""
        result = await self.post(query, variables, token)
        assert result.get("errors"), result
        error: dict[str, Any] = result["errors"][0]
        return error


@dataclass(frozen=True)
class Account:
    email: str
    token: str
    id: str


REGISTER = """mutation ($email: String!, $password: String!) {
  register(email: $email, password: $password) {
    __typename
    ... on AuthPayload { token user { id email } }
    ... on AuthError { code message }
  }
}"""


async def new_account(api: Api, prefix: str = "user") -> Account:
    email = f"{prefix}-{secrets.token_hex(4)}@example.com"
    result = (await api.data(REGISTER, {"email": email, "password": PASSWORD}))["register"]
    assert result["__typename"] == "AuthPayload", result
    return Account(email, result["token"], result["user"]["id"])


@pytest.fixture(scope="session")
async def api_server(full_settings: Settings) -> AsyncIterator[RunningServer]:
    await load_instruments(full_settings)  # what `python -m commands.migrate` does
    async with running_server(full_settings) as server:
        yield server


@pytest.fixture(scope="session")
async def api(api_server: RunningServer) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=api_server.http, timeout=60) as client:
        yield Api(client)


@pytest.fixture
async def account(api: Api) -> Account:
    return await new_account(api)


class Quotes:
    """Writes latest quotes the way the bridge does (same cache, same keys, same JSON): each a
    trade, so it is the symbol's latest trade too."""

    def __init__(self, cache: RedisCache) -> None:
        self.cache = cache
        self.sequence = 0

    async def set(self, symbol: str, bid: str, ask: str, price: str | None = None) -> Tick:
        self.sequence += 1
        now = datetime.now(UTC)
        tick = Tick(
            symbol=symbol,
            price=Decimal(price or bid),
            bid=Decimal(bid),
            ask=Decimal(ask),
            volume=Decimal(100),
            sequence=self.sequence,
            exchange_ts=now,
            received_ts=now,
        )
        await self.cache.set_many(
            {quote_key(symbol): tick.to_json(), trade_key(symbol): tick.to_json()}
        )
        return tick

    async def clear(self, symbol: str) -> None:
        await self.cache.delete(quote_key(symbol))
        await self.cache.delete(trade_key(symbol))


@pytest.fixture(scope="session")
async def quotes(full_settings: Settings) -> AsyncIterator[Quotes]:
    assert full_settings.redis_url
    cache = RedisCache(full_settings.redis_url, prefix=full_settings.redis_key_prefix)
    await cache.connect()
    yield Quotes(cache)
    await cache.close()


def one_minute_bar(symbol: str, sequence: int, close: str, *, minute: int = 0) -> Bar:
    """A 1m bar of `symbol` starting `minute` minutes after 14:30 UTC on a fixed day."""
    price = Decimal(close)
    start = datetime(2026, 3, 4, 14, 30, tzinfo=UTC) + timedelta(minutes=minute)
    return Bar(symbol, Interval.M1, start, price, price, price, price, Decimal(10), sequence)


class Candles:
    """Forming bars into the Redis cache and bar updates onto their channels, the way the
    bridge's candle stage writes them (same key, channel and JSON)."""

    def __init__(self, cache: RedisCache, pubsub: PubSub) -> None:
        self.cache = cache
        self.pubsub = pubsub

    async def set(self, bar: Bar) -> None:
        await self.cache.set(candle_key(bar.symbol, bar.interval.value), bar.to_json())

    async def publish(self, symbol: str, *messages: Bar | bytes) -> None:
        """Publish bars (or raw messages) of `symbol` on its 1m channel, in order."""
        channel = candle_channel(symbol, Interval.M1.value)
        raw = [m.to_json() if isinstance(m, Bar) else m for m in messages]
        await self.pubsub.publish_many([(channel, message) for message in raw])


@pytest.fixture(scope="session")
async def candles(full_settings: Settings) -> AsyncIterator[Candles]:
    assert full_settings.redis_url
    cache = RedisCache(full_settings.redis_url, prefix=full_settings.redis_key_prefix)
    pubsub = make_pubsub(full_settings)
    await cache.connect()
    await pubsub.connect()
    yield Candles(cache, pubsub)
    await pubsub.close()
    await cache.close()
