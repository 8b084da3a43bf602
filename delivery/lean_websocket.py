"""A lean WebSocket for `graphql-transport-ws` at the GraphQL path: RFC 6455 on one
`asyncio.Protocol`, with Strawberry's protocol handler on top and no ASGI in between.

Why: at ten thousand connections, memory per connection is the cost that counts. uvicorn's
sans-io protocol alone holds, per idle connection, a `websockets` protocol object, the
handshake's request and headers, two queues, events and a task running the ASGI app, and
the ASGI app adds the frames of every middleware and router it passes through, parked for the
connection's life. Here a connection is this object, a read buffer while a message is partial
and Strawberry's handler, which is handed each message as it arrives: a task runs only while a
message is being handled, none is parked waiting for the next.

What it does: the handshake (method, `Upgrade`, version 13, a key; the subprotocol must be
`graphql-transport-ws`), masked client frames, fragmented messages, ping and pong, the close
handshake (a peer's close frame checked by websockets' rules: 1002, 1007), a message-size cap
(close 1009), keepalive pings with a deadline (close 1011; one timer for all of a server's
connections, `delivery/keepalive.py`), a graceful close on server shutdown (1012), and flow
control (writes stop at the transport's high-water mark). Frames go out as whole
`transport.write` calls.

Everything else is handed, before a byte is answered, to `fallback` (uvicorn's sans-io
protocol with direct frames): other paths, the legacy `graphql-ws` subprotocol, no acceptable
subprotocol, and any handshake with an `Origin` header (browsers; Strawberry's view checks
that origin), so those keep the full ASGI path and its rules.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, cast

import orjson
from starlette.requests import HTTPConnection
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from websockets.exceptions import ProtocolError
from websockets.frames import Close

from delivery.keepalive import Keepalive, shared_keepalive
from delivery.strawberry_internals import AsyncWebSocketAdapter
from delivery.websocket_frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    LENGTH_16_BIT,
    LENGTH_64_BIT,
    PING,
    PONG,
    TEXT,
    frame,
    text_frames,
)
from delivery.websockets_internals import apply_mask
from streaming import metrics

log = logging.getLogger(__name__)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
MAX_HEAD = 16 * 1024
MAX_CONTROL_PAYLOAD = 125
# Close codes (RFC 6455 §7.4.1)
NORMAL, PROTOCOL_ERROR, NO_STATUS, INVALID_DATA, TOO_BIG = 1000, 1002, 1005, 1007, 1009
INTERNAL_ERROR, SERVICE_RESTART = 1011, 1012
KEY_BYTES = 16  # a Sec-WebSocket-Key is 16 random bytes in base64


# A message of an accepted connection: TEXT or BINARY and its bytes; None once it has ended.
Message = tuple[int, bytes] | None
# Takes a connection's messages one at a time, in order, each once the one before is handled;
# False when it wants no more (its handler has ended).
Receiver = Callable[[Message], Awaitable[bool]]


class Endpoint:
    """What a lean connection needs of the app: found through the app's `state` (set by
    `commands.api`), so the protocol class stays a plain uvicorn `ws` option."""

    def __init__(
        self,
        path: str,
        start: Callable[[HTTPConnection, LeanWebSocket], Awaitable[Receiver]],
    ) -> None:
        self.path = path
        self.start = start  # the GraphQL handler of one accepted connection, its receiver


@functools.lru_cache(maxsize=8)
def find_endpoint(app: object) -> tuple[object, Endpoint] | None:
    """The app uvicorn serves and its `Endpoint`, through any middleware wrapping it (looked
    up once per app: the handshake asks for every connection)."""
    for _ in range(8):
        endpoint = getattr(getattr(app, "state", None), "lean_websocket", None)
        if isinstance(endpoint, Endpoint):
            return app, endpoint
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


@dataclass(frozen=True)
class Handshake:
    """The upgrade request, as uvicorn hands it over (its request line and headers)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names; repeated ones joined with ", "
    raw_headers: list[tuple[bytes, bytes]]

    @classmethod
    def parse(cls, head: str) -> Handshake:
        request_line, *lines = head.split("\r\n")
        headers: dict[str, str] = {}
        raw_headers: list[tuple[bytes, bytes]] = []
        for line in lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            raw_headers.append((name.encode("latin-1"), value.encode("latin-1")))
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        method, _, rest = request_line.partition(" ")
        path, _, query = rest.rpartition(" ")[0].partition("?")
        return cls(method, path, query, headers, raw_headers)

    def is_lean(self, graphql_path: str) -> bool:
        """graphql-transport-ws first among the offered subprotocols, at the GraphQL path,
        from a client that is not a browser (no `Origin` to check)."""
        offered = self.headers.get("sec-websocket-protocol", "").split(",")
        return (
            self.method == "GET"
            and self.path.rstrip("/") == graphql_path
            and "origin" not in self.headers
            and offered[0].strip() == GRAPHQL_TRANSPORT_WS_PROTOCOL
        )

    def has_valid_key(self) -> bool:
        if self.headers.get("sec-websocket-version") != "13":
            return False
        try:
            key: bytes = base64.b64decode(self.headers.get("sec-websocket-key", ""), validate=True)
        except binascii.Error:
            return False
        return len(key) == KEY_BYTES


class LeanWebSocket(asyncio.Protocol):
    """uvicorn's `ws` protocol class: one connection, lean when it can be, else `fallback`."""

    fallback: Callable[..., asyncio.Protocol]  # set by the subclass `commands.api` uses

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any]) -> None:
        self._config = config
        self._server_state = server_state
        self._app_state = app_state
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._delegate: asyncio.Protocol | None = None
        self._buffer = bytearray()
        self._upgraded = False
        self._fragments: bytearray | None = None
        self._fragment_opcode = 0
        self._receiver: Receiver | None = None  # set once the endpoint has started
        self._inbox: deque[Message] | None = None  # messages waiting for the receiver
        self._handling: asyncio.Task[None] | None = None  # while the receiver has messages
        self._paused: asyncio.Event | None = None  # set while the transport can take writes
        self._keepalive: Keepalive | None = None  # the server's, once accepted
        self.close_sent = False
        self.disconnected = False

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._delegate is not None:
            self._delegate.data_received(data)
            return
        self._buffer += data
        if not self._upgraded:
            self._handshake()
        if self._upgraded and not self.close_sent:
            self._read_frames()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._delegate is not None:
            self._delegate.connection_lost(exc)
            return
        self.disconnected = True
        if self._upgraded:
            self._server_state.connections.discard(self)
            metrics.LEAN_WEBSOCKETS.dec()
        self._stop_keepalive()
        if self._paused is not None:
            self._paused.set()  # wake a waiting writer: it sees `closed`
        self._deliver(None)

    def eof_received(self) -> bool | None:
        return self._delegate.eof_received() if self._delegate is not None else None

    def pause_writing(self) -> None:
        if self._delegate is not None:
            self._delegate.pause_writing()
        elif self._paused is None:
            self._paused = asyncio.Event()
        else:
            self._paused.clear()

    def resume_writing(self) -> None:
        if self._delegate is not None:
            self._delegate.resume_writing()
        elif self._paused is not None:
            self._paused.set()

    def shutdown(self) -> None:
        """The server is stopping (uvicorn calls this on each connection)."""
        if not self.close_sent:
            self.close_now(SERVICE_RESTART, "")
        elif self.transport is not None:
            self.transport.close()

    # -- the handshake

    def _handshake(self) -> None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                self._refuse(431, "Request Header Fields Too Large")
            return
        request = Handshake.parse(bytes(self._buffer[:end]).decode("latin-1"))
        found = find_endpoint(self._config.loaded_app)
        if found is None or not request.is_lean(found[1].path):
            self._hand_over()
            return
        if not request.has_valid_key():
            self._refuse(400, "Bad Request")
            return
        del self._buffer[: end + 4]
        self._accept(request.headers["sec-websocket-key"])
        app, endpoint = found
        connection = HTTPConnection(self._scope(app, request))
        self._handle(self._start(endpoint, connection))

    def _hand_over(self) -> None:
        """Let `fallback` run this connection from its first byte."""
        assert self.transport is not None
        delegate = self.fallback(
            config=self._config, server_state=self._server_state, app_state=self._app_state
        )
        self._delegate = delegate
        delegate.connection_made(self.transport)
        buffered, self._buffer = bytes(self._buffer), bytearray()
        delegate.data_received(buffered)

    def _refuse(self, status: int, reason: str) -> None:
        assert self.transport is not None
        body = reason.encode()
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        self.close_sent = True
        self.transport.close()

    def _accept(self, key: str) -> None:
        assert self.transport is not None
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        self.transport.write(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n"
            f"Sec-WebSocket-Protocol: {GRAPHQL_TRANSPORT_WS_PROTOCOL}\r\n\r\n".encode()
        )
        self._upgraded = True
        self._server_state.connections.add(self)
        metrics.LEAN_WEBSOCKETS.inc()
        config = self._config
        self._keepalive = shared_keepalive(config, config.ws_ping_interval, config.ws_ping_timeout)
        if self._keepalive is not None:
            self._keepalive.add(self)

    def _scope(self, app: object, request: Handshake) -> dict[str, Any]:
        """What the context getter reads of a connection (client, headers, app)."""
        assert self.transport is not None
        peer = self.transport.get_extra_info("peername")
        return {
            "type": "websocket",
            "path": request.path,
            "query_string": request.query.encode("latin-1"),
            "headers": request.raw_headers,
            "client": (peer[0], peer[1]) if isinstance(peer, tuple) else None,
            "app": app,
            "subprotocols": [GRAPHQL_TRANSPORT_WS_PROTOCOL],
        }

    # -- frames in

    def _read_frames(self) -> None:
        buffer = self._buffer
        while len(buffer) >= 2 and not self.close_sent:  # noqa: PLR2004 (the shortest header)
            first, second = buffer[0], buffer[1]
            length, offset = second & 0x7F, 2
            if length == LENGTH_16_BIT:
                offset = 4
            elif length == LENGTH_64_BIT:
                offset = 10
            if len(buffer) < offset + 4:
                return
            if offset > 2:  # noqa: PLR2004
                length = int.from_bytes(buffer[2:offset])
            if not second & 0x80:
                self.close_now(PROTOCOL_ERROR, "client frames must be masked")
                return
            if first & 0x70:
                self.close_now(PROTOCOL_ERROR, "reserved bits set")
                return
            if length > self._config.ws_max_size:
                self.close_now(TOO_BIG, f"frame of {length} bytes over {self._config.ws_max_size}")
                return
            end = offset + 4 + length
            if len(buffer) < end:
                return
            mask = bytes(buffer[offset : offset + 4])
            payload = apply_mask(bytes(buffer[offset + 4 : end]), mask)
            del buffer[:end]
            self._frame(first & 0x80 != 0, first & 0x0F, payload)

    def _frame(self, final: bool, opcode: int, payload: bytes) -> None:
        if opcode >= CLOSE:
            self._control(final, opcode, payload)
        elif opcode == CONTINUATION:
            if self._fragments is None:
                self.close_now(PROTOCOL_ERROR, "continuation without a message")
            else:
                self._fragment(final, payload)
        elif opcode in (TEXT, BINARY):
            if self._fragments is not None:
                self.close_now(PROTOCOL_ERROR, "a new message inside a fragmented one")
            elif final:
                self._message(opcode, payload)
            else:
                self._fragments, self._fragment_opcode = bytearray(payload), opcode
        else:
            self.close_now(PROTOCOL_ERROR, f"unknown opcode {opcode}")

    def _fragment(self, final: bool, payload: bytes) -> None:
        fragments = self._fragments
        assert fragments is not None
        fragments += payload
        if len(fragments) > self._config.ws_max_size:
            self.close_now(TOO_BIG, f"message over {self._config.ws_max_size} bytes")
        elif final:
            self._fragments = None
            self._message(self._fragment_opcode, bytes(fragments))

    def _control(self, final: bool, opcode: int, payload: bytes) -> None:
        if not final or len(payload) > MAX_CONTROL_PAYLOAD:
            self.close_now(PROTOCOL_ERROR, "bad control frame")
        elif opcode == PING:
            self.write_frame(PONG, payload)
        elif opcode == PONG:
            if self._keepalive is not None:
                self._keepalive.pong(self)
        elif opcode == CLOSE:
            self._closed_by_peer(payload)
        else:
            self.close_now(PROTOCOL_ERROR, f"unknown opcode {opcode}")

    def _closed_by_peer(self, payload: bytes) -> None:
        """Answer the peer's close frame with its code (1000 for none), or with 1002 when the
        frame breaks RFC 6455 §5.5.1 and §7.4 (one byte, a code no peer may send) and 1007
        when its reason is not UTF-8: websockets' `Close.parse` holds those rules."""
        try:
            code = Close.parse(payload).code
        except ProtocolError:
            self.close_now(PROTOCOL_ERROR, "invalid close frame")
        except UnicodeDecodeError:
            self.close_now(INVALID_DATA, "close reason not UTF-8")
        else:
            self.close_now(code if code != NO_STATUS else NORMAL, "")

    def _message(self, opcode: int, payload: bytes) -> None:
        if opcode == TEXT:
            try:
                payload.decode()
            except UnicodeDecodeError:
                self.close_now(INVALID_DATA, "invalid UTF-8")
                return
        self._deliver((opcode, payload))

    # -- messages to the endpoint's receiver

    def _deliver(self, message: Message) -> None:
        if self._receiver is None and self._handling is None:
            return  # no endpoint started (a refused handshake), or its handler has ended
        if self._inbox is None:
            self._inbox = deque()
        self._inbox.append(message)
        if self._handling is None:
            self._handle(self._hand_on())

    def _handle(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` (the start, or the messages waiting) in a task that ends with it."""
        task = self._loop.create_task(work)
        task.add_done_callback(self._handled)
        self._handling = task

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._handling = None
        if task.cancelled() or task.exception() is not None:
            self._receiver, self._inbox = None, None
            if not task.cancelled():
                log.error("a WebSocket connection failed", exc_info=task.exception())
        elif self._inbox and self._receiver is not None:  # arrived as the task ended
            self._handle(self._hand_on())

    async def _start(self, endpoint: Endpoint, connection: HTTPConnection) -> None:
        self._receiver = await endpoint.start(connection, self)
        await self._hand_on()

    async def _hand_on(self) -> None:
        """The waiting messages to the receiver, in order, until none is left (or it wants
        no more)."""
        inbox = self._inbox
        while inbox and self._receiver is not None:
            if not await self._receiver(inbox.popleft()):
                self._receiver, self._inbox = None, None
                return
        self._inbox = None  # an empty deque still holds a block of 64 slots

    # -- frames out

    @property
    def closed(self) -> bool:
        return self.disconnected or self.close_sent

    def write(self, payloads: list[bytes]) -> bool:
        """One text frame per payload, in one write (the `Outbox`'s direct writer)."""
        if self.closed or (self._paused is not None and not self._paused.is_set()):
            return False
        assert self.transport is not None
        self.transport.write(text_frames(payloads))
        return True

    async def writable(self) -> None:
        if self._paused is not None:
            await self._paused.wait()
        if self.closed:
            raise ConnectionError("the WebSocket is closed")

    def write_frame(self, opcode: int, payload: bytes) -> None:
        """One whole frame of any opcode, unless the socket is closed."""
        if not self.closed and self.transport is not None:
            self.transport.write(frame(opcode, payload))

    def close_now(self, code: int, reason: str) -> None:
        """Send a close frame and end the connection (no wait for the peer's reply: it may
        never come, and the frame is already on its way)."""
        if self.closed or self.transport is None:
            return
        self.write_frame(CLOSE, code.to_bytes(2) + reason.encode()[: MAX_CONTROL_PAYLOAD - 2])
        self.close_sent = True
        self._stop_keepalive()
        self.transport.close()

    # -- keepalive (`delivery/keepalive.py`)

    def ping(self) -> None:
        self.write_frame(PING, b"")

    def no_pong(self) -> None:
        self.close_now(INTERNAL_ERROR, "keepalive ping timeout")

    def _stop_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.remove(self)
            self._keepalive = None


def json_message(message: Message) -> object:
    """A message as the JSON it carries, or the error Strawberry's adapters raise for it:
    WebSocketDisconnected for the end, NonTextMessageReceived, NonJsonMessageReceived."""
    if message is None:
        raise WebSocketDisconnected
    opcode, payload = message
    if opcode != TEXT:
        raise NonTextMessageReceived
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise NonJsonMessageReceived from error


class LeanSocketAdapter(AsyncWebSocketAdapter):
    """Strawberry's view of a lean connection, for sending: the messages come to the
    handler's `receive` (the endpoint's receiver), not through `iter_json`."""

    def __init__(self, view: Any, socket: LeanWebSocket) -> None:
        super().__init__(view)
        self.socket = socket

    async def iter_json(
        self,
        *,
        ignore_parsing_errors: bool = False,  # noqa: ARG002 (the adapter's signature)
    ) -> AsyncGenerator[object]:
        raise TypeError("a lean socket hands each message to its endpoint's receiver")
        yield  # an async generator, as the adapter's

    async def send_json(self, message: Mapping[str, object]) -> None:
        frame = orjson.dumps(message)
        while not self.socket.write([frame]):  # the transport is full: wait for it to drain
            try:
                await self.socket.writable()
            except ConnectionError:
                raise WebSocketDisconnected from None

    async def close(self, code: int, reason: str) -> None:
        self.socket.close_now(code, reason)
