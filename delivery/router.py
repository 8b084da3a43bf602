"""The GraphQL router: both WebSocket protocols with the same limits.

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
the connection's `Outbox` rather than through Strawberry's per-subscriber stream.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any, Protocol, cast

import orjson
from graphql import GraphQLError
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage
from strawberry.types.unset import UNSET, UnsetType

from delivery.fanout import LIVE_OPERATION, LiveOperation, QuoteFanout
from delivery.outbox import Flusher, Outbox
from delivery.websocket_frames import FRAMES_EXTENSION
from streaming.runtime import Runtime

log = logging.getLogger(__name__)

LEGACY_TYPES = {"connection_init", "connection_terminate", "start", "stop"}


class ConnectionContext(Protocol):
    """What the router needs of the schema's context."""

    runtime: Runtime

    async def refuses_connection(self) -> bool:
        """Whether `connection_init` carried credentials that name no account."""
        ...


class LegacyGraphQLWSHandler(BaseGraphQLWSHandler[ConnectionContext, None]):
    _initialised = False

    async def handle(self) -> None:
        timeout = self.view.connection_init_wait_timeout.total_seconds()
        watchdog = asyncio.create_task(self._close_unless_initialised(timeout))
        try:
            await super().handle()
        finally:
            watchdog.cancel()
            with suppress(asyncio.CancelledError):
                await watchdog

    async def _close_unless_initialised(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not self._initialised:
            await self.websocket.close(code=4408, reason="Connection initialisation timeout")

    async def handle_message(self, message: OperationMessage) -> None:
        raw: Any = message
        if not isinstance(raw, dict) or raw.get("type") not in LEGACY_TYPES:
            kind = raw.get("type") if isinstance(raw, dict) else None
            await self._error(None, f"Unknown message type: {kind!r}")
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
        await super().handle_message(message)

    async def _error(self, operation_id: str | None, text: str) -> None:
        message: dict[str, Any] = {"type": "error", "payload": {"message": text}}
        if operation_id is not None:
            message["id"] = operation_id
        await self.websocket.send_json(message)


class TransportWSHandler(BaseGraphQLTransportWSHandler[ConnectionContext, None]):
    view: TradoGraphQLRouter
    _outbox: Outbox | None = None

    async def run_operation(self, operation: Operation[ConnectionContext, None]) -> None:
        LIVE_OPERATION.set(LiveOperation(operation.id, self._live_outbox(), self.view.fanout))
        await super().run_operation(operation)

    def _live_outbox(self) -> Outbox:
        if self._outbox is None:
            websocket = cast(ASGIWebSocketAdapter, self.websocket).ws

            async def send(frame: bytes) -> None:
                await websocket.send_text(frame.decode())

            self._outbox = Outbox(
                send,
                limit=self.context.runtime.settings.subscriber_buffer_messages,
                direct=websocket.scope.get("extensions", {}).get(FRAMES_EXTENSION),
                flusher=self.view.flusher,
            )
        return self._outbox

    async def shutdown(self) -> None:
        await super().shutdown()
        if self._outbox is not None:
            await self._outbox.close()

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:  # noqa: ARG004 (Strawberry's hook)
        """Never close the socket for one operation's fault (a syntax error, an unknown
        `operationName`): graphql-ws clients take 4400 as fatal and would drop every other
        live subscription of the page. The operation gets an `error` message instead."""
        return None


class TradoGraphQLRouter(GraphQLRouter[ConnectionContext, None]):
    graphql_ws_handler_class = LegacyGraphQLWSHandler
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, *args: Any, fanout: QuoteFanout, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fanout = fanout
        self.flusher = Flusher()  # one per app: all connections' frames written once per turn

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

    def encode_json(self, data: object) -> str:
        """orjson: every live message is encoded once per subscriber, so this is hot. Text,
        not bytes, so WebSocket messages stay text frames."""
        return orjson.dumps(data).decode()
