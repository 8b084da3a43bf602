"""The schema with its abuse limits and error policy, built from settings."""

from __future__ import annotations

import logging
from functools import partial

import strawberry
from graphql import (
    ASTValidationRule,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
)
from strawberry.extensions import MaskErrors
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from delivery.execution import TradoExecutor
from graph.document_cache import document_cache
from graph.document_limits import alias_limit, depth_limit
from graph.errors import ServiceUnavailable, is_expected, outage_cause, unavailable_backend
from graph.mutation import Mutation
from graph.operation_telemetry import OperationTelemetry
from graph.operation_tracing import OperationTracing
from graph.query import Query
from graph.request_limits import request_limits
from graph.scalars import SCALARS
from graph.subscription import Subscription
from settings import Settings

log = logging.getLogger("trado.graphql")
DOCUMENT_CACHE_SIZE = 512  # distinct query texts kept parsed and validated (LRU)


class TradoSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Expected errors are the client's business (DEBUG); a backend outage is logged once
        per operation and backend, in one line (every field of a query fails alike, and a
        traceback per field would flood the log just when it matters); anything else is a
        bug, logged with its traceback before `OutagesAndMasking` hides it from the client."""
        outages: dict[str, GraphQLError] = {}
        for error in errors:
            backend = unavailable_backend(error)
            if backend is not None:
                outages.setdefault(backend, error)
            elif is_expected(error):
                log.debug("graphql user error: %s", error.message)
            else:
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)
        for name, first in outages.items():
            log.warning(
                "%s unavailable during %s (%s)",
                name,
                _operation(execution_context, first),
                outage_cause(first),
            )


def _operation(execution_context: ExecutionContext | None, error: GraphQLError) -> str:
    """`query Name` when the operation has a name, else the kind and the failing field."""
    kind = execution_context.operation_type.value if execution_context else "operation"
    if execution_context and execution_context.operation_name:
        return f"{kind} {execution_context.operation_name}"
    if error.path:
        return f"{kind} at {'.'.join(map(str, error.path))}"
    return f"anonymous {kind}"


class OutagesAndMasking(MaskErrors):
    """Strawberry's MaskErrors, with one exception: an error that is a backend outage reaches
    the client as `ServiceUnavailable` (code SERVICE_UNAVAILABLE, which backend, when to
    retry) instead of "Unexpected error.". Subscriptions' events pass through here too."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(should_mask_error=lambda error: not is_expected(error))
        self.retry_after_seconds = retry_after_seconds

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        backend = unavailable_backend(error)
        if backend is None:
            return super().anonymise_error(error)
        return ServiceUnavailable(backend, self.retry_after_seconds, at=error)


def make_schema(settings: Settings) -> strawberry.Schema:
    """Parsing and validation are cached per query text: clients send the same few documents
    over and over, and the two were a large share of a small query's CPU. The depth and alias
    limits are built once, so a cached validation is keyed by the same rules each time.
    Introspection, when off, is one more validation rule: refused before execution, on HTTP
    and every subscription transport alike."""
    limits: list[type[ASTValidationRule]] = [
        depth_limit(settings.max_query_depth),
        alias_limit(settings.max_aliases),
    ]
    if not settings.allows_introspection:  # `__schema` and `__type` refused; `__typename` not
        limits.append(NoSchemaIntrospectionCustomRule)
    return TradoSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=TradoExecutor,
        extensions=[
            *([OperationTracing] if settings.traces_endpoint else []),
            document_cache(DOCUMENT_CACHE_SIZE),
            request_limits(
                max_tokens=settings.max_query_tokens,
                rules=limits,
                max_string_length=settings.max_string_length,
                max_cost=settings.max_query_cost,
            ),
            OperationTelemetry,
            partial(OutagesAndMasking, settings.service_unavailable_retry_after_seconds),
        ],
    )
