"""Rate limits on login and register (per account, per client address, shared by replicas
through Redis), over HTTP and WebSocket; and a login storm that delays neither /healthz nor
live quotes, because hashing waits in its own bounded pool off the event loop."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx

from settings import Settings
from tests.api.conftest import PASSWORD, Api
from tests.utils.graphql_ws import GraphQLWS, graphql_ws
from tests.utils.live import isolated
from tests.utils.server import running_server

AUTH = """mutation ($email: String!, $password: String!) {
  FIELD(email: $email, password: $password) {
    __typename
    ... on AuthPayload { token }
    ... on AuthError { code message retryAfterSeconds }
  }
}"""
LOGIN = AUTH.replace("FIELD", "login")
REGISTER = AUTH.replace("FIELD", "register")
WRONG = "wrong-pass-99"
QUOTES = 'subscription { quotes(symbols: ["AAPL"]) { symbol sequence } }'


@asynccontextmanager
async def replicas(settings: Settings, count: int = 1, **limits: Any) -> AsyncIterator[list[Api]]:
    """`count` API servers on one Redis prefix of their own (replicas of one deployment),
    with `limits` set; the per-address limits are the defaults unless given."""
    defaults = Settings.model_fields
    per_address = {
        "login_attempts_per_address": defaults["login_attempts_per_address"].default,
        "registrations_per_address": defaults["registrations_per_address"].default,
    }
    settings = isolated(settings).model_copy(update={**per_address, **limits})
    async with AsyncExitStack() as stack:
        apis = []
        for _ in range(count):
            server = await stack.enter_async_context(running_server(settings))
            client = httpx.AsyncClient(base_url=server.http, timeout=60)
            apis.append(Api(await stack.enter_async_context(client)))
        yield apis


def new_email(prefix: str = "limits") -> str:
    return f"{prefix}-{secrets.token_hex(4)}@example.com"


async def login(
    api: Api, email: str, password: str, forwarded_for: str | None = None
) -> dict[str, Any]:
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    body = {"query": LOGIN, "variables": {"email": email, "password": password}}
    response = await api.client.post("/graphql", json=body, headers=headers)
    result: dict[str, Any] = response.json()["data"]["login"]
    return result


async def register(api: Api, email: str) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(REGISTER, {"email": email, "password": PASSWORD}))[
        "register"
    ]
    return result


def assert_limited(result: dict[str, Any], window_seconds: int) -> None:
    assert result["__typename"] == "AuthError", result
    assert result["code"] == "RATE_LIMITED", result
    assert 0 < result["retryAfterSeconds"] <= window_seconds, result
    assert f"{result['retryAfterSeconds']} seconds" in result["message"]


async def test_wrong_passwords_lock_the_account_even_for_the_right_one(
    full_settings: Settings,
) -> None:
    limit = Settings.model_fields["login_failures_per_account"].default
    window = Settings.model_fields["login_failure_window_seconds"].default
    async with replicas(full_settings) as (api,):
        email = new_email()
        await register(api, email)
        for _ in range(limit):
            assert (await login(api, email, WRONG))["code"] == "INVALID_CREDENTIALS"
        assert_limited(await login(api, email, WRONG), window)
        assert_limited(await login(api, email.upper(), PASSWORD), window)  # same account
        other = new_email()
        await register(api, other)
        assert (await login(api, other, PASSWORD))["__typename"] == "AuthPayload", "per account"


async def test_a_good_login_starts_the_failure_count_again(full_settings: Settings) -> None:
    async with replicas(full_settings, login_failures_per_account=2) as (api,):
        email = new_email()
        await register(api, email)
        for password in (WRONG, PASSWORD, WRONG, PASSWORD):  # never two failures since a success
            result = await login(api, email, password)
            assert result["__typename"] == ("AuthPayload" if password == PASSWORD else "AuthError")
            assert result.get("code") != "RATE_LIMITED", result


async def test_one_address_is_limited_across_emails_and_cannot_forge_another(
    full_settings: Settings,
) -> None:
    async with replicas(full_settings, login_attempts_per_address=3) as (api,):
        for _ in range(3):
            assert (await login(api, new_email(), WRONG))["code"] == "INVALID_CREDENTIALS"
        assert_limited(await login(api, new_email(), WRONG), 60)
        # X-Forwarded-For is the client's own invention unless a proxy is trusted
        assert_limited(await login(api, new_email(), WRONG, forwarded_for="203.0.113.9"), 60)


async def test_behind_a_trusted_proxy_the_address_it_saw_is_counted(
    full_settings: Settings,
) -> None:
    settings = {"forwarded_for_trusted_hops": 1, "login_attempts_per_address": 1}
    async with replicas(full_settings, **settings) as (api,):
        first = await login(api, new_email(), WRONG, forwarded_for="203.0.113.9")
        assert first["code"] == "INVALID_CREDENTIALS"
        assert_limited(await login(api, new_email(), WRONG, forwarded_for="203.0.113.9"), 60)
        # what the proxy appended (the rightmost) counts, not what the client wrote before it
        forged = await login(api, new_email(), WRONG, forwarded_for="203.0.113.9, 198.51.100.7")
        assert forged["code"] == "INVALID_CREDENTIALS"


async def test_register_is_limited_per_address_and_per_email(full_settings: Settings) -> None:
    async with replicas(full_settings, registrations_per_address=2) as (api,):
        assert (await register(api, new_email()))["__typename"] == "AuthPayload"
        assert (await register(api, new_email()))["__typename"] == "AuthPayload"
        assert_limited(await register(api, new_email()), 3600)
    async with replicas(full_settings, registrations_per_account=2) as (api,):
        email = new_email()
        assert (await register(api, email))["__typename"] == "AuthPayload"
        assert (await register(api, email))["code"] == "EMAIL_TAKEN"
        assert_limited(await register(api, email), 3600)
        weak = await api.data(REGISTER, {"email": new_email(), "password": "short1"})
        assert weak["register"]["code"] == "WEAK_PASSWORD", "free checks come first, uncounted"


async def test_replicas_share_the_counts(full_settings: Settings) -> None:
    async with replicas(full_settings, 2, login_failures_per_account=2) as (first, second):
        email = new_email()
        await register(first, email)
        assert (await login(first, email, WRONG))["code"] == "INVALID_CREDENTIALS"
        assert (await login(second, email, WRONG))["code"] == "INVALID_CREDENTIALS"
        assert_limited(await login(first, email, PASSWORD), 900)
        assert_limited(await login(second, email, PASSWORD), 900)


async def ws_login(ws: GraphQLWS, id: str, email: str, password: str) -> dict[str, Any]:
    await ws.subscribe(id, LOGIN, {"email": email, "password": password})
    result: dict[str, Any] = (await ws.next_payload())["data"]["login"]
    assert (await ws.receive())["type"] == "complete"
    return result


async def test_login_over_websocket_is_limited_by_the_sockets_address(
    full_settings: Settings,
) -> None:
    settings = isolated(full_settings).model_copy(update={"login_attempts_per_address": 2})
    async with running_server(settings) as server, graphql_ws(server.ws) as ws:
        assert (await ws_login(ws, "1", new_email(), WRONG))["code"] == "INVALID_CREDENTIALS"
        assert (await ws_login(ws, "2", new_email(), WRONG))["code"] == "INVALID_CREDENTIALS"
        assert_limited(await ws_login(ws, "3", new_email(), WRONG), 60)
        async with graphql_ws(server.ws) as another:  # another socket, the same address
            assert_limited(await ws_login(another, "1", new_email(), PASSWORD), 60)


async def test_a_login_storm_delays_neither_health_nor_quotes_nor_refusals(
    embedded_settings: Settings,
) -> None:
    """50 logins over one socket queue for a single hashing thread (tens of seconds of work
    here); meanwhile /healthz answers, live quotes keep arriving and a rate-limited login is
    refused at once, since a refusal hashes nothing and so waits behind none of them."""
    settings = embedded_settings.model_copy(
        update={
            "password_hash_workers": 1,
            "login_attempts_per_address": 1000,
            "login_failures_per_account": 1,
        }
    )
    async with (
        running_server(settings) as server,
        httpx.AsyncClient(base_url=server.http, timeout=60) as client,
    ):
        api = Api(client)
        locked = new_email()
        await login(api, locked, WRONG)  # its one failure: the next attempt is refused
        async with graphql_ws(server.ws) as quotes, graphql_ws(server.ws) as storm:
            await quotes.subscribe("q", QUOTES)
            await quotes.next_payload()
            for number in range(50):
                variables = {"email": new_email("storm"), "password": WRONG}
                await storm.subscribe(str(number), LOGIN, variables)
            await asyncio.sleep(0.5)  # the storm reaches the server and fills the queue
            assert (await client.get("/healthz")).status_code == 200
            for _ in range(5):
                assert (await quotes.next_payload())["data"]["quotes"]["symbol"] == "AAPL"
            assert_limited(await login(api, locked, PASSWORD), 900)
            answered = await storm_answers(storm)
            assert answered < 50, "all of that happened while the storm's logins still waited"


async def test_one_address_storming_does_not_queue_ahead_of_another(
    embedded_settings: Settings,
) -> None:
    """20 logins from one address take their turns one at a time, so a login from another
    address queues behind at most one of theirs, not all 20."""
    settings = embedded_settings.model_copy(
        update={"password_hash_workers": 1, "login_attempts_per_address": 1000}
    )
    other_address = httpx.AsyncHTTPTransport(local_address="127.0.0.2")  # all 127/8 is loopback
    async with (
        running_server(settings) as server,
        httpx.AsyncClient(base_url=server.http, timeout=60, transport=other_address) as client,
        graphql_ws(server.ws) as storm,
    ):
        for number in range(20):
            variables = {"email": new_email("storm"), "password": WRONG}
            await storm.subscribe(str(number), LOGIN, variables)
        await asyncio.sleep(0.5)  # the storm reaches the server
        assert (await login(Api(client), new_email(), WRONG))["code"] == "INVALID_CREDENTIALS"
        assert await storm_answers(storm) < 10, "answered long before the storm's logins"


async def storm_answers(storm: GraphQLWS) -> int:
    """How many storm logins have answered so far (each answer is a `next` and a `complete`)."""
    answered = 0
    try:
        while True:
            message = await storm.receive(seconds=0.05)
            answered += message["type"] == "complete"
    except TimeoutError:
        return answered
