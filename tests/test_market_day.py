"""Day statistics, halts and market status with the real services: ticks with chosen
exchange times produced to Kafka, a bridge worker, the API over HTTP and WebSocket, and
PostgreSQL and Redis as they are (one worker restarts, one loses its cache)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import select

from models.tables import DayStatsRow, Fill
from settings import Settings
from streaming.bridge import Bridge
from streaming.channels import quote_key
from streaming.runtime import make_bridge
from streaming.tick import Tick
from tests.api.conftest import new_account
from tests.api.test_trading import place
from tests.utils.live import (
    LiveMarket,
    live_market,
    make_tick,
    send,
    tick_producer,
)

DAY = """query ($symbol: String!) {
  quote(symbol: $symbol) { price halted sequence day {
    session previousClose open high low volume vwap change changePercent } }
  instrument(symbol: $symbol) { day { previousClose open } } }"""

FRIDAY = "2026-11-27"  # the day after Thanksgiving: NYSE closes early, at 13:00 New York
MONDAY = "2026-11-30"


def at(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")


class Market(LiveMarket):
    async def day(self) -> dict[str, Any]:
        data = await self.api.data(DAY, {"symbol": self.symbol})
        assert data["instrument"]["day"]["open"] == data["quote"]["day"]["open"]
        return dict(data["quote"])

    async def stored(self) -> DayStatsRow | None:
        async with self.worker.sessions() as session:
            return (
                await session.exec(select(DayStatsRow).where(DayStatsRow.symbol == self.symbol))
            ).first()


@pytest.fixture
async def market(full_settings: Settings) -> AsyncIterator[Market]:
    async with live_market(full_settings, "D", Market) as stack:
        yield stack


@contextlib.asynccontextmanager
async def running(bridge: Bridge) -> AsyncIterator[Bridge]:
    """A bridge worker until the block ends, then stopped the graceful way (its last flush)."""
    task = asyncio.create_task(bridge.run())
    try:
        yield bridge
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    """Wait until `check()` holds (what the bridge does shows up a flush later)."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still false after {seconds}s: {check}")


def trade(symbol: str, sequence: int, price: str, volume: str, when: datetime) -> Tick:
    return make_tick(symbol, sequence, price, volume, at=when)


async def test_day_statistics_across_a_session_boundary_and_restarts(market: Market) -> None:
    s = market.symbol
    friday = [
        trade(s, 1, "100", "10", at(FRIDAY, "15:00")),  # regular hours
        trade(s, 2, "104", "30", at(FRIDAY, "16:00")),
        trade(s, 3, "98", "20", at(FRIDAY, "18:30")),  # post-market: still Friday's session
        trade(s, 4, "99", "40", at(MONDAY, "13:00")),  # pre-market Monday: still Friday's
    ]
    monday = [
        trade(s, 5, "101", "10", at(MONDAY, "14:30")),  # Monday's open: a new session
        trade(s, 6, "103.5", "30", at(MONDAY, "15:00")),
    ]
    async with tick_producer(market.settings) as producer:
        async with running(make_bridge(market.worker)):
            await send(producer, *friday)
            await until(lambda: _at_sequence(market, 4))
            assert (await market.day())["day"] == {
                "session": FRIDAY,
                "previousClose": None,
                "open": "100.00",  # at the tick size's precision (0.01)
                "high": "104.00",
                "low": "98.00",
                "volume": "100",
                "vwap": "100.40",  # (1000 + 3120 + 1960 + 3960) / 100
                "change": None,
                "changePercent": None,
            }
            await send(producer, *monday)
            await until(lambda: _at_sequence(market, 6))
            monday_day = {
                "session": MONDAY,
                "previousClose": "99.00",  # the last trade before Monday's open
                "open": "101.00",
                "high": "103.50",
                "low": "101.00",
                "volume": "40",
                "vwap": "102.875",  # (1010 + 3105) / 40
                "change": "4.50",
                "changePercent": "4.55",  # 4.5 / 99 = 4.5454..%
            }
            assert (await market.day())["day"] == monday_day
            await until(lambda: _stored_at(market, 6))

        # A restarted worker continues from the cached quote ...
        async with running(make_bridge(market.worker)):
            await send(producer, trade(s, 7, "102", "60", at(MONDAY, "16:00")))
            await until(lambda: _at_sequence(market, 7))
            day = (await market.day())["day"]
            assert (day["volume"], day["low"], day["previousClose"]) == ("100", "101.00", "99.00")
            await until(lambda: _stored_at(market, 7))

        # ... and one that lost the cache, from the database.
        await market.worker.cache.delete(quote_key(s))
        async with running(make_bridge(market.worker)):
            await send(producer, trade(s, 8, "100", "100", at(MONDAY, "17:00")))
            await until(lambda: _at_sequence(market, 8))
    day = (await market.day())["day"]
    assert (day["volume"], day["low"], day["high"], day["open"]) == (
        "200",
        "100.00",
        "103.50",
        "101.00",
    )
    assert (day["previousClose"], day["change"], day["changePercent"]) == ("99.00", "1.00", "1.01")


async def _at_sequence(market: Market, sequence: int) -> bool:
    quote = (await market.api.data(DAY, {"symbol": market.symbol}))["quote"]
    return quote is not None and int(quote["sequence"]) >= sequence


async def _stored_at(market: Market, sequence: int) -> bool:
    row = await market.stored()
    return row is not None and row.last_sequence >= sequence


async def test_a_halt_pauses_limit_matching_until_the_resume(market: Market) -> None:
    s = market.symbol
    account = await new_account(market.api)
    order = await place(
        market.api, account.token, symbol=s, type="LIMIT", quantity="10", limitPrice="100"
    )
    assert order["status"] == "OPEN"
    now = datetime.now(UTC)
    halt = Tick(
        s, Decimal(101), Decimal("100.99"), Decimal("101.01"), Decimal(0), 2, now, now, halted=True
    )
    resume = Tick(
        s, Decimal(101), Decimal("100.99"), Decimal("101.01"), Decimal(0), 4, now, now, halted=False
    )
    bridge = make_bridge(market.worker)
    async with tick_producer(market.settings) as producer, running(bridge):
        await send(producer, make_tick(s, 1, "101"), halt, make_tick(s, 3, "99"))  # 3 crosses
        await until(lambda: _at_sequence(market, 3))
        await until(lambda: _flushed(bridge))
        quote = await market.day()
        assert quote["halted"] is True
        assert await _fills(market, int(order["id"])) == 0
        # Out of session: a MARKET order is refused, a LIMIT order rests even though it crosses.
        refused = await place(market.api, account.token, symbol=s, quantity="1")
        assert (refused["__typename"], refused["reason"]) == ("OrderRejected", "MARKET_CLOSED")
        crossing = {"symbol": s, "type": "LIMIT", "quantity": "1", "limitPrice": "102"}
        assert (await place(market.api, account.token, **crossing))["status"] == "OPEN"
        await send(producer, resume, make_tick(s, 5, "99.5"))  # 99.51 ask crosses 100
        await until(lambda: _filled(market, int(order["id"])))
        assert (await market.day())["halted"] is False
    async with market.worker.sessions() as session:
        [fill] = (await session.exec(select(Fill).where(Fill.order_id == int(order["id"])))).all()
    assert fill.price == Decimal("99.51")  # tick 5's ask: tick 3 crossed during the halt


async def _flushed(bridge: Bridge) -> bool:
    return bridge.pending == 0 and bridge.backlog_ticks == 0


async def _fills(market: Market, order_id: int) -> int:
    async with market.worker.sessions() as session:
        return len((await session.exec(select(Fill).where(Fill.order_id == order_id))).all())


async def _filled(market: Market, order_id: int) -> bool:
    return await _fills(market, order_id) == 1
