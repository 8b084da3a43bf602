"""Persisted queries over every cache backend: APQ's store-then-run-by-hash, the hash check,
PERSISTED_QUERY_NOT_FOUND, and the allow-list that runs registered documents only."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from delivery.persisted_queries import (
    PersistedQueries,
    PersistedQueryError,
    read_manifest,
    sha256_of,
)
from streaming.cache import Cache

DOCUMENT = "{ instruments(first: 1) { edges { node { symbol } } } }"
HASH = sha256_of(DOCUMENT)


def by_hash(given: str = HASH) -> dict[str, object]:
    return {"persistedQuery": {"version": 1, "sha256Hash": given}}


def automatic(cache: Cache) -> PersistedQueries:
    return PersistedQueries(cache, "automatic", {}, ttl_seconds=60)


async def test_a_hash_alone_is_not_found_until_the_document_came_with_it(cache: Cache) -> None:
    queries = automatic(cache)
    with pytest.raises(PersistedQueryError) as missing:
        await queries.document(None, by_hash())
    assert (missing.value.code, missing.value.message) == (
        "PERSISTED_QUERY_NOT_FOUND",
        "PersistedQueryNotFound",
    )
    assert await queries.document(DOCUMENT, by_hash()) == DOCUMENT
    another_replica = automatic(cache)
    assert await another_replica.document(None, by_hash()) == DOCUMENT


async def test_a_document_whose_hash_differs_is_refused_and_not_stored(cache: Cache) -> None:
    queries = automatic(cache)
    wrong = sha256_of("{ __typename }")
    with pytest.raises(PersistedQueryError) as refused:
        await queries.document(DOCUMENT, by_hash(wrong))
    assert (refused.value.status, refused.value.message) == (
        400,
        "provided sha does not match query",
    )
    with pytest.raises(PersistedQueryError, match="PersistedQueryNotFound"):
        await queries.document(None, by_hash(wrong))


@pytest.mark.parametrize(
    "extensions",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": HASH}},
        {"persistedQuery": {"version": 1, "sha256Hash": HASH.upper()}},
        {"persistedQuery": {"version": 1}},
        {"persistedQuery": "yes"},
    ],
)
async def test_a_malformed_persisted_query_is_a_bad_request(
    cache: Cache, extensions: dict[str, object]
) -> None:
    with pytest.raises(PersistedQueryError) as refused:
        await automatic(cache).document(None, extensions)
    assert (refused.value.code, refused.value.status) == ("BAD_USER_INPUT", 400)


async def test_plain_documents_run_as_they_are(cache: Cache) -> None:
    assert await automatic(cache).document(DOCUMENT, None) == DOCUMENT


@pytest.mark.parametrize("cache", ["memory"], indirect=True)
async def test_the_allow_list_runs_registered_documents_only(cache: Cache, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(orjson.dumps({"operations": [{"id": HASH, "body": DOCUMENT}]}))
    queries = PersistedQueries(cache, "allow-list", read_manifest(manifest), ttl_seconds=60)
    assert await queries.document(None, by_hash()) == DOCUMENT
    assert await queries.document(DOCUMENT, None) == DOCUMENT
    for query, extensions in [("{ __typename }", None), (None, by_hash(sha256_of("{ x }")))]:
        with pytest.raises(PersistedQueryError) as refused:
            await queries.document(query, extensions)
        assert refused.value.code == "PERSISTED_QUERY_NOT_ALLOWED"


def test_a_manifest_whose_hash_is_wrong_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(orjson.dumps({"0" * 64: DOCUMENT}))
    with pytest.raises(ValueError, match="is not the SHA-256 of its document"):
        read_manifest(manifest)
