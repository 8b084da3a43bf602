"""Persisted queries, as Apollo's PersistedQueryLink sends them: a hash alone (POST or GET),
PERSISTED_QUERY_NOT_FOUND, then the document with its hash once; and the allow-list mode that
runs registered documents only, on HTTP and WebSocket alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson

from delivery.persisted_queries import sha256_of
from tests.conftest import embedded_mode
from tests.utils.graphql_ws import graphql_ws
from tests.utils.server import RunningServer, running_server

DOCUMENT = '{ instrument(symbol: "NVDA") { symbol currency } }'
ANSWER = {"data": {"instrument": {"symbol": "NVDA", "currency": "USD"}}}


def persisted(document: str = DOCUMENT) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_of(document)}}


async def post(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
        return await client.post("/graphql", json=body)


async def get(server: RunningServer, extensions: dict[str, Any]) -> httpx.Response:
    params = {"extensions": orjson.dumps(extensions).decode()}
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
        return await client.get("/graphql", params=params)


async def test_a_hash_runs_once_its_document_was_sent_with_it(api_server: RunningServer) -> None:
    document = DOCUMENT.replace("currency", "currency name")  # a hash no other test sent
    missing = await post(api_server, {"extensions": persisted(document)})
    assert (missing.status_code, missing.json()) == (
        200,
        {
            "errors": [
                {
                    "message": "PersistedQueryNotFound",
                    "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
                }
            ]
        },
    )
    stored = await post(api_server, {"query": document, "extensions": persisted(document)})
    assert stored.json()["data"]["instrument"]["symbol"] == "NVDA"
    by_post = await post(api_server, {"extensions": persisted(document)})
    by_get = await get(api_server, persisted(document))
    assert by_post.json() == by_get.json() == stored.json()


async def test_a_document_that_is_not_its_hash_is_refused(api_server: RunningServer) -> None:
    wrong = await post(api_server, {"query": DOCUMENT, "extensions": persisted("{ x }")})
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["message"] == "provided sha does not match query"


async def test_the_allow_list_runs_registered_documents_only(tmp_path: Path) -> None:
    manifest = tmp_path / "persisted-queries.json"
    manifest.write_bytes(orjson.dumps({sha256_of(DOCUMENT): DOCUMENT}))
    settings = embedded_mode(tmp_path).model_copy(
        update={"persisted_queries": "allow-list", "persisted_queries_file": manifest}
    )
    async with running_server(settings) as server:
        by_hash = await post(server, {"extensions": persisted()})
        by_text = await post(server, {"query": DOCUMENT})
        other = await post(server, {"query": "{ __typename }"})
        async with graphql_ws(server.ws, {}) as ws:
            await ws.subscribe("refused", "{ __typename }")
            refused = await ws.receive()
            await ws.subscribe("allowed", DOCUMENT)
            allowed = await ws.next_payload()
    assert by_hash.json() == by_text.json() == allowed == ANSWER
    assert other.status_code == 400
    assert other.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
    assert (refused["id"], refused["type"]) == ("refused", "error")
    assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
