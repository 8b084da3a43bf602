"""Abuse limits and the error policy: clear messages for depth, tokens, aliases, page size and
body size; expected errors are not logged as errors; unexpected ones are masked."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from graphql import GraphQLError

from graph.errors import BadInput, is_expected
from graph.schema import make_schema
from settings import Settings
from tests.api.conftest import Account, Api
from tests.conftest import make_settings
from tests.utils.server import RunningServer


async def test_query_depth_limit() -> None:
    schema = make_schema(make_settings(max_query_depth=2))
    result = await schema.execute("{ watchlists { items { instrument { symbol } } } }")
    assert result.errors
    assert result.errors[0].message == "'anonymous' exceeds maximum operation depth of 2"


async def test_alias_and_token_limits(api: Api, full_settings: Settings) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(full_settings.max_aliases + 1))
    error = await api.error(f"{{ {aliases} }}")
    assert "aliases" in error["message"].lower()
    tokens = " ".join("__typename" for _ in range(full_settings.max_query_tokens))
    error = await api.error(f"{{ {tokens} }}")
    assert "token" in error["message"].lower()


async def test_page_size_limit_on_every_connection(
    api: Api, account: Account, full_settings: Settings
) -> None:
    limit = full_settings.max_page_size
    for field in ("instruments", "orders", "notifications"):
        error = await api.error(
            f"{{ {field}(first: {limit + 1}) {{ edges {{ cursor }} }} }}", token=account.token
        )
        assert error["message"] == f"`first` must be between 1 and {limit}, got {limit + 1}"
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_body_over_the_limit_gets_413(
    api_server: RunningServer, full_settings: Settings
) -> None:
    big = "{ __typename }" + " " * full_settings.max_request_bytes
    async with httpx.AsyncClient(base_url=api_server.http) as client:
        response = await client.post("/graphql", json={"query": big})
        assert response.status_code == 413
        assert response.json()["errors"][0]["message"] == (
            f"Request body is larger than {full_settings.max_request_bytes} bytes."
        )

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for _ in range(full_settings.max_request_bytes // 1024 + 2):
                yield b" " * 1024

        chunked = await client.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 413
        ok = await client.post("/graphql", json={"query": "{ __typename }"})
        assert ok.status_code == 200


@pytest.mark.usefixtures("account")
async def test_user_errors_are_not_logged_as_errors(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await api.error("{ instruments(first: 0) { edges { cursor } } }")
        await api.error("{ portfolio { cash } }")
        await api.error("{ nope }")
    graphql = [r for r in caplog.records if r.name.startswith(("strawberry", "trado.graphql"))]
    assert graphql, "the user errors are logged, at DEBUG"
    assert [r for r in graphql if r.levelno >= logging.WARNING] == []


def test_unexpected_errors_are_masked_and_expected_ones_are_not() -> None:
    bug = GraphQLError("boom", original_error=KeyError("secret"), path=["orders"])
    assert not is_expected(bug)
    assert is_expected(GraphQLError("x", original_error=BadInput("x"), path=["orders"]))
    assert is_expected(GraphQLError("Cannot query field 'nope' on type 'Query'."))
    variable = GraphQLError("Variable '$q' got invalid value", original_error=ValueError("bad"))
    assert is_expected(variable)  # coercion errors have no path: the client's mistake
