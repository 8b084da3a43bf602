"""The money paths under concurrency: simultaneous orders of one user never overspend cash,
never oversell a position, and one clientOrderId never makes two orders (PostgreSQL row locks
in full mode; the per-user lock and SQLite's single writer in embedded mode)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import httpx

from settings import Settings
from tests.api.conftest import Account, Api, Quotes, new_account
from tests.api.test_trading import folio, place
from tests.utils.server import RunningServer
from tests.utils.services import asyncpg_url

START = Decimal(100000)


async def test_twenty_simultaneous_buys_never_spend_more_than_the_cash(
    api: Api, account: Account, quotes: Quotes, full_settings: Settings
) -> None:
    await quotes.set("GS", bid="999.90", ask="1000.00")
    results = await asyncio.gather(
        *(place(api, account.token, symbol="GS", quantity="15") for _ in range(20))
    )
    filled = [r for r in results if r["__typename"] == "Order"]
    refused = [r for r in results if r["__typename"] == "OrderRejected"]
    assert len(filled) == 6  # 6 x 15,000 fits in 100,000; a 7th would not
    assert {r["reason"] for r in refused} == {"INSUFFICIENT_FUNDS"}
    spent = sum(Decimal(r["filledQuantity"]) * Decimal(r["averageFillPrice"]) for r in filled)
    assert spent == Decimal(90000)
    p = await folio(api, account.token)
    assert Decimal(p["cash"]) == START - spent
    assert p["positions"][0]["quantity"] == "90"
    connection = await asyncpg.connect(asyncpg_url(full_settings.database_url))
    try:
        fills = await connection.fetchval(
            "SELECT sum(f.quantity * f.price) FROM fill f JOIN users u ON u.id = f.user_id "
            "WHERE u.email = $1",
            account.email,
        )
    finally:
        await connection.close()
    assert fills == spent


async def test_simultaneous_sells_never_sell_more_than_is_held(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.set("HD", bid="380.00", ask="380.02")
    assert (await place(api, account.token, symbol="HD", quantity="10"))["status"] == "FILLED"
    market = [place(api, account.token, symbol="HD", side="SELL", quantity="3") for _ in range(8)]
    limits = [
        place(
            api,
            account.token,
            symbol="HD",
            side="SELL",
            type="LIMIT",
            quantity="3",
            limitPrice="500.00",
        )
        for _ in range(8)
    ]
    results = await asyncio.gather(*market, *limits)
    accepted = [r for r in results if r["__typename"] == "Order"]
    assert len(accepted) == 3  # 10 held: three lots of 3, whether sold now or offered
    assert {r["reason"] for r in results if r["__typename"] == "OrderRejected"} == {
        "INSUFFICIENT_POSITION"
    }
    sold = sum(Decimal(r["quantity"]) for r in accepted if r["status"] == "FILLED")
    p = await folio(api, account.token)
    assert Decimal(p["positions"][0]["quantity"]) == 10 - sold


async def test_simultaneous_limit_buys_never_reserve_more_than_the_cash(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.set("LOW", bid="200.00", ask="200.05")
    results = await asyncio.gather(
        *(
            place(
                api, account.token, symbol="LOW", type="LIMIT", quantity="100", limitPrice="150.00"
            )
            for _ in range(12)
        )
    )
    assert sum(r["__typename"] == "Order" for r in results) == 6  # 6 x 15,000 reserved
    p = await folio(api, account.token)
    assert (Decimal(p["cash"]), Decimal(p["reservedCash"])) == (Decimal(10000), Decimal(90000))


async def test_one_client_order_id_sent_ten_times_at_once_makes_one_order(
    api: Api, quotes: Quotes
) -> None:
    account = await new_account(api)
    await quotes.set("LIN", bid="450.00", ask="450.10")
    results = await asyncio.gather(
        *(
            place(api, account.token, symbol="LIN", quantity="1", clientOrderId="once")
            for _ in range(10)
        )
    )
    assert len({r["id"] for r in results}) == 1
    assert Decimal((await folio(api, account.token))["cash"]) == START - Decimal("450.1")


async def test_embedded_mode_serialises_one_users_buys_too(
    embedded_server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.http, timeout=60) as client:
        api = Api(client)
        account = await new_account(api)
        for _ in range(100):  # wait for the simulator's first AAPL quote
            if (await api.data('{ quote(symbol: "AAPL") { ask } }'))["quote"]:
                break
            await asyncio.sleep(0.05)
        results = await asyncio.gather(
            *(place(api, account.token, symbol="AAPL", quantity="90") for _ in range(10))
        )
        filled = [r for r in results if r["__typename"] == "Order"]
        assert 1 <= len(filled) < 10
        assert {r["reason"] for r in results if r["__typename"] == "OrderRejected"} == {
            "INSUFFICIENT_FUNDS"
        }
        spent = sum(Decimal(r["filledQuantity"]) * Decimal(r["averageFillPrice"]) for r in filled)
        p = await folio(api, account.token)
        assert Decimal(p["cash"]) == START - spent >= 0
        assert Decimal(p["positions"][0]["quantity"]) == 90 * len(filled)
