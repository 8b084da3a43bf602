"""Instruments: the reference list, search, stable cursor pages, the Redis cache, admin upsert."""

from __future__ import annotations

import asyncpg
from redis.asyncio import Redis

from models.instrument_file import read_instrument_file
from settings import Settings
from tests.api.conftest import Account, Api, new_account
from tests.utils.services import asyncpg_url

SEARCH = """query ($search: String, $exchange: String, $sector: String, $first: Int,
               $after: String) {
  instruments(search: $search, exchange: $exchange, sector: $sector, first: $first,
              after: $after) {
    edges { cursor node { symbol name exchange sector isin lotSize tickSize currency } }
    pageInfo { hasNextPage endCursor }
  }
}"""
UPSERT = """mutation ($rows: [InstrumentInput!]!) {
  upsertInstruments(instruments: $rows) { symbol name tickSize }
}"""


async def symbols(api: Api, **variables: object) -> list[str]:
    page = (await api.data(SEARCH, variables))["instruments"]
    return [edge["node"]["symbol"] for edge in page["edges"]]


async def test_the_reference_list_is_loaded(api: Api, full_settings: Settings) -> None:
    rows = read_instrument_file(full_settings.instruments_file)
    assert len(rows) >= 100
    apple = await api.data('{ instrument(symbol: "aapl") { symbol name isin exchange } }')
    assert apple["instrument"] == {
        "symbol": "AAPL",
        "name": "Apple Inc.",
        "isin": "US0378331005",
        "exchange": "NASDAQ",
    }
    assert (await api.data('{ instrument(symbol: "NOPE") { symbol } }'))["instrument"] is None


async def test_search_by_symbol_prefix_or_name_substring(api: Api) -> None:
    assert (await symbols(api, search="aap")) == ["AAPL"]
    found = await symbols(api, search="BANK", first=50)
    assert "BAC" in found  # Bank of America, by name
    assert "BK" in found  # The Bank of New York Mellon
    assert await symbols(api, search="100%_") == []  # LIKE wildcards are literal


async def test_filters_by_exchange_and_sector(api: Api) -> None:
    page = (await api.data(SEARCH, {"exchange": "nasdaq", "first": 100}))["instruments"]
    assert page["edges"]
    assert {e["node"]["exchange"] for e in page["edges"]} == {"NASDAQ"}
    page = (await api.data(SEARCH, {"sector": "energy", "first": 100}))["instruments"]
    assert {e["node"]["sector"] for e in page["edges"]} == {"Energy"}


async def test_cursor_pages_walk_every_instrument_once_in_order(
    api: Api, full_settings: Settings
) -> None:
    seen: list[str] = []
    after = None
    for _ in range(100):
        page = (await api.data(SEARCH, {"first": 7, "after": after}))["instruments"]
        seen += [edge["node"]["symbol"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    expected = sorted(r.symbol for r in read_instrument_file(full_settings.instruments_file))
    assert [s for s in seen if s in expected] == expected
    assert len(seen) == len(set(seen))


async def test_bad_page_arguments_are_clear_errors(api: Api, full_settings: Settings) -> None:
    too_many = await api.error(SEARCH, {"first": full_settings.max_page_size + 1})
    limit = full_settings.max_page_size
    assert too_many["message"] == f"`first` must be between 1 and {limit}, got {limit + 1}"
    assert too_many["extensions"]["code"] == "BAD_USER_INPUT"
    assert "between 1 and" in (await api.error(SEARCH, {"first": 0}))["message"]
    assert "not a cursor" in (await api.error(SEARCH, {"after": "bogus!"}))["message"]


async def make_admin(settings: Settings, account: Account) -> None:
    connection = await asyncpg.connect(asyncpg_url(settings.database_url))
    try:
        await connection.execute("UPDATE users SET is_admin = true WHERE email = $1", account.email)
    finally:
        await connection.close()


async def test_upsert_is_admin_only_and_invalidates_the_cache(
    api: Api, full_settings: Settings
) -> None:
    admin, user = await new_account(api, "admin"), await new_account(api)
    await make_admin(full_settings, admin)
    row = {
        "symbol": "ZZTEST",
        "name": "Test Instrument",
        "exchange": "NYSE",
        "sector": "Energy",
        "currency": "usd",
        "lotSize": "1",
        "tickSize": "0.01",
    }
    denied = await api.error(UPSERT, {"rows": [row]}, user.token)
    assert denied["extensions"]["code"] == "FORBIDDEN"
    await api.data(UPSERT, {"rows": [row]}, admin.token)
    query = '{ instrument(symbol: "ZZTEST") { name tickSize } }'
    assert (await api.data(query))["instrument"] == {"name": "Test Instrument", "tickSize": "0.01"}
    assert full_settings.redis_url
    redis = Redis.from_url(full_settings.redis_url)
    try:
        assert await redis.exists(full_settings.redis_key_prefix + "instrument:ZZTEST")
        renamed = await api.data(
            UPSERT, {"rows": [{**row, "name": "Renamed", "tickSize": "0.05"}]}, admin.token
        )
        assert renamed["upsertInstruments"] == [
            {"symbol": "ZZTEST", "name": "Renamed", "tickSize": "0.05"}
        ]
        assert not await redis.exists(full_settings.redis_key_prefix + "instrument:ZZTEST")
    finally:
        await redis.aclose()
    assert (await api.data(query))["instrument"] == {"name": "Renamed", "tickSize": "0.05"}


async def test_upsert_refuses_a_bad_row_and_writes_nothing(
    api: Api, full_settings: Settings
) -> None:
    admin = await new_account(api, "admin")
    await make_admin(full_settings, admin)
    good = {
        "symbol": "ZZGOOD",
        "name": "Good",
        "exchange": "NYSE",
        "sector": "Energy",
        "currency": "USD",
        "lotSize": "1",
        "tickSize": "0.01",
    }
    bad = {**good, "symbol": "ZZBAD", "tickSize": "-1"}
    error = await api.error(UPSERT, {"rows": [good, bad]}, admin.token)
    assert error["message"] == "instrument 2: tick_size must be above zero, got '-1'"
    assert (await api.data('{ instrument(symbol: "ZZGOOD") { name } }'))["instrument"] is None
