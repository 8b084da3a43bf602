"""Subscriptions over HTTP (GraphQL over SSE, distinct connections mode; multipart
subscriptions) on the same live-delivery path as the WebSocket.

Strawberry streams an HTTP subscription by running it per subscriber and encoding each result.
Here the operation runs with `LIVE_OPERATION` set, as a WebSocket operation does, so a `quotes`
subscription joins the shared fan-out: each tick is executed and encoded once for every
subscriber of the same selection, and this stream only frames the shared payload in its
transport's envelope. The frames take the WebSocket's path too: an `Outbox` whose direct writer
is this response (`ResponseWriter`), so all the frames of an event-loop turn leave as one chunk,
written by the outbox's flusher straight onto the socket where uvicorn's connection offers it
(`delivery/uvicorn_internals.py`), else handed to the response's task; past the socket's high-water
mark (or `BUFFER_BYTES` unsent), the outbox holds a bounded, conflated backlog. What Strawberry's
own stream yields (an error, a candle or private update) is framed the same way and written in
order, never conflated. Heartbeats come from the same loop, with no task of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from delivery.connection_counts import counted
from delivery.fanout import LIVE_OPERATION, LiveFanout, LiveOperation
from delivery.outbox import DirectWriter, Flusher, Outbox
from delivery.strawberry_internals import (
    AsyncTextStream,
    HTTPStreamTransport,
    MultipartSubscriptionTransport,
    SSETransport,
)
from delivery.uvicorn_internals import DirectChunks

log = logging.getLogger(__name__)

BUFFER_BYTES = 256 * 1024  # written but not yet sent; past it, the outbox holds its backlog

FrameResult = Callable[[object], Awaitable[bytes]]  # one of Strawberry's results, as JSON


def live_envelope(transport: HTTPStreamTransport) -> tuple[bytes, bytes] | None:
    """What goes before and after a `next` payload (JSON) on this transport, or None when
    it has no live framing here."""
    if isinstance(transport, SSETransport):
        return b"event: next\r\ndata: ", b"\r\n\r\n"
    if isinstance(transport, MultipartSubscriptionTransport):
        part = b"\r\nContent-Type: application/json; charset=utf-8\r\n\r\n"
        return part + b'{"payload":', b"}\r\n--" + transport.separator.encode()
    return None


@dataclass(frozen=True)
class LivePath:
    """The app's shared live path: its fan-out, its flusher and each subscriber's backlog."""

    fanout: LiveFanout
    flusher: Flusher
    buffer_messages: int


class ResponseWriter:
    """A streaming response as an `Outbox`'s direct writer: frames join a buffer that the
    response sends as one chunk when it next runs; or, with `direct` (uvicorn's connection,
    `delivery/uvicorn_internals.py`), go straight onto the socket as chunks."""

    def __init__(self, direct: DirectWriter | None = None) -> None:
        self._direct = direct
        self._chunks: list[bytes] = []
        self._size = 0
        self._waiting = asyncio.Event()  # set while the buffer holds something
        self._drained = asyncio.Event()
        self._closed = False
        self.ended = False  # nothing more will be written

    @property
    def closed(self) -> bool:
        return self._closed or (self._direct is not None and self._direct.closed)

    def write(self, payloads: list[bytes]) -> bool:
        if self._direct is not None:
            return not self._closed and self._direct.write(payloads)
        if self._closed or self._size > BUFFER_BYTES:
            return False
        self._chunks.extend(payloads)
        self._size += sum(len(p) for p in payloads)
        self._waiting.set()
        return True

    async def writable(self) -> None:
        if self._direct is not None:
            await self._direct.writable()
        while self._size > BUFFER_BYTES and not self._closed:
            self._drained.clear()
            await self._drained.wait()
        if self._closed:
            raise ConnectionError("the response is over")

    async def write_in_order(self, frame: bytes) -> None:
        """A frame that must not be conflated: waits for room instead."""
        while not self.write([frame]):
            await self.writable()

    def outbox(self, limit: int, flusher: Flusher) -> Outbox:
        """An outbox writing through this response."""
        return Outbox(limit=limit, direct=self, flusher=flusher)

    def end(self) -> None:
        self.ended = True
        self._waiting.set()

    def close(self) -> None:
        self._closed = True
        self._drained.set()

    async def chunks(self, heartbeat: bytes, interval: float) -> AsyncIterator[bytes]:
        """What was written, a chunk per wake-up; `heartbeat` after `interval` seconds of
        silence; until `end`."""
        while True:
            try:
                async with asyncio.timeout(interval):
                    await self._waiting.wait()
            except TimeoutError:
                yield heartbeat
                continue
            if self._chunks:
                chunk, self._chunks, self._size = b"".join(self._chunks), [], 0
                self._waiting.clear()
                self._drained.set()
                yield chunk
            if self.ended and not self._chunks:
                return


def live_stream(
    results: AsyncIterator[object],
    frame_result: FrameResult,
    transport: HTTPStreamTransport,
    *,
    heartbeat: bytes,
    direct: DirectChunks | None,
    path: LivePath,
) -> AsyncTextStream | None:
    """The response body of one HTTP subscription, or None when `transport` has no live
    framing (Strawberry's own stream then serves it)."""
    envelope = live_envelope(transport)
    if envelope is None:
        return None
    prefix, suffix = envelope

    async def stream() -> AsyncGenerator[bytes, None]:
        # Here the response has started: its chunks may go straight to the socket.
        writer = ResponseWriter(direct if direct is not None and direct.ready else None)
        outbox = writer.outbox(path.buffer_messages, path.flusher)

        async def run_operation() -> None:
            LIVE_OPERATION.set(LiveOperation("", outbox, path.fanout, prefix=prefix, suffix=suffix))
            try:
                async for result in results:
                    await writer.write_in_order(prefix + await frame_result(result) + suffix)
            except Exception:  # Strawberry reports an operation's errors as results
                log.exception("an HTTP subscription failed")
            writer.end()

        operation = asyncio.create_task(run_operation(), name="http-subscription")
        try:
            with counted("sse" if isinstance(transport, SSETransport) else "multipart"):
                if transport.send_initial_heartbeat:
                    yield heartbeat
                async for chunk in writer.chunks(heartbeat, transport.heartbeat_interval):
                    yield chunk
                yield transport.encode_complete().encode()
        finally:
            writer.close()
            operation.cancel()
            await asyncio.gather(operation, return_exceptions=True)
            await outbox.close()

    return cast(AsyncTextStream, stream)  # the response writes bytes as they are
