"""GraphQL errors a client may see: clear messages, never stack traces.

Expected errors (bad input, not signed in, limits) are GraphQLErrors with a `code` extension;
anything else is a bug, logged with its traceback and masked to "Unexpected error." (see
`graph/schema.py`).
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLError


class BadInput(GraphQLError):
    """Arguments that cannot be served as given."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT"})


def parse_id(value: strawberry.ID | str, what: str) -> int:
    """A numeric id from a GraphQL ID; BadInput naming the object when it is not one."""
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        raise BadInput(f"{value!r} is not a {what} id")
    return int(text)


def is_expected(error: GraphQLError) -> bool:
    """Validation and parse errors have no original error; ours and Strawberry's are
    GraphQLErrors; variable coercion errors carry no path. Everything else is unexpected."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return True
    return error.path is None
