"""The caller on WebSocket comes from the connection_init payload, like the header on HTTP."""

from __future__ import annotations

import pytest

from tests.api.conftest import Account
from tests.utils.graphql_ws import LEGACY_PROTOCOL, close_code, graphql_ws, raw_socket
from tests.utils.server import RunningServer

MINE = "{ me { email } watchlists { name } }"


async def test_connection_init_token_identifies_the_caller(
    api_server: RunningServer, account: Account
) -> None:
    init = {"authorization": f"Bearer {account.token}"}
    async with graphql_ws(api_server.ws, init) as ws:
        await ws.subscribe("1", MINE)
        payload = await ws.next_payload()
    assert payload == {"data": {"me": {"email": account.email}, "watchlists": []}}


async def test_without_a_token_private_fields_are_refused(api_server: RunningServer) -> None:
    async with graphql_ws(api_server.ws, {}) as ws:
        await ws.subscribe("1", MINE)
        payload = await ws.next_payload()
    assert payload["data"] is None
    assert payload["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("field", ["orderUpdates { id }", "notifications { id }"])
async def test_my_streams_need_a_token(api_server: RunningServer, field: str) -> None:
    async with graphql_ws(api_server.ws, {}) as ws:
        await ws.subscribe("1", f"subscription {{ {field} }}")
        payload = await ws.next_payload()
        assert (await ws.receive())["type"] == "complete"
    assert payload["data"] is None
    assert payload["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert payload["errors"][0]["message"].startswith("Sign in first")


@pytest.mark.parametrize("value", ["Bearer not-a-token", "Basic abc", "Bearer "])
async def test_a_bad_token_is_refused_with_4403(api_server: RunningServer, value: str) -> None:
    async with raw_socket(api_server.ws) as ws:
        await ws.send({"type": "connection_init", "payload": {"authorization": value}})
        assert await close_code(ws) == 4403


async def test_a_bad_token_gets_connection_error_on_the_legacy_protocol(
    api_server: RunningServer,
) -> None:
    async with raw_socket(api_server.ws, LEGACY_PROTOCOL) as ws:
        init = {"authorization": "Bearer not-a-token"}
        await ws.send({"type": "connection_init", "payload": init})
        message = await ws.receive()
        assert message == {
            "type": "connection_error",
            "payload": {"message": "Invalid or expired token."},
        }
        assert await close_code(ws) == 1011
