"""The schema with its abuse limits, built from settings."""

from __future__ import annotations

from functools import partial

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig

from graph.query import Query
from graph.scalars import SCALARS
from graph.subscription import Subscription
from settings import Settings


def make_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[
            partial(QueryDepthLimiter, max_depth=settings.max_query_depth),
            partial(MaxTokensLimiter, max_token_count=settings.max_query_tokens),
            partial(MaxAliasesLimiter, max_alias_count=settings.max_aliases),
        ],
    )
