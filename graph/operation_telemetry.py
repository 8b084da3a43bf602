"""What an operator sees of each GraphQL operation: its duration and outcome in
`trado_graphql_operation_seconds{operation,type,outcome}`, and its name, type and caller on
every line logged while it runs (`streaming.log_context`)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from streaming.log_context import logging_with
from streaming.metrics import GRAPHQL_OPERATIONS

MAX_OPERATION_NAMES = 200  # label values a process gives names; the rest count as "other"
ANONYMOUS = "anonymous"
OTHER = "other"
MAX_ERROR_CODES = 10  # distinct codes an operation reports at most
UNKNOWN_TYPE = "unknown"  # a document that did not parse names no operation type


class OperationNames:
    """The operation names a process has labelled, at most `limit`: a label set bounded
    whatever names clients send."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._seen:
            return name
        if len(self._seen) < self._limit:
            self._seen.add(name)
            return name
        return OTHER


NAMES = OperationNames()


class OperationTelemetry(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        context = self.execution_context
        user = getattr(context.context, "user", None)
        with logging_with(operation=context.operation_name, user_id=getattr(user, "id", None)):
            yield
        codes = error_codes(context)
        GRAPHQL_OPERATIONS.labels(
            NAMES.label(context.operation_name), type_of(context), codes[0] if codes else "ok"
        ).observe(time.perf_counter() - started)

    def on_execute(self) -> Iterator[None]:
        with logging_with(operation_type=type_of(self.execution_context)):
            yield


def type_of(context: ExecutionContext) -> str:
    try:
        return context.operation_type.value
    except RuntimeError:  # no document: it did not parse
        return UNKNOWN_TYPE


def error_codes(context: ExecutionContext) -> list[str]:
    """The errors' codes, in order (none: it went well); an error without one is named as
    Apollo's servers name it: the document did not parse, did not validate, or a resolver
    failed."""
    if context.pre_execution_errors:
        errors, default = context.pre_execution_errors, _refused(context)
    elif context.result is not None and context.result.errors:
        errors, default = context.result.errors, "INTERNAL_SERVER_ERROR"
    else:
        return []
    codes = (str((error.extensions or {}).get("code") or default) for error in errors)
    return list(dict.fromkeys(codes))[:MAX_ERROR_CODES]


def _refused(context: ExecutionContext) -> str:
    if context.graphql_document is None:
        return "GRAPHQL_PARSE_FAILED"
    return "GRAPHQL_VALIDATION_FAILED"
