"""A burst of subscribers to cold symbols checks them with one database query, not one each:
a connect storm of a thousand subscribes otherwise took every pooled connection and waited
out the pool's timeout (seen: 30 s, "QueuePool limit of size 5 overflow 10 reached")."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from resolvers.instruments import unknown_symbols
from settings import Settings
from streaming.runtime import open_runtime
from tests.conftest import embedded_mode
from tests.utils.live import listed, symbol_for


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return embedded_mode(tmp_path, run_feed_in_process=False)
    full: Settings = request.getfixturevalue("full_settings")
    return full


async def test_concurrent_checks_of_cold_symbols_share_one_query(settings: Settings) -> None:
    known = [symbol_for("CHK"), symbol_for("CHK")]  # the shared database has others' too
    unknown = symbol_for("NOPE")
    async with open_runtime(settings) as runtime:
        await listed(settings, *known)  # (after the runtime: SQLite's tables come with it)
        opened = 0

        def counted() -> AbstractAsyncContextManager[Any]:
            nonlocal opened
            opened += 1
            return runtime.sessions()

        symbols = [*known, unknown]
        checks = [unknown_symbols(counted, runtime.cache, symbols) for _ in range(500)]  # type: ignore[arg-type]
        results = await asyncio.gather(*checks)
        assert all(result == [unknown] for result in results)
        assert opened == 1
        assert await unknown_symbols(runtime.sessions, runtime.cache, known[:1]) == []


async def test_a_cancelled_check_leaves_no_waiter_hanging(settings: Settings) -> None:
    symbol = symbol_for("CHK")
    async with open_runtime(settings) as runtime:
        await listed(settings, symbol)
        first = asyncio.create_task(unknown_symbols(runtime.sessions, runtime.cache, [symbol]))
        await asyncio.sleep(0)  # its lookup is under way
        second = asyncio.create_task(unknown_symbols(runtime.sessions, runtime.cache, [symbol]))
        await asyncio.sleep(0)
        first.cancel()
        async with asyncio.timeout(10):
            assert await second == []
