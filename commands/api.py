"""The FastAPI app: GraphQL at /graphql (HTTP and WebSocket), health at /healthz and /readyz,
Prometheus metrics at /metrics, and the web client (`web/`) at /.

What describes the API to a stranger (GraphiQL, introspection, FastAPI's /docs, /redoc and
/openapi.json, /metrics) is served only where the settings say (by default in development);
every HTTP response carries the security headers of `delivery/security_headers.py`, and no
`server` header names the software.

`python server.py` (`make run`) runs `main`: uvicorn on the configured host and port, in one
process, or with `API_PROCESSES` > 1 (full mode only) in that many, each on its own
SO_REUSEPORT socket with its own hub (`commands/api_processes.py`), and `/metrics` read
across them.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)

from commands.api_processes import run_processes
from commands.logs import configure_logging
from commands.tracing import configure_tracing, flush_traces
from delivery.fanout import LiveFanout
from delivery.graphiql import GraphiQLRouter
from delivery.http_limits import BodySizeLimit
from delivery.lean_websocket import Endpoint, LeanWebSocket
from delivery.persisted_queries import PersistedQueries, read_manifest
from delivery.security_headers import SecurityHeaders
from delivery.uvicorn_internals import DirectChunksProtocol, DirectFramesProtocol
from graph.context import Context, get_context
from graph.schema import make_schema
from settings import ROOT, Settings, load_settings
from streaming.cache import Cache
from streaming.metrics import exposition
from streaming.readiness import open_readiness
from streaming.runtime import open_runtime

# Objects allocated between two young collections. CPython's 700 promotes whatever lives a
# few milliseconds (a tick's quote, candle bars, frames waiting for their write) at thousands
# of ticks/s, and the promotions set off full collections that walk every connection's
# objects, pausing every stream. A larger young generation lets them die young instead
# (measured: bench/README.md, "Figures behind design choices").
YOUNG_GENERATION_THRESHOLD = 20_000
API_SERVICE = "trado-api"  # the service name in traces, unless OTEL_SERVICE_NAME says

# WebSocket (graphql-transport-ws, legacy graphql-ws) and HTTP streams: GraphQL over SSE
# (graphql-sse; its single connection mode is the router's own) and multipart subscriptions
# (Apollo's HttpLink).
SUBSCRIPTION_PROTOCOLS = (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    GRAPHQL_SSE_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)


# FastAPI's own telemetry: a span per GraphQL request over HTTP, once `commands.tracing` has
# installed a tracer provider (none: it does nothing). Its metrics and logs are off (Prometheus
# and `commands.logs` serve those), and so are its spans of the routing inside a request.
HTTP_TRACING: TelemetryConfig = {
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "exclude": lambda scope: not traced_request(scope),
}


def traced_request(scope: MutableMapping[str, Any]) -> bool:
    """GraphQL over plain HTTP. Not WebSockets or SSE (a subscription's span is its start:
    `graph.operation_tracing`), nor health checks, metrics and the web client's files."""
    if scope["type"] != "http" or scope["path"] != "/graphql":
        return False
    accept = dict(scope.get("headers") or ()).get(b"accept", b"")
    return b"text/event-stream" not in accept


def settle_garbage_collector() -> None:
    """What exists once the runtime is open (modules, the schema, the runtime) lives as long
    as the process: out of the collector's way, so each full collection walks only what came
    after; and young collections far enough apart that short-lived objects die young."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)


class TradoApp(FastAPI):
    """FastAPI with the security headers outermost: outside Starlette's error middleware too,
    so even an unexpected 500 carries them."""

    behind_tls = False

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), behind_tls=self.behind_tls)


class GraphQLWebSocket(LeanWebSocket):
    """`WEBSOCKET_PROTOCOL=direct`: graphql-transport-ws at /graphql on the lean socket, every
    other WebSocket on uvicorn's sans-io protocol with direct frames."""

    fallback = DirectFramesProtocol


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings) as runtime, open_readiness(runtime) as readiness:
            app.state.runtime = runtime
            app.state.readiness = readiness
            graphql.persisted_queries = persisted_queries(settings, runtime.cache)
            settle_garbage_collector()
            yield
        flush_traces()

    docs = settings.serves_api_docs
    app = TradoApp(
        title="Trado",
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,  # /docs and /redoc need it
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        telemetry=HTTP_TRACING,
    )
    app.behind_tls = settings.behind_tls
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    graphql = GraphiQLRouter(
        make_schema(settings),
        context_getter=get_context,
        fanout=LiveFanout(public_context=Context),
        buffer_messages=settings.subscriber_buffer_messages,
        event_stream_route=settings.event_stream_route,
        subscription_protocols=SUBSCRIPTION_PROTOCOLS,
        graphql_ide="graphiql" if settings.serves_graphiql else None,  # None: 404 for the page
        connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout_seconds),
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        keep_alive=settings.websocket_ping_interval_seconds > 0,  # legacy protocol's `ka`
        keep_alive_interval=settings.websocket_ping_interval_seconds,
    )
    app.include_router(graphql, prefix="/graphql")
    app.state.lean_websocket = Endpoint("/graphql", graphql.serve_lean_socket)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """The latest background checks (see `streaming/readiness.py`): 503 when a backend is
        down; a stale live stream is `degraded` with 200 (503 with LIVE_STALE_FAILS_READINESS)."""
        report = app.state.readiness.report()
        return JSONResponse(report.body, status_code=report.http_status)

    if settings.serves_metrics:

        @app.get("/metrics")
        async def metrics() -> Response:
            text = exposition(across_processes=settings.api_processes > 1)
            return Response(text, media_type=CONTENT_TYPE_LATEST)

    if not settings.serves_graphiql:  # its page and assets, which the mount at / would serve
        app.mount("/graphiql", PlainTextResponse("Not Found", status_code=404))
    # Last: the mount at / answers every path no route above claimed.
    app.mount("/", StaticFiles(directory=ROOT / "web", html=True), name="web")
    return app


def persisted_queries(settings: Settings, cache: Cache) -> PersistedQueries:
    """APQ in the cache, or the allow-list of PERSISTED_QUERIES_FILE (read and checked now:
    a bad file stops the start-up)."""
    path = settings.persisted_queries_file
    allowed = read_manifest(path) if settings.persisted_queries == "allow-list" and path else {}
    return PersistedQueries(
        cache, settings.persisted_queries, allowed, settings.persisted_query_ttl_seconds
    )


def websocket_protocol(settings: Settings) -> type[asyncio.Protocol] | str:
    """uvicorn's `ws` option for the setting (`direct` is ours, the others uvicorn's)."""
    if settings.websocket_protocol == "direct":
        return GraphQLWebSocket
    return settings.websocket_protocol


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options from the settings, for `main` and the test servers alike: the
    WebSocket's (`direct` also writes HTTP streams' chunks straight to the socket:
    `delivery/uvicorn_internals.py`), the proxy rule, and no `server: uvicorn` header (a banner
    only helps an attacker pick exploits)."""
    http = {"http": DirectChunksProtocol} if settings.websocket_protocol == "direct" else {}
    return {"server_header": False, **http, **websocket_options(settings), **proxy_options()}


def websocket_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's WebSocket options from the settings, for `main` and the test servers alike."""
    interval = settings.websocket_ping_interval_seconds
    return {
        "ws": websocket_protocol(settings),
        "ws_per_message_deflate": False,  # live frames are small and many: deflate costs CPU
        "ws_max_size": settings.max_request_bytes,  # a message as large as an HTTP body: 1009
        "ws_ping_interval": interval or None,
        "ws_ping_timeout": settings.websocket_ping_timeout_seconds,
    }


def proxy_options() -> dict[str, Any]:
    """uvicorn would take X-Forwarded-For from 127.0.0.1 as the client's address by itself;
    FORWARDED_FOR_TRUSTED_HOPS alone decides that (`graph.context.client_address`), since the
    rate limits count by it."""
    return {"proxy_headers": False}


def serve_on(sock: socket.socket) -> None:
    """One of `API_PROCESSES`' workers, in a process of its own (nothing of its parent's but
    the environment and the listening socket): its own settings, app and hub."""
    settings = load_settings()
    configure_logging(settings)
    configure_tracing(settings, API_SERVICE, trace_redis=True)
    config = uvicorn.Config(create_app(settings), **uvicorn_options(settings))
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def metrics_across_processes() -> Iterator[None]:
    """A folder for prometheus_client's multiprocess mode, for the block. The library takes it
    from the environment (PROMETHEUS_MULTIPROC_DIR) when a process imports it, so it is put
    there before the workers start; they inherit it, and nothing of ours reads it."""
    with tempfile.TemporaryDirectory(prefix="trado-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        yield


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "log_config": None,  # its loggers go through `configure_logging`'s handler
        **server_options(settings),
    }


def main() -> None:
    settings = load_settings()
    configure_logging(settings)
    if settings.api_processes == 1:
        configure_tracing(settings, API_SERVICE, trace_redis=True)
        uvicorn.run(create_app(settings), **uvicorn_options(settings))
        return
    with metrics_across_processes():
        code = run_processes(settings.api_processes, settings.host, settings.port, serve_on)
    raise SystemExit(code)
