"""Candle history from PostgreSQL, and the admin command."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from settings import ROOT, Settings
from tests.api.conftest import Account, Api
from tests.utils.services import asyncpg_url

CANDLES = """query ($from: DateTime, $to: DateTime) {
  candles(symbol: "jpm", interval: FIVE_MINUTES, from: $from, to: $to) {
    symbol interval start open high low close volume } }"""
T0 = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


async def test_candles_come_from_the_database_oldest_first(
    api: Api, full_settings: Settings
) -> None:
    connection = await asyncpg.connect(asyncpg_url(full_settings.database_url))
    try:
        for i in range(4):
            await connection.execute(
                "INSERT INTO candle (symbol, interval, start, open, high, low, close, volume, "
                "last_sequence) VALUES ('JPM', '5m', $1, $2, $3, $4, $5, 1000, $6)",
                T0 + timedelta(minutes=5 * i),
                Decimal("300.10") + i,
                Decimal("301") + i,
                Decimal("299.5") + i,
                Decimal("300.50") + i,
                i,
            )
        await connection.execute(  # another interval is not mixed in
            "INSERT INTO candle VALUES ('JPM', '1m', $1, 1, 1, 1, 1, 1, 1)", T0
        )
    finally:
        await connection.close()
    bars = (await api.data(CANDLES))["candles"]
    assert [b["start"] for b in bars] == [
        (T0 + timedelta(minutes=5 * i)).isoformat() for i in range(4)
    ]
    assert bars[0] == {
        "symbol": "JPM",
        "interval": "FIVE_MINUTES",
        "start": T0.isoformat(),
        "open": "300.10",  # read back at JPM's tick size (0.01), as a live bar reads
        "high": "301.00",
        "low": "299.50",
        "close": "300.50",
        "volume": "1000",
    }
    window = {
        "from": (T0 + timedelta(minutes=5)).isoformat(),
        "to": (T0 + timedelta(minutes=15)).isoformat(),
    }
    assert len((await api.data(CANDLES, window))["candles"]) == 2
    backwards = {"from": window["to"], "to": window["from"]}
    assert (await api.error(CANDLES, backwards))["message"] == "`from` must be before `to`"


async def admin(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m commands.admin ARGS` against the test's database."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "commands.admin", *args],
        env={**os.environ, "DATABASE_URL": settings.database_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_admin_command_grants_the_role(
    api: Api, account: Account, full_settings: Settings
) -> None:
    done = await admin(full_settings, "grant", account.email)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{account.email} is now an administrator."
    me = await api.data("{ me { isAdmin } }", token=account.token)
    assert me["me"]["isAdmin"]
    missing = await admin(full_settings, "grant", "nobody@example.com")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "No account 'nobody@example.com'."
