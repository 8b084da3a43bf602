"""Persisted queries: Apollo's automatic persisted queries (APQ) and an allow-list.

APQ (`PERSISTED_QUERIES=automatic`): a client sends `extensions.persistedQuery =
{"version": 1, "sha256Hash": H}` and no `query`; the server runs the document it stored under H,
or answers PERSISTED_QUERY_NOT_FOUND, and the client sends the document with the hash once,
which the server stores after checking that its SHA-256 is H. Documents live in the cache
backend (Redis in full mode), so every replica knows what any one of them stored.

Allow-list (`PERSISTED_QUERIES=allow-list`, for production): only the documents of
`PERSISTED_QUERIES_FILE` run, by hash or by text; nothing is ever stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from streaming.cache import Cache

Mode = Literal["automatic", "allow-list", "off"]
HASH = re.compile(r"^[0-9a-f]{64}$")
KEY_PREFIX = "persisted-query:"


class PersistedQueryError(Exception):
    """A request the persisted-query rules refuse: `code` for clients, `status` for HTTP."""

    def __init__(self, code: str, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def sha256_of(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def read_manifest(path: Path) -> dict[str, str]:
    """An allow-list file: Apollo's persisted query manifest (`{"operations": [{"id",
    "body"}...]}`) or a plain `{hash: document}` object; every hash is checked."""
    data = orjson.loads(path.read_bytes())
    pairs = (
        [(op["id"], op["body"]) for op in data["operations"]]
        if isinstance(data, dict) and "operations" in data
        else list(data.items())
    )
    documents = {}
    for given, body in pairs:
        if sha256_of(body) != given:
            raise ValueError(f"{path}: {given} is not the SHA-256 of its document")
        documents[given] = body
    return documents


@dataclass
class PersistedQueries:
    cache: Cache
    mode: Mode
    allowed: Mapping[str, str]  # hash -> document, in allow-list mode
    ttl_seconds: int

    async def document(
        self, query: str | None, extensions: Mapping[str, object] | None
    ) -> str | None:
        """The document to run: `query`, or the one the persisted-query hash names."""
        requested = _requested_hash(extensions)
        if self.mode == "allow-list":
            return self._allowed(query, requested)
        if requested is None or self.mode == "off":
            if requested is not None and query is None:
                raise PersistedQueryError(
                    "PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported"
                )
            return query
        if query is None:
            stored = await self.cache.get(KEY_PREFIX + requested)
            if stored is None:
                raise PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
            return stored.decode()
        if sha256_of(query) != requested:
            raise PersistedQueryError(
                "BAD_USER_INPUT", "provided sha does not match query", status=400
            )
        await self.cache.set(KEY_PREFIX + requested, query.encode(), self.ttl_seconds)
        return query

    def _allowed(self, query: str | None, requested: str | None) -> str:
        found = self.allowed.get(requested or sha256_of(query or ""))
        if found is None or (query is not None and query != found):
            raise PersistedQueryError(
                "PERSISTED_QUERY_NOT_ALLOWED",
                "Only registered documents run on this server.",
                status=400,
            )
        return found


def _requested_hash(extensions: Mapping[str, object] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryError(
            "BAD_USER_INPUT", "persistedQuery needs version 1 and a sha256Hash", status=400
        )
    given = persisted.get("sha256Hash")
    if not isinstance(given, str) or not HASH.match(given):
        raise PersistedQueryError(
            "BAD_USER_INPUT", "sha256Hash must be 64 lowercase hex digits", status=400
        )
    return given
