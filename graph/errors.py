"""GraphQL errors a client may see: clear messages, never stack traces.

Expected errors (bad input, not signed in, limits) are GraphQLErrors with a `code` extension;
anything else is a bug, logged with its traceback and masked to "Unexpected error." (see
`graph/schema.py`) -- except a backend outage: a database or cache that cannot be reached
during a request is no bug of ours, and the client can do something about it (retry later).
`unavailable_backend` is the one place that decides which exceptions mean that; the schema's
error masking and the context getter both ask it, and both answer with `ServiceUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import strawberry
from graphql import GraphQLError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from models.db import DatabaseUnavailable, database_gone
from resolvers.numbers import whole_number
from streaming.errors import BackendUnavailable
from trading.echo import echo

Backend = Literal["database", "cache", "streaming"]
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
MAX_ID_DIGITS = 18  # any 18-digit number fits a 64-bit id
_DESCRIPTIONS: dict[Backend, str] = {
    "database": "The database cannot be reached right now",
    "cache": "The cache (Redis) cannot be reached right now",
    "streaming": "A live-data backend cannot be reached right now",
}


class BadInput(GraphQLError):
    """Arguments that cannot be served as given."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT"})


def parse_id(value: strawberry.ID | str, what: str) -> int:
    """A numeric id from a GraphQL ID, exactly as the API writes them (ASCII digits, no
    padding or leading zeros); BadInput naming the object when it is not one."""
    number = whole_number(str(value), MAX_ID_DIGITS)
    if number is None:
        raise BadInput(f"{echo(repr(value))} is not a {what} id")
    return number


def is_expected(error: GraphQLError) -> bool:
    """Validation and parse errors have no original error; ours and Strawberry's are
    GraphQLErrors; variable coercion errors carry no path. Everything else is unexpected --
    a backend outage too, until `graph/schema.py` turns it into `ServiceUnavailable`."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return True
    return error.path is None


class ServiceUnavailable(GraphQLError):
    """A backend the request needs is down or overloaded: retry later. (A mutation runs in one
    transaction, so one that failed this way changed nothing in the database; a trade whose
    commit a lost connection cut off is retried or found committed by the trading core,
    `trading.failover`, and fails so only when neither could be done in time.)"""

    def __init__(
        self, backend: Backend, retry_after_seconds: int, *, at: GraphQLError | None = None
    ) -> None:
        """`at`: the error this one replaces, whose place in the query it keeps."""
        super().__init__(
            f"{_DESCRIPTIONS[backend]}. Try again in {retry_after_seconds} seconds.",
            nodes=at.nodes if at else None,
            source=at.source if at else None,
            positions=at.positions if at else None,
            path=at.path if at else None,
            extensions={"code": SERVICE_UNAVAILABLE, "retryAfterSeconds": retry_after_seconds},
        )
        self.backend = backend


def unavailable_backend(error: BaseException | None) -> Backend | None:
    """Which backend `error` says is unreachable (looking through its causes), or None when
    it is not an outage. Errors of a reachable backend (a constraint, bad SQL) are not."""
    for cause in _causes(error):
        if isinstance(cause, ServiceUnavailable):
            return cause.backend
        if isinstance(cause, DatabaseUnavailable | PoolTimeoutError | OperationalError):
            return "database"
        if isinstance(cause, DBAPIError) and database_gone(cause):
            return "database"
        if isinstance(cause, RedisConnectionError | RedisTimeoutError):
            return "cache"
        if isinstance(cause, BackendUnavailable):
            return "streaming"
    return None


def outage_cause(error: BaseException) -> str:
    """The innermost cause of an outage in one line, for a log without a traceback."""
    causes = list(_causes(error))
    root = causes[-1]
    return f"{type(root).__name__}: {root}"


def _causes(error: BaseException | None) -> Iterator[BaseException]:
    """`error`, then what it wraps: a GraphQLError's original error, `raise ... from`, and
    the error being handled when it was raised. Bounded, so a cycle cannot loop forever."""
    for _ in range(8):
        if error is None:
            return
        yield error
        if isinstance(error, GraphQLError) and error.original_error is not None:
            error = error.original_error
        else:
            error = error.__cause__ or error.__context__
