"""A lean send path for HTTP streams' live frames, as `delivery/websocket_frames.py` is for
WebSockets: uvicorn's httptools protocol, plus a writer that puts whole chunks of a streaming
response straight on the connection's transport, offered to the app as the ASGI extension
`trado.http.chunks`.

Through ASGI, each chunk of a streaming response is a task of its own waking up and a `send`
through every middleware, Starlette and uvicorn: a task step per subscriber per tick, and a
latency many times the WebSocket path's (bench/README.md, "Over SSE"). Here the outbox's flusher
writes every connection's frames in one pass, as it does for WebSockets. Everything else (the
headers, heartbeats, the final chunk) stays uvicorn's; chunks are whole `transport.write`
calls, so they never interleave with uvicorn's own.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

CHUNKS_EXTENSION = "trado.http.chunks"


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
    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        scope: Any = self.scope
        scope.setdefault("extensions", {})[CHUNKS_EXTENSION] = DirectChunks(self.cycle)
