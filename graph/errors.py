"""GraphQL errors a client may see: clear messages, never stack traces."""

from __future__ import annotations

from graphql import GraphQLError


class BadInput(GraphQLError):
    """Arguments that cannot be served as given."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT"})
