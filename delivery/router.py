"""The GraphQL router: GraphQL over HTTP as specified, and both WebSocket protocols with the
same limits.

Over HTTP, Strawberry's view with the spec's rules (`delivery/graphql_http.py`): the response
media type negotiated from `Accept` (406 when none fits), 415 for a body that is not JSON, 400
for one that is not a JSON object or has a parameter of the wrong type, 405 with `Allow` for a
mutation over GET, and these errors as JSON `{"errors": [...]}` rather than plain text.

`graphql-transport-ws` is Strawberry's own handler: close 4400 for a message that is not the
protocol's, 4401 for a subscribe before the acknowledgement, 4403 when `on_ws_connect`
refuses, 4408 when `connection_init` does not come in time, 4409 for a reused operation id
and 4429 for a second `connection_init`. One operation's fault never closes the socket: a
syntax or validation error, an unknown `operationName`, a limit, or more operations than
`MAX_SUBSCRIPTIONS_PER_CONNECTION` get an `error` message for that operation's id, and the
connection and its other operations go on (on the legacy protocol too).

The legacy `graphql-ws` (subscriptions-transport-ws) handler is Strawberry's too, completed
here with what that protocol's reference server does and Strawberry's lacks: an `error`
message for a message it cannot read (the legacy protocol does not close for these), the
connection-init timeout (closed with 4408, as the newer protocol does) and a refusal of a
second `connection_init` (4429), so a connection's identity is fixed by its first one.

On `graphql-transport-ws`, each operation runs with `LIVE_OPERATION` set, so a `quotes`
subscription can join the shared fan-out (`delivery/fanout.py`) and write its frames through
the connection's `Outbox` rather than through Strawberry's per-subscriber stream; so does each
HTTP stream (`delivery/http_streams.py`: SSE and multipart) and each operation of graphql-sse's
single connection mode (`delivery/event_streams.py`: PUT, then GET, POST and DELETE with the
stream's token).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from contextvars import ContextVar
from functools import partial
from typing import Any, Protocol, cast

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.http.parse_content_type import parse_content_type
from strawberry.http.types import QueryParams
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    Message as TransportWSMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage
from strawberry.types import ExecutionResult, SubscriptionExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from delivery.connection_counts import counted, live_connections
from delivery.event_streams import EventStreams, StreamError, event_stream_token
from delivery.fanout import LIVE_OPERATION, LiveFanout, LiveOperation, Membership
from delivery.graphql_http import (
    APPLICATION_JSON,
    RequestRefused,
    content_type_refusal,
    error_response,
    is_request_error,
    not_acceptable,
    prefers_stream,
    response_media_type,
    response_status,
    wrong_operation_type,
)
from delivery.http_streams import FrameResult, LivePath, live_stream
from delivery.lean_websocket import LeanSocketAdapter, LeanWebSocket, Message, json_message
from delivery.outbox import Flusher, Outbox
from delivery.persisted_queries import PersistedQueries, PersistedQueryError
from delivery.strawberry_internals import (
    AsyncTextStream,
    BaseGraphQLWSHandler,
    HTTPStreamTransport,
    Operation,
    SSETransport,
    StreamingHooks,
    TransportWSHooks,
)
from delivery.uvicorn_internals import CHUNKS_EXTENSION, FRAMES_EXTENSION
from streaming.runtime import Runtime
from trading.echo import echo

log = logging.getLogger(__name__)

LEGACY_TYPES = {"connection_init", "connection_terminate", "start", "stop"}
# The media type the current HTTP request's GraphQL response goes out in (set by `run`).
RESPONSE_MEDIA_TYPE: ContextVar[str] = ContextVar("RESPONSE_MEDIA_TYPE", default=APPLICATION_JSON)


class ConnectionContext(Protocol):
    """What the router needs of the schema's context."""

    runtime: Runtime

    async def refuses_connection(self) -> bool:
        """Whether `connection_init` carried credentials that name no account."""
        ...


def overlong_operation_name(payload: Any, context: ConnectionContext) -> GraphQLError | None:
    """An `operationName` longer than MAX_STRING_LENGTH, refused on a WebSocket before
    Strawberry's "Unknown operation named ..." would send it back whole (over HTTP that
    message quotes it cut short)."""
    name = payload.get("operationName") if isinstance(payload, dict) else None
    limit = context.runtime.settings.max_string_length
    if not isinstance(name, str) or len(name) <= limit:
        return None
    message = f"An operationName is {len(name)} characters long; at most {limit} are accepted."
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


class LiveConnection:
    """A WebSocket whose live operations write their frames through one `Outbox`."""

    view: TradoGraphQLRouter
    websocket: Any
    _outbox: Outbox | None = None

    def live_outbox(self) -> Outbox:
        if self._outbox is None and isinstance(self.websocket, LeanSocketAdapter):
            socket = self.websocket.socket
            self._outbox = Outbox(
                limit=self.view.buffer_messages,
                direct=socket,
                flusher=self.view.flusher,
            )
        if self._outbox is None:
            websocket = cast(ASGIWebSocketAdapter, self.websocket).ws

            async def send(frame: bytes) -> None:
                await websocket.send_text(frame.decode())

            self._outbox = Outbox(
                limit=self.view.buffer_messages,
                send=send,
                direct=websocket.scope.get("extensions", {}).get(FRAMES_EXTENSION),
                flusher=self.view.flusher,
            )
        return self._outbox

    async def close_outbox(self) -> None:
        if self._outbox is not None:
            await self._outbox.close()


class LegacyGraphQLWSHandler(LiveConnection, BaseGraphQLWSHandler[ConnectionContext, None]):
    view: TradoGraphQLRouter
    _initialised = False

    async def handle(self) -> None:
        timeout = self.view.connection_init_wait_timeout.total_seconds()
        watchdog = asyncio.create_task(self._close_unless_initialised(timeout))
        try:
            with counted("graphql-ws"):
                await super().handle()
        finally:
            watchdog.cancel()
            with suppress(asyncio.CancelledError):
                await watchdog
            await self.close_outbox()

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        """Each operation may join the shared fan-out, its frames the protocol's `data`."""
        live = LiveOperation.on_websocket(
            operation_id, self.live_outbox(), self.view.fanout, message_type="data"
        )
        LIVE_OPERATION.set(live)
        await super().handle_async_results(operation_id, query, operation_name, variables)

    async def _close_unless_initialised(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not self._initialised:
            await self.websocket.close(code=4408, reason="Connection initialisation timeout")

    async def handle_message(self, message: OperationMessage) -> None:
        raw: Any = message
        if not isinstance(raw, dict) or raw.get("type") not in LEGACY_TYPES:
            kind = raw.get("type") if isinstance(raw, dict) else None
            await self._error(None, f"Unknown message type: {echo(kind)!r}")
            return
        if raw["type"] == "connection_init":
            if self._initialised:
                await self.websocket.close(code=4429, reason="Too many initialisation requests")
                return
            self._initialised = True
        if raw["type"] in ("start", "stop") and not isinstance(raw.get("id"), str):
            await self._error(None, "An operation needs a string id")
            return
        if raw["type"] == "start" and not (
            isinstance(raw.get("payload"), dict) and isinstance(raw["payload"].get("query"), str)
        ):
            await self._error(raw["id"], "start needs a payload with a query")
            return
        if raw["type"] == "start":
            too_long = overlong_operation_name(raw["payload"], self.context)
            if too_long is not None:
                await self._error(raw["id"], too_long.message)
                return
            refused = await self.view.refused_document(raw["payload"])
            if refused is not None:
                await self._error(raw["id"], refused.message)
                return
        await super().handle_message(message)

    async def _error(self, operation_id: str | None, text: str) -> None:
        message: dict[str, Any] = {"type": "error", "payload": {"message": text}}
        if operation_id is not None:
            message["id"] = operation_id
        await self.websocket.send_json(message)


class TransportWSHandler(LiveConnection, TransportWSHooks[ConnectionContext, None]):
    """Strawberry's handler; an operation on the shared fan-out ends its task once it streams
    (its `Membership` is kept here until the client completes it or the socket closes), so
    a live subscription costs no parked task, coroutines or execution context. On the lean
    socket the connection parks none either: `receive` takes each message as it comes."""

    view: TradoGraphQLRouter

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._streaming: dict[str, Membership] = {}

    async def handle(self) -> None:
        with counted("graphql-transport-ws"):
            await super().handle()

    def open(self) -> None:
        """The lean socket's start of `handle`: counted, and the wait for `connection_init`."""
        live_connections("graphql-transport-ws").inc()
        self.on_request_accepted()

    async def receive(self, message: Message) -> bool:
        """One message of the lean socket, taken as `handle` takes each (the same answers to
        a message that is not JSON text, the same shutdown at the end); False once the
        handler has ended."""
        ended = True
        try:
            try:
                await self.handle_message(cast(TransportWSMessage, json_message(message)))
                ended = False
            except NonTextMessageReceived:
                await self.handle_invalid_message("WebSocket message type must be text")
            except NonJsonMessageReceived:
                await self.handle_invalid_message("WebSocket message must be valid JSON")
        except WebSocketDisconnected:
            pass
        finally:
            if ended:
                try:
                    await self.shutdown()
                finally:
                    live_connections("graphql-transport-ws").dec()
        return not ended

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        """Strawberry cancels its wait for `connection_init` here but keeps the task, whose
        cancellation would hold a traceback, frames and a timer for the connection's life.
        Let go of it (the loop holds it until it has finished cancelling)."""
        await super().handle_connection_init(message)
        if self.connection_init_received:
            self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """An operation the persisted-query rules refuse (a document off the allow-list, a
        hash not found) gets an `error` for its id; the socket goes on."""
        payload = cast(dict[str, Any], message["payload"])
        too_long = overlong_operation_name(payload, self.context)
        if too_long is not None:
            await self.send_message(
                ErrorMessage(id=message["id"], type="error", payload=[too_long.formatted])
            )
            return
        refused = await self.view.refused_document(payload)
        if refused is not None:
            error = GraphQLError(refused.message, extensions={"code": refused.code})
            await self.send_message(
                ErrorMessage(id=message["id"], type="error", payload=[error.formatted])
            )
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[ConnectionContext, None]) -> None:
        live = LiveOperation.on_websocket(
            operation.id,
            self.live_outbox(),
            self.view.fanout,
            message_type="next",
            detached=partial(self._streaming.__setitem__, operation.id),
        )
        LIVE_OPERATION.set(live)
        await super().run_operation(operation)
        if operation.id in self._streaming and self.operations.get(operation.id) is operation:
            # Streaming, its task over: only its id's place is kept (a finished task holds
            # its coroutine and context, the LiveOperation among it), not its document.
            operation.task = None
            operation.query, operation.variables = "", None

    def forget_id(self, id: str) -> None:
        """A streaming operation stays registered (its id in use) after its task ends."""
        if id not in self._streaming:
            super().forget_id(id)

    async def send_message(self, message: Any) -> None:
        """The `complete` Strawberry sends when a streaming operation's task ends is not the
        operation's end: the stream goes on."""
        if message.get("type") == "complete" and message.get("id") in self._streaming:
            return
        await super().send_message(message)

    async def cleanup_operation(self, operation_id: str) -> None:
        membership = self._streaming.pop(operation_id, None)
        operation = self.operations.get(operation_id)
        if operation is not None and operation.task is None:  # streaming: its task is over
            del self.operations[operation_id]
        else:
            await super().cleanup_operation(operation_id)
        if membership is not None:
            await membership.leave()

    async def shutdown(self) -> None:
        await super().shutdown()
        await self.close_outbox()

    def pre_execution_close_reason(self, error: GraphQLError) -> str | None:  # noqa: ARG002 (Strawberry's hook)
        """Never close the socket for one operation's fault (a syntax error, an unknown
        `operationName`): graphql-ws clients take 4400 as fatal and would drop every other
        live subscription of the page. The operation gets an `error` message instead."""
        return None


class TradoGraphQLRouter(StreamingHooks[ConnectionContext, None]):
    graphql_ws_handler_class = LegacyGraphQLWSHandler
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(
        self,
        *args: Any,
        fanout: LiveFanout,
        buffer_messages: int,
        event_stream_route: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fanout = fanout
        self.buffer_messages = buffer_messages  # each live subscriber's backlog, then conflated
        self.flusher = Flusher()  # one per app: all connections' frames written once per turn
        self.event_streams = EventStreams(
            buffer_messages=buffer_messages,
            flusher=self.flusher,
            expiry=self.connection_init_wait_timeout.total_seconds(),
            max_operations=self.max_subscriptions_per_connection or 100,
            route=event_stream_route,
        )
        self.add_api_route(  # graphql-sse's single connection mode: reserve, stop an operation
            kwargs.get("path", ""),
            self._put_or_delete,
            methods=["PUT", "DELETE"],
            include_in_schema=False,
        )
        self.persisted_queries: PersistedQueries | None = None  # set once the cache is open
        self._connection_context = kwargs["context_getter"]  # (connection, runtime) -> context

    async def serve_lean_socket(
        self, connection: HTTPConnection, socket: LeanWebSocket
    ) -> Callable[[Message], Awaitable[bool]]:
        """A graphql-transport-ws connection on `delivery/lean_websocket.py`: the context the
        ASGI path would build, then Strawberry's handler over the lean socket, which takes
        its messages (`TransportWSHandler.receive`)."""
        context = await self._connection_context(connection, connection.app.state.runtime)
        handler = self.graphql_transport_ws_handler_class(
            view=self,
            websocket=LeanSocketAdapter(self, socket),
            context=context,
            root_value=None,
            schema=self.schema,
            connection_init_wait_timeout=self.connection_init_wait_timeout,
            max_subscriptions_per_connection=self.max_subscriptions_per_connection,
        )
        handler.open()
        return handler.receive

    async def _put_or_delete(self, request: Request) -> Response:
        response: Response = await self.run(request)
        return response

    async def refused_document(self, payload: dict[str, Any]) -> PersistedQueryError | None:
        """For a WebSocket operation: put the document a persisted-query hash names in
        `payload["query"]`, or say why the persisted-query rules refuse it."""
        if self.persisted_queries is None:
            return None
        try:
            query = payload.get("query")
            extensions = payload.get("extensions")
            payload["query"] = await self.persisted_queries.document(query, extensions)
        except PersistedQueryError as error:
            return error
        return None

    async def on_ws_connect(
        self, context: ConnectionContext
    ) -> UnsetType | dict[str, object] | None:
        """A `connection_init` whose token is bad, expired or names no account is refused:
        4403 on graphql-transport-ws, `connection_error` on the legacy protocol. A client
        learns at once that it must sign in again, rather than later from each private
        subscription. Any other is welcome with a plain `connection_ack`."""
        if await context.refuses_connection():
            raise ConnectionRejectionError({"message": "Invalid or expired token."})
        acknowledged: UnsetType = UNSET  # a plain `connection_ack`, no payload
        return acknowledged

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """HTTP: the response media type is chosen first, so a request no type fits stops at
        406; a refused request gets its status and a JSON `errors` body. (`Any`: Strawberry's
        `run` is overloaded, HTTP and WebSocket.)"""
        if self.is_websocket_request(request):
            return await super().run(request, context, root_value)
        try:
            if request.method in ("PUT", "DELETE") or event_stream_token(request) is not None:
                return await self._single_connection(request, context, root_value)
            token = RESPONSE_MEDIA_TYPE.set(self._response_media_type(request))
            try:
                return await super().run(request, context, root_value)
            finally:
                RESPONSE_MEDIA_TYPE.reset(token)
        except HTTPException as error:
            return error_response(error)

    def stream_transport(self, headers: Mapping[str, str]) -> HTTPStreamTransport | None:
        """A stream only when `Accept` prefers one to JSON (`prefers_stream`)."""
        accept = next((v for k, v in headers.items() if k.lower() == "accept"), "")
        if not prefers_stream(accept):
            return None
        return super().stream_transport(headers)

    async def _single_connection(self, request: Request, context: Any, root_value: Any) -> Response:
        """graphql-sse's single connection mode (`delivery/event_streams.py`)."""
        streams = self.event_streams
        try:
            if request.method == "PUT":
                return PlainTextResponse(streams.reserve(), status_code=201)
            stream = streams.get(event_stream_token(request) or "")
            if request.method == "DELETE":
                stream.stop(request.query_params.get("operationId") or "")
                return Response(status_code=200)
            if SSETransport().accepts(request.headers.get("accept", "")):
                return self._open_event_stream(event_stream_token(request) or "")
            data = await self.parse_http_body(self.request_adapter_class(request))
            if not isinstance(data, GraphQLRequestData):
                raise StreamError(400, "Batching is not supported for SSE")
            operation_id = streams.operation_id(stream, data.extensions)
        except StreamError as error:
            raise RequestRefused(error.status, str(error)) from None
        results = await self.schema.stream(
            data.query,
            variable_values=data.variables,
            context_value=context,
            root_value=root_value,
            operation_name=data.operation_name,
            operation_extensions=data.extensions,
            allowed_operation_types=OperationType.from_http(request.method),  # type: ignore[arg-type]
        )
        stream.run(operation_id, results, self._result_encoder(request), self.fanout)
        return Response(status_code=202)

    def _open_event_stream(self, token: str) -> Response:
        """The reserved stream's response, with the SSE transport's heartbeats."""
        transport = SSETransport()
        heartbeat = transport.heartbeat_message(self.encode_json_string).encode()
        body = self.event_streams.open(token, heartbeat, transport.heartbeat_interval)
        return StreamingResponse(body(), headers=transport.headers)

    def _result_encoder(self, request: Request) -> FrameResult:
        """Each of an operation's results as JSON, as Strawberry's HTTP streams encode them."""
        pending: list[Any] = []

        async def encode(value: object) -> bytes:
            nonlocal pending
            response, pending = await self.process_stream_result(request, value, pending)
            return orjson.dumps(response)

        return encode

    def stream_result(
        self, request: Request, result: SubscriptionExecutionResult, transport: HTTPStreamTransport
    ) -> AsyncTextStream:
        """SSE and multipart subscriptions on the shared live path (`delivery/http_streams.py`),
        with the transport's heartbeats from the same loop."""
        stream = live_stream(
            result,
            self._result_encoder(request),
            transport,
            heartbeat=transport.heartbeat_message(self.encode_json_string).encode(),
            direct=request.scope.get("extensions", {}).get(CHUNKS_EXTENSION),
            path=LivePath(self.fanout, self.flusher, self.buffer_messages),
        )
        return stream or super().stream_result(request, result, transport)

    def should_render_graphql_ide(self, request: Any) -> bool:
        """A GET that carries `extensions` (a persisted query's hash) is an operation, not a
        browser asking for the explorer."""
        return "extensions" not in request.query_params and super().should_render_graphql_ide(
            request
        )

    def _response_media_type(self, request: Request) -> str:
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            return APPLICATION_JSON  # the page is HTML: nothing to negotiate
        if self.stream_transport(request.headers) is not None:
            return APPLICATION_JSON  # SSE or multipart: the stream's own framing
        media_type = response_media_type(request.headers.get("accept"))
        if media_type is None:
            raise not_acceptable()
        return media_type

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST":
            content_type, _ = parse_content_type(request.content_type or "")
            if content_type != APPLICATION_JSON:  # as Strawberry reads it: lower case
                raise content_type_refusal(content_type)
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData) and not isinstance(data.operation_name, str | None):
            raise HTTPException(
                400,
                "The GraphQL operation's `operationName` must be a string or null, if provided.",
            )
        if isinstance(data, GraphQLRequestData) and self.persisted_queries is not None:
            try:
                data.query = await self.persisted_queries.document(data.query, data.extensions)
            except PersistedQueryError as error:
                raise RequestRefused(error.status, error.message, code=error.code) from None
        return data

    def parse_query_params(self, params: QueryParams) -> dict[str, Any]:
        """An empty parameter in a GET counts as absent (`?query=...&variables=`)."""
        return super().parse_query_params({k: v for k, v in params.items() if v != ""})

    def parse_json(self, data: str | bytes) -> Any:
        """A request body, or a GET's `variables` or `extensions`: JSON in UTF-8, and an object
        (a list is Strawberry's batch, refused: batching is off)."""
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        if not isinstance(value, dict | list):
            shown = echo(orjson.dumps(value).decode())
            raise HTTPException(400, f"Expected a JSON object, got JSON {shown}")
        return value

    async def execute_single(  # noqa: PLR0917 (Strawberry's hook)
        self,
        request: Request,  # noqa: ARG002 (Strawberry's hook: its arguments)
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,  # noqa: ARG002
        context: ConnectionContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry's, but a subscription only runs where it can stream (the transports
        above); sent as a plain request it gets a clear refusal, as a mutation over GET does."""
        method = request_adapter.method
        allowed = OperationType.from_http(method) - {OperationType.SUBSCRIPTION}
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as error:
            raise wrong_operation_type(error.operation_type) from error
        except CannotGetOperationTypeError as error:
            name = error.operation_name
            reason = (
                f'Unknown operation named "{echo(name)}".' if name else error.as_http_error_reason()
            )
            raise HTTPException(400, reason) from error
        except MissingQueryError as error:
            raise HTTPException(400, "No GraphQL query found in the request") from error

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """A request error has no `data` entry (GraphQL spec, "Response Format")."""
        response = await super().process_result(request, result)
        if is_request_error(result):
            response.pop("data", None)
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        media_type = RESPONSE_MEDIA_TYPE.get()
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = f"{media_type}; charset=utf-8"
        if not sub_response.status_code:
            request_error = isinstance(response_data, dict) and "data" not in response_data
            response.status_code = response_status(media_type, request_error)
        return response

    def encode_json(self, data: object) -> str:
        """orjson: every live message is encoded once per subscriber, so this is hot. Text,
        not bytes, so WebSocket messages stay text frames."""
        return orjson.dumps(data).decode()
