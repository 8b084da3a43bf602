"""GraphQL over SSE's single connection mode (graphql-sse, PROTOCOL.md): one event stream per
client carries the results of every operation it posts, so a browser on HTTP/1 is not held to
six connections.

`PUT /graphql` reserves a stream and answers its token (201, text); `GET /graphql` with
`Accept: text/event-stream` and the token (header `X-GraphQL-Event-Stream-Token` or `?token=`)
opens it, once; `POST` (or a query's `GET`) with the token and `extensions.operationId` runs an
operation into it (202; at most MAX_SUBSCRIPTIONS_PER_CONNECTION at once, as on a WebSocket)
and `DELETE /graphql?operationId=` stops one. Events are `next` with
`{"id", "payload"}` and `complete` with `{"id"}`. An operation's request errors (syntax,
validation, arguments) arrive in the stream as a `next` with `errors`, then `complete`.

Operations run as distinct-mode ones do (`delivery/http_streams.py`): with `LIVE_OPERATION`
set, a `quotes` subscription joins the shared fan-out and its frames (the shared payload in
this operation's envelope) wait in the stream's `Outbox`. Streams live in the process that
reserved them, so behind a balancer each token names that process: `<route>.<random>` with
the process's EVENT_STREAM_ROUTE, and the balancer maps the prefix back to the process
(deploy/nginx.conf). Routing beats sharing the streams through Redis: a stream is one open
response, which only its own process can write to, and forwarding every operation to it would
add a hop and a second place to fail. A reservation never opened is dropped after `expiry`
seconds; a closed stream stops its operations and forgets its token.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

import orjson
from starlette.requests import Request

from delivery.connection_counts import counted
from delivery.fanout import LIVE_OPERATION, LiveFanout, LiveOperation
from delivery.http_streams import FrameResult, ResponseWriter
from delivery.outbox import Flusher
from delivery.strawberry_internals import AsyncTextStream

log = logging.getLogger(__name__)

TOKEN_HEADER = "x-graphql-event-stream-token"
MAX_OPERATION_ID = 128  # characters: ids are the client's, echoed in every event
MAX_UNOPENED = 1000  # reservations not yet opened, per process (each expires on its own)


def event_stream_token(request: Request) -> str | None:
    """The reservation a request names (header, else `?token=`), if any."""
    return request.headers.get(TOKEN_HEADER) or request.query_params.get("token")


class StreamError(Exception):
    """A single-connection request the protocol refuses: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def next_envelope(operation_id: str) -> tuple[bytes, bytes]:
    """Before and after a `next` payload (JSON) of `operation_id`."""
    return b'event: next\r\ndata: {"id":' + orjson.dumps(
        operation_id
    ) + b',"payload":', b"}\r\n\r\n"


def complete_event(operation_id: str) -> bytes:
    return b"event: complete\r\ndata: " + orjson.dumps({"id": operation_id}) + b"\r\n\r\n"


class EventStream:
    """One reservation, and once a GET opens it, its one response. Frames written before it
    opens wait for it (bounded, as a slow reader's)."""

    def __init__(self, buffer_messages: int, flusher: Flusher) -> None:
        self.writer = ResponseWriter()
        self.outbox = self.writer.outbox(buffer_messages, flusher)
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.opened = False

    def run(
        self,
        operation_id: str,
        results: AsyncIterator[object],
        frame_result: FrameResult,
        fanout: LiveFanout,
    ) -> None:
        prefix, suffix = next_envelope(operation_id)
        live = LiveOperation(operation_id, self.outbox, fanout, prefix=prefix, suffix=suffix)
        task = asyncio.create_task(self._run(live, results, frame_result), name="sse-operation")
        self.operations[operation_id] = task

    async def _run(
        self, live: LiveOperation, results: AsyncIterator[object], frame_result: FrameResult
    ) -> None:
        LIVE_OPERATION.set(live)
        try:
            async for result in results:
                payload = await frame_result(result)
                await self.writer.write_in_order(live.prefix + payload + live.suffix)
        except Exception:  # Strawberry reports an operation's errors as results
            log.exception("a single-connection SSE operation failed")
        self.operations.pop(live.id, None)
        await self.writer.write_in_order(complete_event(live.id))

    def stop(self, operation_id: str) -> None:
        """End one operation (the client's DELETE): its `complete` follows what it sent."""
        task = self.operations.pop(operation_id, None)
        if task is not None:
            task.cancel()
            self.outbox.push(f"{operation_id}\x00complete", complete_event(operation_id))

    async def close(self) -> None:
        self.writer.close()
        tasks = list(self.operations.values())
        self.operations.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.outbox.close()

    def body(
        self, on_close: asyncio.Future[None], heartbeat: bytes, interval: float
    ) -> AsyncTextStream:
        """The stream's response: a heartbeat at once (some browsers show nothing until the
        first bytes), then what is written, with a heartbeat after each quiet `interval`."""

        async def stream() -> AsyncGenerator[bytes, None]:
            try:
                with counted("sse-single-connection"):
                    yield heartbeat
                    async for chunk in self.writer.chunks(heartbeat, interval):
                        yield chunk
            finally:
                on_close.set_result(None)

        return cast(AsyncTextStream, stream)


class EventStreams:
    """This process's reservations, by token."""

    def __init__(
        self,
        *,
        buffer_messages: int,
        flusher: Flusher,
        expiry: float,
        max_operations: int,
        route: str = "",
    ) -> None:
        self._route = f"{route}." if route else ""  # a balancer's key back to this process
        self._streams: dict[str, EventStream] = {}
        self._unopened: set[str] = set()
        self._buffer_messages = buffer_messages
        self._flusher = flusher
        self._expiry = expiry
        self._max_operations = max_operations  # at once on one stream, as on one WebSocket
        self._closing: set[asyncio.Task[None]] = set()  # streams stopping their operations

    def reserve(self) -> str:
        if len(self._unopened) >= MAX_UNOPENED:
            raise StreamError(503, "Too many stream reservations waiting to open; retry shortly")
        token = self._route + secrets.token_urlsafe(32)
        self._streams[token] = EventStream(self._buffer_messages, self._flusher)
        self._unopened.add(token)
        asyncio.get_running_loop().call_later(self._expiry, self._drop_unopened, token)
        return token

    def get(self, token: str) -> EventStream:
        stream = self._streams.get(token)
        if stream is None:
            raise StreamError(404, "Stream not found")
        return stream

    def open(self, token: str, heartbeat: bytes, interval: float) -> AsyncTextStream:
        """The response body of the stream `token` reserved; closing it ends the stream."""
        stream = self.get(token)
        if stream.opened:
            raise StreamError(409, "Stream already open")
        stream.opened = True
        self._unopened.discard(token)
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        closed.add_done_callback(lambda _: self._forget(token))
        return stream.body(closed, heartbeat, interval)

    def operation_id(self, stream: EventStream, extensions: dict[str, object] | None) -> str:
        operation_id = (extensions or {}).get("operationId")
        if not isinstance(operation_id, str) or not operation_id:
            raise StreamError(400, "Operation ID is missing")
        if len(operation_id) > MAX_OPERATION_ID:
            raise StreamError(400, f"Operation ID longer than {MAX_OPERATION_ID} characters")
        if operation_id in stream.operations:
            raise StreamError(409, "Operation with ID already exists")
        if len(stream.operations) >= self._max_operations:
            raise StreamError(400, f"At most {self._max_operations} operations at once on a stream")
        return operation_id

    def _drop_unopened(self, token: str) -> None:
        if token in self._unopened:
            self._forget(token)

    def _forget(self, token: str) -> None:
        stream = self._streams.pop(token, None)
        self._unopened.discard(token)
        if stream is not None:
            task = asyncio.get_running_loop().create_task(stream.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
