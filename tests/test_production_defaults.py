"""What the API shows of itself, against real servers (embedded mode): in production no
GraphiQL, no introspection (over HTTP and WebSocket; `__typename` still answers; the legacy
`graphql-ws` protocol runs subscriptions only, where introspection has no field), no /docs,
/redoc, /openapi.json or /metrics; in development all of them. Every HTTP response (a query,
an error, the GraphiQL page, a stream, the board, a 500) carries the security headers, and
none (nor the WebSocket handshake) a `server` header."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websockets.asyncio.client import connect

from commands.api import create_app
from delivery import graphiql
from delivery.security_headers import CONTENT_SECURITY_POLICY, STRICT_TRANSPORT_SECURITY
from tests.conftest import embedded_mode, make_settings
from tests.utils.graphql_ws import PROTOCOL, graphql_ws
from tests.utils.server import RunningServer, running_server

PRODUCTION = {"environment": "production", "jwt_secret": "a production secret of 32+ chars"}
# FastAPI's API description, the metrics, GraphiQL's page and one of its files.
DESCRIPTIONS = [
    "/docs",
    "/redoc",
    "/openapi.json",
    "/metrics",
    "/graphiql/",
    "/graphiql/graphiql.js",
]
INTROSPECTION = ["{ __schema { queryType { name } } }", '{ __type(name: "Query") { name } }']
REFUSED = "GraphQL introspection has been disabled"
QUOTES = 'subscription { quotes(symbols: ["AAPL"]) { symbol price } }'
HTML = {"accept": "text/html"}
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
async def production_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(embedded_mode(tmp_path, **PRODUCTION)) as server:
        yield server


@pytest.fixture
async def development_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(embedded_mode(tmp_path, environment="development")) as server:
        yield server


def assert_secure(response: httpx.Response, *, private: bool = True) -> None:
    """The security headers, `no-store` where the answer may be an account's, no banner."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert "content-security-policy" in response.headers
    assert "server" not in response.headers
    assert "strict-transport-security" not in response.headers, "not behind TLS"
    assert ("no-store" in response.headers.get("cache-control", "")) is private


# ---------------------------------------------------------------- what is served where


async def test_production_serves_no_description_of_the_api(
    production_server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=production_server.http) as client:
        for path in DESCRIPTIONS:
            assert (await client.get(path)).status_code == 404, path
        page = await client.get("/graphql", headers=HTML)
        assert page.status_code == 404
        assert (await client.get("/healthz")).status_code == 200


async def test_development_serves_every_description(development_server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=development_server.http) as client:
        for path in DESCRIPTIONS:
            assert (await client.get(path)).status_code == 200, path
        page = await client.get("/graphql", headers=HTML)
        answer = await client.post("/graphql", json={"query": INTROSPECTION[0]})
    assert "graphiql" in page.text.lower()
    assert answer.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


@pytest.mark.parametrize("query", INTROSPECTION)
async def test_production_refuses_introspection_over_http(
    production_server: RunningServer, query: str
) -> None:
    async with httpx.AsyncClient(base_url=production_server.http) as client:
        refused = (await client.post("/graphql", json={"query": query})).json()
        typename = (await client.post("/graphql", json={"query": "{ __typename }"})).json()
    assert "data" not in refused
    assert refused["errors"][0]["message"].startswith(REFUSED)
    assert typename == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("query", INTROSPECTION)
async def test_production_refuses_introspection_over_websocket(
    production_server: RunningServer, query: str
) -> None:
    async with graphql_ws(production_server.ws) as ws:
        await ws.subscribe("1", query)
        message = await ws.receive()
        await ws.subscribe("2", "{ __typename }")
        typename = await ws.next_payload()
    assert message["type"] == "error"
    assert message["payload"][0]["message"].startswith(REFUSED)
    assert typename == {"data": {"__typename": "Query"}}


# ---------------------------------------------------------------- headers


async def test_every_http_response_carries_the_security_headers(
    production_server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=production_server.http) as client:
        query = await client.post("/graphql", json={"query": "{ __typename }"})
        bad_request = await client.post(
            "/graphql", content=b"[1", headers={"content-type": "application/json"}
        )
        not_found = await client.get("/docs")
        board = await client.get("/")
        readiness = await client.get("/readyz")
    assert query.status_code == 200
    assert bad_request.status_code == 400
    assert not_found.status_code == 404
    for response in (query, bad_request, readiness):
        assert_secure(response)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert_secure(not_found, private=False)
    assert_secure(board, private=False)  # static files keep their validators
    assert board.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "etag" in board.headers


async def test_graphiql_keeps_its_own_policy(tmp_path: Path) -> None:
    settings = embedded_mode(tmp_path, graphiql=True)
    async with running_server(settings) as server, httpx.AsyncClient(base_url=server.http) as c:
        page = await c.get("/graphql", headers=HTML)
    assert page.status_code == 200
    assert_secure(page)
    assert page.headers["content-security-policy"] == graphiql.CONTENT_SECURITY_POLICY


async def test_a_stream_carries_the_headers_and_still_streams(
    production_server: RunningServer,
) -> None:
    """Over SSE: the headers come with the response's start, and events follow one by one
    (the middleware never holds a body back)."""
    events = []
    async with (
        httpx.AsyncClient(base_url=production_server.http, timeout=10) as client,
        client.stream(
            "POST", "/graphql", json={"query": QUOTES}, headers={"accept": "text/event-stream"}
        ) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert_secure(stream)
        assert "no-transform" in stream.headers["cache-control"], "proxies must not buffer it"
        async for line in stream.aiter_lines():
            if line.startswith("data: ") and "quotes" in line:
                events.append(orjson.loads(line.removeprefix("data: ")))
            if len(events) == 2:
                break
    assert [event["data"]["quotes"]["symbol"] for event in events] == ["AAPL", "AAPL"]


async def test_the_websocket_handshake_names_no_server(production_server: RunningServer) -> None:
    async with connect(production_server.ws, subprotocols=[PROTOCOL]) as socket:  # type: ignore[list-item]
        assert socket.response is not None
        headers = socket.response.headers
    assert "server" not in {name.lower() for name in headers}


def boom(request: Request) -> Response:  # noqa: ARG001 (Starlette's endpoint)
    raise RuntimeError("a bug")


async def test_an_unexpected_error_carries_the_headers_too() -> None:
    """Outside Starlette's error middleware: its plain 500 gets them as well."""
    app = create_app(make_settings(**PRODUCTION))
    app.router.routes.insert(0, Route("/boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


@pytest.mark.parametrize("behind_tls", [False, True])
async def test_strict_transport_security_only_behind_tls(behind_tls: bool) -> None:
    app = create_app(make_settings(behind_tls=behind_tls))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/healthz")
    assert response.headers.get("strict-transport-security") == (
        STRICT_TRANSPORT_SECURITY if behind_tls else None
    )
