"""The money paths on SQLite (embedded mode): the same functions, serialised per user."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from models.tables import OrderSide, OrderStatus, OrderType
from resolvers.auth import Session, register
from resolvers.portfolio import portfolio
from resolvers.records import OrderRecord
from resolvers.trading import OrderRequest, cancel_order, match_crossing_orders, place_order
from runtime import Runtime, open_runtime
from streaming.channels import quote_key
from streaming.tick import Tick
from tests.conftest import make_settings


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'trado.db'}", run_feed_in_process=False
    )
    async with open_runtime(settings) as runtime:
        yield runtime


def tick(symbol: str, bid: str, ask: str, sequence: int) -> Tick:
    now = datetime.now(UTC)
    return Tick(symbol, Decimal(bid), Decimal(bid), Decimal(ask), Decimal(1), sequence, now, now)


async def test_limit_orders_rest_match_and_cancel_on_sqlite(runtime: Runtime) -> None:
    account = await register(runtime.sessions, runtime.settings, "e@example.com", "pass-word-42")
    assert isinstance(account, Session)
    user = account.user
    await runtime.cache.set(quote_key("AAPL"), tick("AAPL", "250.00", "250.02", 1).to_json())

    def limit(price: str) -> OrderRequest:
        return OrderRequest("AAPL", OrderSide.BUY, OrderType.LIMIT, Decimal(100), Decimal(price))

    results = await asyncio.gather(
        *(place_order(runtime.sessions, runtime.cache, runtime.pubsub, user, limit("240"))
          for _ in range(8))
    )  # fmt: skip
    placed = [r for r in results if isinstance(r, OrderRecord)]
    assert len(placed) == 4  # 4 x 24,000 reserved of 100,000
    value = await portfolio(runtime.sessions, runtime.cache, user.id)
    assert (value.cash, value.reserved_cash) == (Decimal(4000), Decimal(96000))

    cancelled = await cancel_order(runtime.sessions, runtime.pubsub, user, placed[0].id)
    assert isinstance(cancelled, OrderRecord)
    assert cancelled.status == OrderStatus.CANCELLED
    outcomes = await match_crossing_orders(
        runtime.sessions, runtime.pubsub, tick("AAPL", "239.90", "239.95", 2)
    )
    assert [o.filled for o in outcomes] == [True, True, True]
    value = await portfolio(runtime.sessions, runtime.cache, user.id)
    assert value.reserved_cash == 0
    assert value.cash == Decimal(100000) - 3 * Decimal("23995")
    assert [(p.symbol, p.quantity) for p in value.positions] == [("AAPL", Decimal(300))]
