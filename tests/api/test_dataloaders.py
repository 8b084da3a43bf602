"""DataLoaders: a page of 50 orders with their instruments costs as many SQL statements as a
page of 5 (one for the caller, one for the page, one for all the instruments)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from graph.context import Context
from graph.schema import make_schema
from models.instrument_file import read_instrument_file
from models.tables import OrderSide, OrderType
from resolvers.auth import Session, register
from resolvers.orders import place_order
from settings import Settings
from streaming.runtime import Runtime, open_runtime
from trading.orders import OrderRequest

ORDERS = """query ($first: Int!) { orders(first: $first) {
  edges { node { id side quantity instrument { symbol name lotSize } } } } }"""


@pytest.fixture(scope="module")
# api_server: the server (and its migrated database) is up before this runtime opens.
async def runtime(full_settings: Settings, api_server: object) -> AsyncIterator[Runtime]:  # noqa: ARG001
    async with open_runtime(full_settings) as runtime:
        yield runtime


async def count_statements(runtime: Runtime, token: str, first: int) -> tuple[int, Any]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    schema = make_schema(runtime.settings)
    event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        result = await schema.execute(
            ORDERS, {"first": first}, context_value=Context(runtime, token)
        )
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)
    assert result.errors is None, result.errors
    return len(statements), result.data


async def test_fifty_orders_with_instruments_cost_a_constant_number_of_statements(
    runtime: Runtime, full_settings: Settings
) -> None:
    session = await register(runtime.sessions, full_settings, "loader@example.com", "pass-word-42")
    assert isinstance(session, Session), session
    user = session.user
    symbols = [r.symbol for r in read_instrument_file(full_settings.instruments_file)][:50]
    for symbol in symbols:
        await place_order(
            runtime.sessions,
            runtime.cache,
            runtime.pubsub,
            user,
            OrderRequest(symbol, OrderSide.BUY, OrderType.LIMIT, Decimal(1), Decimal("0.01")),
        )
    token = session.token
    small, _ = await count_statements(runtime, token, 5)
    large, data = await count_statements(runtime, token, 50)
    edges = data["orders"]["edges"]
    assert len(edges) == 50
    assert {e["node"]["instrument"]["symbol"] for e in edges} == set(symbols)
    assert small == large <= 3
