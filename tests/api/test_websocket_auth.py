"""The caller on WebSocket comes from the connection_init payload, like the header on HTTP."""

from __future__ import annotations

from tests.api.conftest import Account
from tests.utils.graphql_ws import graphql_ws
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
    for init in ({}, {"authorization": "Bearer not-a-token"}):
        async with graphql_ws(api_server.ws, init) as ws:
            await ws.subscribe("1", MINE)
            payload = await ws.next_payload()
        assert payload["data"] is None
        assert payload["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
