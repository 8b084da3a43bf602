"""Money columns stay exact on SQLite too (stored there as integer 1e-8 units)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlmodel import col, select

from models.db import create_tables, make_engine, make_session_factory, session_scope
from models.tables import User
from tests.conftest import make_settings


async def test_decimal_round_trip_and_ordering_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    await create_tables(engine)
    sessions = make_session_factory(engine)
    amounts = ["0.1", "0.2", "12345678901.12345678", "0.00000001", "100"]
    try:
        async with session_scope(sessions) as session:
            for n, amount in enumerate(amounts):
                session.add(User(email=f"u{n}@x.io", password_hash="-", cash=Decimal(amount)))
        async with session_scope(sessions) as session:
            users = (await session.exec(select(User).order_by(col(User.cash)))).all()
            cash = [u.cash for u in users]
            total = sum(cash, Decimal(0))
    finally:
        await engine.dispose()
    assert cash == sorted(Decimal(a) for a in amounts)
    assert total == Decimal("12345679001.42345679")
