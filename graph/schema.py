"""The schema with its abuse limits and error policy, built from settings."""

from __future__ import annotations

import logging
from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graph.errors import is_expected
from graph.mutation import Mutation
from graph.query import Query
from graph.scalars import SCALARS
from graph.subscription import Subscription
from settings import Settings

log = logging.getLogger("trado.graphql")


class TradoSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Expected errors are the client's business (DEBUG); anything else is a bug, logged
        with its traceback before MaskErrors hides it from the client."""
        for error in errors:
            if is_expected(error):
                log.debug("graphql user error: %s", error.message)
            else:
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)


def make_schema(settings: Settings) -> strawberry.Schema:
    return TradoSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[
            partial(QueryDepthLimiter, max_depth=settings.max_query_depth),
            partial(MaxTokensLimiter, max_token_count=settings.max_query_tokens),
            partial(MaxAliasesLimiter, max_alias_count=settings.max_aliases),
            partial(MaskErrors, should_mask_error=lambda error: not is_expected(error)),
        ],
    )
