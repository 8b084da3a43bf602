"""One subscription client per transport, all with the same shape (`subscribe`,
`next_payload`), so one test body runs over every transport."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from prometheus_client import REGISTRY

from tests.utils.graphql_ws import GraphQLWS, graphql_ws, legacy_graphql_ws
from tests.utils.http_stream import HTTPSubscriptions, http_subscriptions
from tests.utils.server import RunningServer

TRANSPORTS = ("graphql-transport-ws", "graphql-ws", "sse", "multipart")
Client = GraphQLWS | HTTPSubscriptions


def subscription_client(
    transport: str, server: RunningServer
) -> AbstractAsyncContextManager[Client]:
    if transport == "sse":
        return http_subscriptions(server.http, "sse")
    if transport == "multipart":
        return http_subscriptions(server.http, "multipart")
    if transport == "graphql-ws":
        return legacy_graphql_ws(server.ws)
    return graphql_ws(server.ws)


def shared_subscriptions() -> float:
    """Subscriptions on the shared fan-out in this process (the servers under test run in it)."""
    return REGISTRY.get_sample_value("trado_shared_subscriptions") or 0.0
