"""A long-lived subscription must not grow with the events it delivers (graphql-core 3.3
memoizes per-event field lists in a dict every event shares; `delivery/execution.py`)."""

from __future__ import annotations

import gc
from collections.abc import AsyncGenerator

import strawberry
from graphql.execution.collect_fields import CollectedFields
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from delivery.execution import TradoExecutor
from graph.schema import make_schema
from settings import Settings

EVENTS = 300


@strawberry.type
class Price:
    symbol: str
    last: str


@strawberry.type
class Query:
    ping: str = "pong"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def prices(self) -> AsyncGenerator[Price, None]:
        for n in range(EVENTS):
            yield Price(symbol="AAPL", last=str(n))


async def collected_fields_alive_after_events(executor: type) -> int:
    """How many memoized field collections are alive with the subscription still open."""
    schema = strawberry.Schema(
        query=Query, subscription=Subscription, execution_context_class=executor
    )
    stream = await schema.subscribe("subscription { prices { symbol last } }")
    assert not isinstance(stream, strawberry.types.ExecutionResult)
    delivered = 0
    async for result in stream:
        assert result.errors is None
        delivered += 1
        if delivered == EVENTS - 1:
            break  # still open: whatever it holds is alive
    gc.collect()
    alive = sum(isinstance(item, CollectedFields) for item in gc.get_objects())
    await stream.aclose()
    return alive


async def test_subscription_events_leave_nothing_behind() -> None:
    assert await collected_fields_alive_after_events(TradoExecutor) < 10


async def test_without_the_fix_each_event_is_kept() -> None:
    """The leak the executor exists for, so the test above cannot pass by accident."""
    kept = await collected_fields_alive_after_events(StrawberryGraphQLCoreExecutionContext)
    assert kept >= EVENTS - 1


def test_the_trado_schema_runs_every_operation_with_it() -> None:
    assert make_schema(Settings()).execution_context_class is TradoExecutor
