"""Every part of Strawberry that Trado uses without Strawberry publishing it, in one place.

Strawberry documents its schema, types, schema extensions and the views' overridable methods
(`get_context`, `process_result`, `encode_json`, `on_ws_connect`, ...); what Trado needs beyond
those is listed here, each with why no public API serves. `tests/test_library_contracts.py`
checks every one against the installed Strawberry, and `make upgrade-check` runs it on the
newest release; `pyproject.toml` bounds Strawberry below the first release not yet checked.

Undocumented classes, subclassed (their protected methods are the hooks overridden):

- `BaseGraphQLTransportWSHandler` and its `Operation`, `BaseGraphQLWSHandler`: the
  `graphql-transport-ws` and legacy `graphql-ws` handlers a view picks through its
  `graphql_transport_ws_handler_class` / `graphql_ws_handler_class` attributes. Trado's
  subclasses (`delivery/router.py`) override `handle`, `handle_message`,
  `handle_async_results`, `handle_subscribe`, `handle_connection_init`, `run_operation`,
  `forget_id`, `send_message`, `cleanup_operation` and `shutdown`: nothing public lets an
  operation write through a connection's shared outbox, or keeps the socket open for one
  operation's error. On the lean socket, `TransportWSHandler.receive` takes each message as
  `handle`'s loop would (`on_request_accepted` first, `handle_message`,
  `handle_invalid_message`, `shutdown`), so no task waits for the next message; and what a
  connection would otherwise hold for its life is let go of: the cancelled
  `connection_init_timeout_task`, and a streaming `Operation`'s finished `task`, `query` and
  `variables`.
- `StrawberryGraphQLCoreExecutionContext`: the graphql-core execution context Strawberry
  builds resolvers' `Info` with; `delivery/execution.py` subclasses it (the schema's
  `execution_context_class` takes any graphql-core one, but only Strawberry's gives `Info` its
  `operation_extensions`).
- `AsyncWebSocketAdapter`: what Strawberry's handlers read and write a WebSocket through;
  `delivery/lean_websocket.py` adapts its lean socket to it. No public way to serve a socket
  that is not the framework's.
- `AsyncTextStream`, `HTTPStreamTransport`, `SSETransport`, `MultipartSubscriptionTransport`
  (`strawberry.http.streaming`): the SSE and multipart framing of the HTTP streams, which the
  view's private streaming hooks below take and return. `delivery/http_streams.py` and
  `delivery/router.py` read a transport's `headers`, `accepts`, `heartbeat_message`,
  `heartbeat_interval`, `send_initial_heartbeat`, `encode_complete` and (multipart)
  `separator`, to write the same framing from the shared fan-out.

Private names:

- `_get_pre_execution_close_reason` (a graphql-transport-ws handler's): whether a syntax error
  or unknown `operationName` closes the whole socket (4400); Trado answers the one operation
  instead. Exposed to subclasses here as `pre_execution_close_reason`.
- `_get_stream_transport_from_headers`, `_stream_result`, `_process_stream_result` (the HTTP
  view's): which requests stream (SSE, multipart), how a subscription's results become the
  streamed body, and one result's JSON. Trado streams only when `Accept` prefers it and sends
  live results through the shared fan-out. Exposed here as `stream_transport`,
  `stream_result` and `process_stream_result`.
- `Schema._schema`: the graphql-core schema Strawberry builds (the query cost walks its
  fields); Strawberry offers no accessor. Read through `core_schema`.
- `ExecutionContext._provided_operation_name`: the `operationName` the request gave; the public
  `operation_name` falls back to the first operation's, so a document of several operations
  without one cannot be told apart. Read through `provided_operation_name`.
- `strawberry.schema.schema.validate_document`: graphql-core's validation with the rules
  Strawberry adds to every document (its `Maybe` and `@oneOf` checks), which its own
  `ValidationCache` calls; `graph/document_cache.py` caches it by document identity. Read
  through `validate_document`.
- `Info._raw_info`: graphql-core's `GraphQLResolveInfo` (`field_nodes`, `fragments`,
  `operation`, `schema`) from which a shared subscription builds its executor; Strawberry's
  `Info` publishes `selected_fields` (its own conversion), not the AST nodes. Read through
  `resolve_info`.
- `GraphQLCoreConverter.DEFINITION_BACKREF` (the `extensions` key under which each
  graphql-core field keeps the `StrawberryField` it was built from) and what a compiled shared
  selection reads of that field to know that Strawberry would read it plainly: its
  `base_resolver` (and the resolver's `arguments`, reserved `self`/`info`/`root`/`parent`
  parameters and `wrapped_func`), `extensions`, `is_async`, `is_subscription`, `python_name`
  and `default_resolver`. Strawberry resolves every field through a closure of its own, with
  no public word on what that closure does. Read through `plain_reader` and `is_event_field`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLField,
    GraphQLResolveInfo,
    GraphQLSchema,
)
from starlette.requests import Request
from strawberry import Schema
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.streaming import (
    AsyncTextStream,
    HTTPStreamTransport,
    MultipartSubscriptionTransport,
    SSETransport,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema import validate_document as _validate_document
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionContext, Info, SubscriptionExecutionResult
from strawberry.types.field import StrawberryField

__all__ = [
    "AsyncTextStream",
    "AsyncWebSocketAdapter",
    "BaseGraphQLWSHandler",
    "HTTPStreamTransport",
    "MultipartSubscriptionTransport",
    "Operation",
    "SSETransport",
    "StrawberryGraphQLCoreExecutionContext",
    "StreamingHooks",
    "TransportWSHooks",
    "core_schema",
    "is_event_field",
    "plain_reader",
    "provided_operation_name",
    "resolve_info",
    "validate_document",
]

ContextT = TypeVar("ContextT")
RootValueT = TypeVar("RootValueT")


class TransportWSHooks(BaseGraphQLTransportWSHandler[ContextT, RootValueT]):
    """Strawberry's graphql-transport-ws handler with its private hook given a public name."""

    def pre_execution_close_reason(self, error: GraphQLError) -> str | None:
        """The close reason for an operation refused before execution, None to keep the
        socket open (Strawberry's default closes it for a syntax error or unknown name)."""
        return BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)

    def _get_pre_execution_close_reason(self, error: GraphQLError) -> str | None:  # type: ignore[override]
        return self.pre_execution_close_reason(error)


class StreamingHooks(GraphQLRouter[ContextT, RootValueT]):
    """Strawberry's FastAPI router with its private HTTP streaming hooks given public names."""

    def stream_transport(self, headers: Mapping[str, str]) -> HTTPStreamTransport | None:
        """The stream transport (SSE, multipart) a request's headers ask for, if any."""
        return super()._get_stream_transport_from_headers(headers)

    def stream_result(
        self, request: Request, result: SubscriptionExecutionResult, transport: HTTPStreamTransport
    ) -> AsyncTextStream:
        """A subscription's streamed response body."""
        return super()._stream_result(request, result, transport)

    async def process_stream_result(
        self, request: Request, value: Any, pending: list[Any]
    ) -> tuple[GraphQLHTTPResponse, list[Any]]:
        """One streamed result as its response (and the incremental results still pending)."""
        return await super()._process_stream_result(request, value, pending)

    def _get_stream_transport_from_headers(
        self, headers: Mapping[str, str]
    ) -> HTTPStreamTransport | None:
        return self.stream_transport(headers)

    def _stream_result(
        self, request: Request, result: SubscriptionExecutionResult, transport: HTTPStreamTransport
    ) -> AsyncTextStream:
        return self.stream_result(request, result, transport)


def core_schema(schema: Schema) -> GraphQLSchema:
    """The graphql-core schema behind a Strawberry schema."""
    return schema._schema


def validate_document(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    """`document` validated as Strawberry validates it: `rules` and Strawberry's own."""
    return _validate_document(schema, document, rules)


def provided_operation_name(context: ExecutionContext) -> str | None:
    """The `operationName` the request gave (None when it gave none)."""
    return context._provided_operation_name


def resolve_info(info: Info[Any, Any]) -> GraphQLResolveInfo[Any]:
    """graphql-core's resolve info behind a Strawberry `Info`."""
    return info._raw_info


def _strawberry_field(field: GraphQLField) -> StrawberryField | None:
    found = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return found if isinstance(found, StrawberryField) else None


def plain_reader(field: GraphQLField) -> str | Callable[[Any], Any] | None:
    """What Strawberry's resolver of `field` comes down to, when it is a plain read of the
    object: an attribute, by name (the default resolver), or a method of the type that takes
    nothing but the object (`Quote.day`). None for anything else: arguments, `info`, field
    extensions (permissions among them), an async resolver, or a field Strawberry did not
    build."""
    defined = _strawberry_field(field)
    if defined is None or field.args or defined.extensions or defined.is_async:
        return None
    resolver = defined.base_resolver
    if resolver is None:
        return defined.python_name if defined.default_resolver is getattr else None
    takes_more = (
        resolver.arguments
        or resolver.info_parameter
        or resolver.root_parameter
        or resolver.parent_parameter
    )
    if takes_more or resolver.self_parameter is None or not callable(resolver.wrapped_func):
        return None
    return resolver.wrapped_func  # what Strawberry calls, with the object as `self`


def is_event_field(field: GraphQLField) -> bool:
    """A subscription field, which Strawberry resolves for each event to the event itself."""
    defined = _strawberry_field(field)
    return defined is not None and defined.is_subscription
