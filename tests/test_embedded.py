"""Embedded mode end to end: SQLite, in-memory backends and the simulator, over real sockets."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import httpx

from tests.conftest import embedded_mode
from tests.utils.graphql_ws import graphql_ws
from tests.utils.server import RunningServer, running_server

QUOTES = (
    "subscription ($symbols: [String!]!) { quotes(symbols: $symbols) { symbol price sequence } }"
)


async def test_health_and_typename_over_http(embedded_server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.http) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["backends"] == {
            "database": "ok",
            "cache": "ok",
            "pubsub": "ok",
            "log": "ok",
        }
        response = await client.post("/graphql", json={"query": "{ __typename }"})
        assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_first_run_serves_graphiql_and_introspection(tmp_path: Path) -> None:
    """`make run`'s settings (development, nothing set): the explorer works at once."""
    settings = embedded_mode(tmp_path, environment="development")
    async with running_server(settings) as server, httpx.AsyncClient(base_url=server.http) as c:
        page = await c.get("/graphql", headers={"accept": "text/html"})
        schema = await c.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    assert schema.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_subscription_streams_changing_prices(embedded_server: RunningServer) -> None:
    async with graphql_ws(embedded_server.ws) as ws:
        await ws.subscribe("1", QUOTES, {"symbols": ["AAPL", "msft"]})
        quotes = [(await ws.next_payload())["data"]["quotes"] for _ in range(12)]
    assert {q["symbol"] for q in quotes} == {"AAPL", "MSFT"}
    for symbol in ("AAPL", "MSFT"):
        sequences = [q["sequence"] for q in quotes if q["symbol"] == symbol]
        assert sequences == sorted(set(sequences)), "each symbol's ticks arrive once, in order"
    assert len({q["price"] for q in quotes}) > 1, "prices move"


async def test_bad_symbols_get_a_clear_error(embedded_server: RunningServer) -> None:
    async with graphql_ws(embedded_server.ws) as ws:
        await ws.subscribe("1", QUOTES, {"symbols": ["not a symbol!"]})
        message = await ws.receive()
    assert message["type"] == "next"
    assert "not a valid symbol" in message["payload"]["errors"][0]["message"]


async def test_quote_query_reads_the_cache(embedded_server: RunningServer) -> None:
    async with graphql_ws(embedded_server.ws) as ws:  # wait for the first tick of AAPL
        await ws.subscribe("1", QUOTES, {"symbols": ["AAPL"]})
        await ws.next_payload()
    async with httpx.AsyncClient(base_url=embedded_server.http) as client:
        response = await client.post(
            "/graphql", json={"query": '{ quote(symbol: "AAPL") { symbol bid ask } }'}
        )
    quote = response.json()["data"]["quote"]
    assert quote["symbol"] == "AAPL"
    assert Decimal(quote["bid"]) < Decimal(quote["ask"])


def tables_set_aside(directory: Path) -> list[tuple[str, ...]]:
    [kept] = directory.glob("trado.db.old-*")
    with sqlite3.connect(kept) as old:
        return old.execute("SELECT name FROM sqlite_master").fetchall()


async def test_a_database_from_an_older_version_is_set_aside_and_a_new_one_started(
    tmp_path: Path,
) -> None:
    """Embedded mode has no migrations: a file whose `users` table lacks a column the models
    now have is kept under another name, and the server starts on a new one."""
    with sqlite3.connect(tmp_path / "trado.db") as old:
        old.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    register = (
        'mutation { register(email: "old@example.com", password: "a long unusual phrase 1") '
        "{ __typename } }"
    )
    async with (
        running_server(embedded_mode(tmp_path)) as server,
        httpx.AsyncClient(base_url=server.http) as client,
    ):
        response = await client.post("/graphql", json={"query": register})
    assert response.json() == {"data": {"register": {"__typename": "AuthPayload"}}}
    assert tables_set_aside(tmp_path) == [("users",)]
