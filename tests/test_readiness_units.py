"""Pure logic of readiness and outages: which exceptions mean "a backend is unavailable", how
consecutive failures flip a backend, and the hub's view of the live stream's freshness."""

from __future__ import annotations

import asyncio

import pytest
from graphql import GraphQLError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from graph.errors import ServiceUnavailable, is_expected, unavailable_backend
from models.db import DatabaseUnavailable
from streaming.hub import Hub
from streaming.pubsub.memory import MemoryPubSub
from streaming.readiness import BackendHealth


class AsyncpgLike(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def wrapped(error: BaseException) -> BaseException:
    """As it reaches the schema: raised while handling, then located by graphql-core."""
    try:
        try:
            raise error
        except BaseException as inner:
            raise RuntimeError("while loading the user") from inner
    except RuntimeError as outer:
        return GraphQLError("boom", original_error=outer)


@pytest.mark.parametrize(
    ("error", "backend"),
    [
        (DatabaseUnavailable("cannot connect"), "database"),
        (PoolTimeoutError("QueuePool limit of size 2 overflow 10 reached"), "database"),
        (OperationalError("SELECT 1", None, Exception("gone")), "database"),
        (
            DBAPIError("SELECT 1", None, Exception("closed"), connection_invalidated=True),
            "database",
        ),
        (DBAPIError("SELECT 1", None, AsyncpgLike("57P01")), "database"),  # admin shutdown
        (DBAPIError("SELECT 1", None, AsyncpgLike("08006")), "database"),  # connection failure
        (RedisConnectionError("Connection refused"), "cache"),
        (RedisTimeoutError("Timeout reading from socket"), "cache"),
        (ServiceUnavailable("database", 5), "database"),
        (IntegrityError("INSERT", None, AsyncpgLike("23505")), None),  # the database answered
        (DBAPIError("SELECT", None, AsyncpgLike("42P01")), None),  # a bug: no such table
        (ResponseError("WRONGTYPE"), None),  # Redis answered
        (ValueError("bad"), None),
        (ConnectionRefusedError(111, "refused"), None),  # whose? only the engine can say
    ],
)
def test_which_errors_mean_a_backend_is_unavailable(
    error: BaseException, backend: str | None
) -> None:
    assert unavailable_backend(error) == backend
    assert unavailable_backend(wrapped(error)) == backend


def test_service_unavailable_is_an_expected_error_in_the_schemas_words() -> None:
    error = ServiceUnavailable("cache", 9)
    assert is_expected(GraphQLError(error.message, original_error=error))
    assert error.extensions == {"code": "SERVICE_UNAVAILABLE", "retryAfterSeconds": 9}
    assert error.message.startswith("The cache (Redis) cannot be reached right now")


def test_a_backend_that_answered_is_down_only_after_consecutive_failures() -> None:
    health = BackendHealth()
    health.record(None)
    health.record("TimeoutError")
    assert health.describe(failures_before_down=2) == "ok"  # one blip
    health.record(None)
    health.record("TimeoutError")
    assert health.describe(2) == "ok", "a success in between starts the count again"
    health.record("ConnectionRefusedError: refused")
    assert health.describe(2) == "down: ConnectionRefusedError: refused (2 failed checks in a row)"
    health.record(None)
    assert health.describe(2) == "ok"


def test_a_backend_that_never_answered_is_down_at_once() -> None:
    health = BackendHealth()
    health.record("ConnectionRefusedError")
    assert health.is_down(failures_before_down=3)


async def test_the_hub_times_quotes_only_while_it_subscribes_a_quote_channel() -> None:
    pubsub = MemoryPubSub()
    await pubsub.connect()
    hub = Hub(pubsub)
    await hub.start()
    try:
        assert hub.newest_quote_age() is None
        async with hub.subscribe(["candle:AAPL:ONE_MINUTE"]):
            assert hub.newest_quote_age() is None, "candles are not quotes"
        async with hub.subscribe(["quote:AAPL"]) as mailbox:
            await asyncio.sleep(0.2)
            waiting = hub.newest_quote_age()
            assert waiting is not None
            assert waiting >= 0.15, "counted from the subscription"
            await pubsub.publish("quote:AAPL", b"{}")
            await mailbox.get()
            fresh = hub.newest_quote_age()
            assert fresh is not None
            assert fresh < 0.1
        assert hub.newest_quote_age() is None
    finally:
        await hub.stop()
        await pubsub.close()
