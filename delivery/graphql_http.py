"""GraphQL over HTTP's rules (graphql/graphql-over-http), for the router's HTTP side.

- Response media type from `Accept`: `application/graphql-response+json` when the client
  puts it first, `application/json` when it prefers that or takes anything (`*/*`,
  `application/*`, no header: the legacy clients, the board), none (406) when it names only
  types we do not serve.
- A request error (the document does not parse or validate, the variables do not coerce, the
  operation cannot be chosen) has no `data` entry, and is 400 under
  `application/graphql-response+json`; under `application/json` every GraphQL response is
  200, as legacy clients expect. An execution error (a field's) keeps `data` and is 200.
- A request that is not GraphQL over HTTP at all gets its status (400, 405 with `Allow`, 406,
  415) and `{"errors": [{"message": ...}]}` as `application/json`: the spec forbids
  `application/graphql-response+json` for these.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from cross_web import HTTPException
from starlette.responses import Response
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
SERVED = (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON)
# What a wildcard stands for: JSON, which every client reads.
WILDCARDS = {"*/*": APPLICATION_JSON, "application/*": APPLICATION_JSON}


class RequestRefused(HTTPException):
    """An HTTP error with headers of its own (`Allow` for 405) and an `extensions.code`."""

    def __init__(
        self,
        status_code: int,
        reason: str,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(status_code, reason)
        self.headers = dict(headers or {})
        self.code = code


def error_response(error: HTTPException) -> Response:
    entry: dict[str, object] = {"message": error.reason}
    headers = None
    if isinstance(error, RequestRefused):
        headers = error.headers
        if error.code is not None:
            entry["extensions"] = {"code": error.code}
    body = orjson.dumps({"errors": [entry]})
    return Response(body, error.status_code, headers, media_type=APPLICATION_JSON)


def _ranges(accept: str) -> list[tuple[float, str]]:
    """The media ranges of an `Accept` header with their weights, highest first (a stable
    sort: among equal weights, the order the client listed them)."""
    ranges = []
    for item in accept.split(","):
        media_range, *parameters = (part.strip() for part in item.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if media_range and weight > 0:
            ranges.append((weight, media_range.lower()))
    return sorted(ranges, key=lambda pair: -pair[0])


def response_media_type(accept: str | None) -> str | None:
    """The media type to answer in, or None when `Accept` names none we serve (406)."""
    if not accept or not accept.strip():
        return APPLICATION_JSON
    for _, media_range in _ranges(accept):
        if media_range in SERVED:
            return media_range
        if media_range in WILDCARDS:
            return WILDCARDS[media_range]
    return None


STREAMS = ("text/event-stream", "multipart/mixed")


def prefers_stream(accept: str) -> bool:
    """Whether `Accept` ranks a stream (SSE, multipart) above the JSON types: clients such as
    urql list `text/event-stream` after JSON for every request and want JSON for a query."""
    for _, media_range in _ranges(accept):
        if media_range in STREAMS:
            return True
        if media_range in SERVED:
            return False
    return False


def not_acceptable() -> RequestRefused:
    return RequestRefused(406, f"Accept must allow {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}.")


def is_request_error(result: ExecutionResult) -> bool:
    """Whether the operation failed before execution began: no data, and no error with a
    path (a field's error always has one; a syntax, validation or variable coercion error
    never does)."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


def response_status(media_type: str, request_error: bool) -> int:
    return 400 if request_error and media_type == GRAPHQL_RESPONSE_JSON else 200


def content_type_refusal(content_type: str) -> RequestRefused:
    shown = content_type or "none"
    return RequestRefused(415, f"Content-Type must be {APPLICATION_JSON} (got {shown}).")


def wrong_operation_type(operation_type: OperationType) -> RequestRefused:
    """A mutation over GET (405, `Allow: POST`), or a subscription sent as a plain request."""
    if operation_type is OperationType.MUTATION:
        return RequestRefused(
            405, "Mutations cannot be sent over GET: use POST.", headers={"Allow": "POST"}
        )
    return RequestRefused(
        400,
        "A subscription needs a stream: a WebSocket (graphql-transport-ws), "
        "`Accept: text/event-stream` (GraphQL over SSE) or "
        "`Accept: multipart/mixed;subscriptionSpec=1.0`.",
    )
