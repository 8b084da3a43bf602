"""A money transaction whose connection is lost mid-way is done once all the same, by the
trading core itself (`trading.failover`): what a PostgreSQL failover does to the transactions
under way, made exact on a private cluster.

- Cut off in its COMMIT, after the commit was made: the cluster names a synchronous standby
  that does not exist, so a commit is written and then waits; its backend is terminated
  there, as a dying primary drops it (PostgreSQL: "the transaction has already committed
  locally"). A cancel must answer CANCELLED (not ORDER_NOT_OPEN to its own retry), an order
  without a clientOrderId must exist once.
- Cut off before its COMMIT: the user's row is held locked elsewhere, the transaction's
  backend is terminated while it waits; nothing was committed, and it runs again, once.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import asyncpg
import pytest
from sqlmodel import select

from models.db import SessionFactory, make_engine, make_session_factory, session_scope
from models.instrument_file import read_instrument_file
from models.tables import Instrument, OrderSide, OrderStatus, OrderType, User
from settings import Settings
from tests.utils.postgres_server import PrivatePostgres, private_postgres
from trading.instruments import InstrumentRecord, upsert_instruments
from trading.orders import OrderRequest, cancel_order, place_order
from trading.records import OrderRecord

pytestmark = pytest.mark.services  # a private cluster: PostgreSQL's binaries installed
T = TypeVar("T")
CASH = Decimal(10_000)


@dataclass(frozen=True)
class Touch:
    bid: Decimal
    ask: Decimal


@dataclass(frozen=True)
class Book:
    sessions: SessionFactory
    user_id: int
    instrument: InstrumentRecord


@pytest.fixture(scope="module")
async def postgres() -> AsyncIterator[PrivatePostgres]:
    async with private_postgres() as server:
        yield server


@pytest.fixture
async def book(postgres: PrivatePostgres) -> AsyncIterator[Book]:
    """A fresh user with cash and the first reference instrument, through the app's engine."""
    engine = make_engine(Settings(database_url=postgres.url))
    sessions = make_session_factory(engine)
    rows = read_instrument_file(Settings().instruments_file)[:1]
    async with session_scope(sessions) as session:
        await upsert_instruments(session, rows)
        found = (await session.exec(select(Instrument))).first()
        email = f"failover-{secrets.token_hex(4)}@example.com"
        user = User(email=email, password_hash="x", cash=CASH)
        session.add(user)
        await session.flush()
        assert found is not None
        assert user.id is not None
        instrument, user_id = InstrumentRecord.model_validate(found), user.id
    try:
        yield Book(sessions, user_id, instrument)
    finally:
        await engine.dispose()


def limit_buy(book: Book, client_order_id: str | None = None) -> OrderRequest:
    price = Decimal(10)  # far below the touch: it rests
    return OrderRequest(
        book.instrument.symbol, OrderSide.BUY, OrderType.LIMIT, Decimal(1), price, client_order_id
    )


async def place(book: Book, request: OrderRequest) -> OrderRecord:
    placed = await place_order(
        book.sessions,
        book.user_id,
        request,
        book.instrument,
        Touch(Decimal(100), Decimal("100.02")),
    )
    assert isinstance(placed.result, OrderRecord), placed.result
    return placed.result


async def cut_off(postgres: PrivatePostgres, work: Awaitable[T], wait_event: str) -> T:
    """Run `work`; once its backend waits on `wait_event`, terminate that backend."""
    admin = await postgres.connect()
    try:
        task = asyncio.ensure_future(work)
        async with asyncio.timeout(30):
            while not (
                pid := await admin.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event = $1", wait_event
                )
            ):
                assert not task.done(), task
                await asyncio.sleep(0.02)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        return await task
    finally:
        await admin.close()


async def waiting_commits(admin: asyncpg.Connection, on: bool) -> None:
    """Commits wait for a synchronous standby that never comes (`on`), or not."""
    if on:
        await admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
        await admin.execute("ALTER SYSTEM SET synchronous_commit = 'on'")
    else:
        await admin.execute("ALTER SYSTEM RESET synchronous_standby_names")
        await admin.execute("ALTER SYSTEM RESET synchronous_commit")
    await admin.execute("SELECT pg_reload_conf()")


async def cut_off_in_commit(postgres: PrivatePostgres, work: Awaitable[T]) -> T:
    admin = await postgres.connect()
    try:
        await waiting_commits(admin, True)
        try:
            return await cut_off(postgres, work, "SyncRep")
        finally:
            await waiting_commits(admin, False)
    finally:
        await admin.close()


async def rows(postgres: PrivatePostgres, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await postgres.connect()
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def order_events(postgres: PrivatePostgres, order_id: int) -> list[str]:
    found = await rows(
        postgres,
        "SELECT payload::json->'order'->>'status' AS status FROM user_event "
        "WHERE payload::json->'order'->>'id' = $1 ORDER BY sequence",
        str(order_id),
    )
    return [row["status"] for row in found]


async def test_a_cancel_cut_off_in_its_commit_is_answered_cancelled_once(
    postgres: PrivatePostgres, book: Book
) -> None:
    order = await place(book, limit_buy(book, "resting"))
    cancelled = await cut_off_in_commit(
        postgres, cancel_order(book.sessions, book.user_id, order.id)
    )
    assert isinstance(cancelled.result, OrderRecord), cancelled.result
    assert cancelled.result.status == OrderStatus.CANCELLED
    assert await order_events(postgres, order.id) == ["OPEN", "CANCELLED"]
    [user] = await rows(postgres, "SELECT cash FROM users WHERE id = $1", book.user_id)
    assert user["cash"] == CASH  # the reservation returned, once


async def test_an_order_without_client_id_cut_off_in_its_commit_is_placed_once(
    postgres: PrivatePostgres, book: Book
) -> None:
    placed = await cut_off_in_commit(postgres, place(book, limit_buy(book)))
    found = await rows(postgres, "SELECT id FROM orders WHERE user_id = $1", book.user_id)
    assert [row["id"] for row in found] == [placed.id]
    assert await order_events(postgres, placed.id) == ["OPEN"]


async def test_an_order_cut_off_before_its_commit_runs_again_once(
    postgres: PrivatePostgres, book: Book
) -> None:
    holder = await postgres.connect()
    try:
        locked = holder.transaction()
        await locked.start()
        await holder.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", book.user_id)
        work = asyncio.ensure_future(
            cut_off(postgres, place(book, limit_buy(book)), "transactionid")
        )
        await asyncio.sleep(1)  # terminated while it waits for the lock; its retry waits again
        await locked.rollback()
        placed = await work
    finally:
        await holder.close()
    found = await rows(postgres, "SELECT id FROM orders WHERE user_id = $1", book.user_id)
    assert [row["id"] for row in found] == [placed.id]
    assert await order_events(postgres, placed.id) == ["OPEN"]
