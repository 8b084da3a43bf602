"""A span per GraphQL operation, with its resolvers that do I/O beneath it (and, beneath
those, the database and Redis calls the instrumentation packages trace): on the schema only
when tracing is on (`Settings.traces_endpoint`), so an untraced process runs no hook of it.

The span is named as OpenTelemetry's GraphQL conventions say (`query portfolio`) and carries
the operation's name, type and cost, the caller, and the error codes of a failed one. A
subscription's span is its start: it ends once the opening is sent (`delivery.tracing`), at
its first result on Strawberry's own path, or when it fails to start; its events are counted
by the metrics, never spanned."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from graphql import GraphQLResolveInfo
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionContext, StreamExecutionResult

from delivery.tracing import STARTING, subscription_started
from graph.operation_telemetry import error_codes, type_of
from trading.tracing import TRACER

OPERATION = "graphql.operation.name"
OPERATION_TYPE = "graphql.operation.type"
ERROR_CODES = "graphql.error.codes"
USER = "enduser.id"
UNNAMED = "GraphQL Operation"  # the span's name until the document names the operation


class OperationTracing(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        span = TRACER.start_span(UNNAMED)
        token = otel_context.attach(trace.set_span_in_context(span))
        starting = STARTING.set(span)
        try:
            yield
        finally:
            if span.is_recording():  # a subscription's start span ended when it started
                _describe(span, self.execution_context, final=True)
                span.end()
            STARTING.reset(starting)
            otel_context.detach(token)

    def on_execute(self) -> Iterator[None]:
        span = STARTING.get()
        if span is not None:
            _describe(span, self.execution_context, final=False)
        yield

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:  # noqa: ARG002
        yield
        subscription_started()  # Strawberry's own path: the first result is the opening

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: str,
        **kwargs: Any,
    ) -> Any:
        result = _next(root, info, *args, **kwargs)
        if not inspect.iscoroutine(result):  # plain reads and batched loads: no span
            return result
        return _traced(result, f"{info.parent_type.name}.{info.field_name}")


async def _traced(result: Awaitable[Any], name: str) -> Any:
    with TRACER.start_as_current_span(name, attributes={"graphql.field.path": name}):
        return await result


def _describe(span: Span, context: ExecutionContext, *, final: bool) -> None:
    """The span's name and attributes from what the operation has come to know."""
    kind, name = type_of(context), context.operation_name
    span.update_name(f"{kind} {name}" if name else kind)
    span.set_attribute(OPERATION_TYPE, kind)
    if name:
        span.set_attribute(OPERATION, name)
    user_id = getattr(getattr(context.context, "user", None), "id", None)
    if user_id is not None:
        span.set_attribute(USER, str(user_id))
    if not final:
        return
    codes = error_codes(context)
    if codes:
        span.set_attribute(ERROR_CODES, codes)
        span.set_status(Status(StatusCode.ERROR, codes[0]))
