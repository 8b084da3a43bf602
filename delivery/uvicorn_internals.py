"""Every part of uvicorn that Trado uses without uvicorn publishing it, in one place: the
direct send paths of live frames, which put whole WebSocket frames and HTTP chunks straight on
a connection's transport, offered to the app as the ASGI extensions `trado.websocket.frames`
and `trado.http.chunks`.

Through ASGI, each frame or chunk costs a `send` coroutine per hop (uvicorn, Starlette's
exception wrappers, Starlette's WebSocket) and, for a WebSocket, websockets' framing in
Python: the benchmark's profile put that path at about half of the fan-out's CPU, and with a
thousand SSE subscribers a task step per subscriber per tick. Here the outbox's flusher writes
every connection's frames in one pass. Everything else (handshake, pings, close, reads; an HTTP
response's headers, heartbeats and final chunk) stays uvicorn's; frames and chunks are whole
`transport.write` calls, so they never interleave with uvicorn's own.

uvicorn documents that its `http` and `ws` options take a protocol class; it does not document
the classes it ships, nor their attributes. What is relied on (`tests/test_library_contracts.py`
checks each against the installed uvicorn, `make upgrade-check` against the newest release, and
`pyproject.toml` bounds uvicorn below the first release not yet checked):

- `uvicorn.protocols.websockets.websockets_sansio_impl.WebSocketsSansIOProtocol`, subclassed:
  its `handle_connect(event)` hook (after which `scope` is set unless the handshake was
  refused), and its `transport`, `writable` (an `asyncio.Event` set while the transport takes
  writes), `close_sent` and `disconnected` attributes.
- `uvicorn.protocols.http.httptools_impl.HttpToolsProtocol`, subclassed: its
  `on_headers_complete()` hook (after which `scope` and `cycle` are set), and
  `RequestResponseCycle`'s `transport`, `flow` (`write_paused`, `drain()`), `disconnected`,
  `response_started`, `response_complete` and `chunked_encoding`.
- The constructor every `ws` protocol class gets, `(config, server_state, app_state)`, with
  `config.loaded_app`, `config.ws_max_size`, `config.ws_ping_interval`,
  `config.ws_ping_timeout`, `server_state.connections` and the `shutdown()` uvicorn calls on
  each connection as it stops: `delivery/lean_websocket.py`'s `LeanWebSocket`, which is such a
  class, and hands a connection it does not serve to `fallback` (`DirectFramesProtocol`).

No public API serves: an ASGI app can only `send` through the whole stack, which is the cost
these paths remove.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from delivery.websocket_frames import text_frames

FRAMES_EXTENSION = "trado.websocket.frames"
CHUNKS_EXTENSION = "trado.http.chunks"


class DirectFrames:
    """Writes text frames on one connection without going through ASGI."""

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    @property
    def closed(self) -> bool:
        return self._protocol.disconnected or self._protocol.close_sent

    def write(self, payloads: list[bytes]) -> bool:
        """One text frame per payload, in one `transport.write`, if the socket is open and
        its buffer is below the high-water mark; otherwise False and nothing written."""
        protocol = self._protocol
        if protocol.disconnected or protocol.close_sent or not protocol.writable.is_set():
            return False
        protocol.transport.write(text_frames(payloads))
        return True

    async def writable(self) -> None:
        """Until the buffer has room; ConnectionError once the socket is closed."""
        await self._protocol.writable.wait()
        if self.closed:
            raise ConnectionError("the WebSocket is closed")


class DirectFramesProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-io WebSocket protocol, offering `DirectFrames` to the app."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][FRAMES_EXTENSION] = DirectFrames(self)


class DirectChunks:
    """Writes chunks of one streaming response (chunked transfer encoding) without ASGI."""

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self._cycle = cycle

    @property
    def closed(self) -> bool:
        return self._cycle.disconnected or self._cycle.response_complete

    @property
    def ready(self) -> bool:
        """The response has started, chunked (HTTP/1.1): chunks may be written."""
        return bool(self._cycle.response_started and self._cycle.chunked_encoding)

    def write(self, payloads: list[bytes]) -> bool:
        """The payloads as one chunk, in one `transport.write`, once the response has started
        chunked and while its buffer is below the high-water mark; otherwise False."""
        cycle = self._cycle
        if self.closed or not self.ready or cycle.flow.write_paused:
            return False
        body = payloads[0] if len(payloads) == 1 else b"".join(payloads)
        cycle.transport.write(b"%x\r\n%b\r\n" % (len(body), body))
        return True

    async def writable(self) -> None:
        """Until the buffer has room; ConnectionError once the response is over."""
        await self._cycle.flow.drain()
        if self.closed:
            raise ConnectionError("the response is over")


class DirectChunksProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP protocol, offering `DirectChunks` to the app."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        scope: Any = self.scope
        scope.setdefault("extensions", {})[CHUNKS_EXTENSION] = DirectChunks(self.cycle)
