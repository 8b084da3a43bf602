"""GraphQL over HTTP as specified (graphql/graphql-over-http): the `graphql-http` audit, every
MUST and SHOULD passing, and the cases it does not cover, one by one.

Malformed requests get a JSON `{"errors": [...]}` under `application/json` with their status:
400 for a body that is not a JSON object, 405 (with `Allow`) for a mutation over GET, 406 for
an `Accept` naming no type we serve, 415 for a body that is not JSON. A GraphQL response is
`application/graphql-response+json` when the client asks for it, and then a request error
(syntax, validation, variables, which operation) is 400 without `data`; under
`application/json` (legacy clients, the board) every GraphQL response is 200.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from delivery.graphql_http import prefers_stream
from tests.conftest import embedded_mode
from tests.utils.node import node_json
from tests.utils.server import RunningServer, running_server

GRAPHQL_RESPONSE = "application/graphql-response+json"
BOTH = f"{GRAPHQL_RESPONSE}, application/json;q=0.9"  # what the spec tells clients to send


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    """With introspection: the audit's variables cases ask `__type(name: $name)`."""
    settings = embedded_mode(tmp_path_factory.mktemp("http"), introspection=True)
    async with running_server(settings) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http) as http:
        yield http


async def run_audit(url: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = await node_json("audit_server.mjs", url, package="graphql-http")
    return results


async def test_the_graphql_http_audit_passes_every_must_and_should(server: RunningServer) -> None:
    results = await run_audit(f"{server.http}/graphql")
    counts = []
    failures = []
    for level in ("MUST", "SHOULD", "MAY"):
        audits = [r for r in results if r["name"].startswith(f"{level} ")]
        passed = [r for r in audits if r["status"] == "ok"]
        counts.append(f"{level} {len(passed)}/{len(audits)}")
        if level != "MAY":
            failures += [f"{r['id']} {r['name']}: {r['reason']}" for r in audits if r not in passed]
    print("graphql-http audit:", ", ".join(counts))
    assert not failures, "\n".join([", ".join(counts), *failures])


def assert_json_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    errors = response.json()["errors"]
    assert message in errors[0]["message"], errors


async def test_a_mutation_over_get_gets_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "mutation { __typename }"})
    assert_json_error(response, 405, "Mutations")
    assert response.headers["allow"] == "POST"
    query = await client.get("/graphql", params={"query": "{ __typename }"})
    assert query.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", None]
)
async def test_a_body_that_is_not_json_gets_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers=headers
    )
    assert_json_error(response, 415, "Content-Type")


@pytest.mark.parametrize(
    "body", [b'"{ __typename }"', b"42", b"null", b"true", b'{"query": "\xff"}', b"", b"{"]
)
async def test_a_body_that_is_not_a_json_object_gets_400(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json; charset=utf-8"}
    )
    assert_json_error(response, 400, "JSON")


@pytest.mark.parametrize(
    ("field", "value"), [("operationName", 7), ("variables", "x"), ("extensions", [1])]
)
async def test_a_parameter_of_the_wrong_type_gets_400(
    client: httpx.AsyncClient, field: str, value: object
) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename }", field: value})
    assert_json_error(response, 400, field)


TWO_OPERATIONS = "query A { a: __typename } query B { b: __typename }"
NO_NAME = "Must provide operation name if query contains multiple operations."


async def test_several_operations_need_an_operation_name(client: httpx.AsyncClient) -> None:
    legacy = await client.post("/graphql", json={"query": TWO_OPERATIONS})
    assert legacy.status_code == 200
    assert legacy.json() == {"errors": [{"message": NO_NAME}]}
    current = await client.post(
        "/graphql", json={"query": TWO_OPERATIONS}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert current.status_code == 400
    assert current.json() == {"errors": [{"message": NO_NAME}]}
    named = await client.post("/graphql", json={"query": TWO_OPERATIONS, "operationName": "B"})
    assert named.json() == {"data": {"b": "Query"}}


async def post(client: httpx.AsyncClient, query: str, accept: str | None) -> httpx.Response:
    headers = {"accept": accept} if accept else {}
    return await client.post("/graphql", json={"query": query}, headers=headers)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (BOTH, GRAPHQL_RESPONSE),
        ("application/json", "application/json"),
        ("application/json, application/graphql-response+json;q=0.5", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
        ("text/html, application/*;q=0.8", "application/json"),
    ],
)
async def test_the_response_type_follows_accept(
    client: httpx.AsyncClient, accept: str | None, media_type: str
) -> None:
    response = await post(client, "{ __typename }", accept)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("accept", ["text/html", "application/xml, text/*;q=0.5"])
async def test_an_accept_naming_nothing_we_serve_gets_406(
    client: httpx.AsyncClient, accept: str
) -> None:
    assert_json_error(await post(client, "{ __typename }", accept), 406, "Accept")


@pytest.mark.parametrize(
    "query", ["{ nope }", "{", "query ($s: String!) { quote(symbol: $s) { price } }"]
)
async def test_a_request_error_is_400_without_data_in_graphql_response_json(
    client: httpx.AsyncClient, query: str
) -> None:
    current = await post(client, query, BOTH)
    assert current.status_code == 400
    assert current.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in current.json()
    assert current.json()["errors"]
    legacy = await post(client, query, "application/json")
    assert legacy.status_code == 200
    assert legacy.json()["errors"]


async def test_an_execution_error_is_200_with_data(client: httpx.AsyncClient) -> None:
    response = await post(client, "{ portfolio { cash } }", BOTH)  # needs a signed-in caller
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["portfolio"]


@pytest.mark.parametrize(
    ("accept", "stream"),
    [
        ("text/event-stream", True),  # graphql-sse
        ("multipart/mixed;subscriptionSpec=1.0, application/json", True),  # Apollo HttpLink
        (  # urql: JSON first, for every request
            "application/graphql-response+json, application/graphql+json, application/json, "
            "text/event-stream, multipart/mixed",
            False,
        ),
        ("application/json;q=0.5, text/event-stream", True),
        ("*/*", False),
        ("", False),
    ],
)
def test_a_stream_is_chosen_only_when_accept_prefers_it(accept: str, stream: bool) -> None:
    assert prefers_stream(accept) is stream
