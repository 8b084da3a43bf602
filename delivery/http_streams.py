"""Subscriptions over HTTP (GraphQL over SSE, distinct connections mode; multipart
subscriptions) on the same live-delivery path as the WebSocket.

Strawberry streams an HTTP subscription by running it per subscriber and encoding each result.
Here the operation runs with `LIVE_OPERATION` set, as a graphql-transport-ws operation does, so
a `quotes` subscription joins the shared fan-out: each tick is executed and encoded once for
every subscriber of the same selection, and this stream only frames the shared payload in its
transport's envelope. Frames wait in an `Outbox` (the same bounded, conflating backlog as a
WebSocket's), then leave in batches: all the frames waiting when the response can write go in
one chunk. What Strawberry's own stream yields (an error, a throttled or candle update) is
framed the same way and goes out through the same queue, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import cast

from strawberry.http.streaming import (
    AsyncTextStream,
    HTTPStreamTransport,
    MultipartSubscriptionTransport,
    SSETransport,
)

from delivery.fanout import LIVE_OPERATION, LiveOperation, QuoteFanout
from delivery.outbox import Flusher, Outbox

log = logging.getLogger(__name__)

BATCH_FRAMES = 64  # frames handed to the response at once; past them, the outbox conflates
_END = b""  # the operation is over: the transport's closing message follows

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


def live_stream(
    results: AsyncIterator[object],
    frame_result: FrameResult,
    transport: HTTPStreamTransport,
    *,
    fanout: QuoteFanout,
    flusher: Flusher,
    buffer_messages: int,
) -> AsyncTextStream | None:
    """The response body of one HTTP subscription, or None when `transport` has no live
    framing (Strawberry's own stream then serves it)."""
    envelope = live_envelope(transport)
    if envelope is None:
        return None
    prefix, suffix = envelope

    async def stream() -> AsyncGenerator[bytes, None]:
        frames: asyncio.Queue[bytes] = asyncio.Queue(maxsize=BATCH_FRAMES)
        outbox = Outbox(frames.put, limit=buffer_messages, flusher=flusher)

        async def run_operation() -> None:
            LIVE_OPERATION.set(LiveOperation("", outbox, fanout, prefix=prefix, suffix=suffix))
            try:
                async for result in results:
                    await frames.put(prefix + await frame_result(result) + suffix)
            except Exception:  # Strawberry reports an operation's errors as results
                log.exception("an HTTP subscription failed")
            await frames.put(_END)

        operation = asyncio.create_task(run_operation(), name="http-subscription")
        try:
            async for chunk in batches(frames):
                yield chunk
            yield transport.encode_complete().encode()
        finally:
            operation.cancel()
            await asyncio.gather(operation, return_exceptions=True)
            await outbox.close()

    return cast(AsyncTextStream, stream)  # the response writes bytes as they are


async def batches(frames: asyncio.Queue[bytes]) -> AsyncIterator[bytes]:
    """The frames waiting at each turn, joined, until `_END`."""
    while True:
        batch = [await frames.get()]
        while not frames.empty() and batch[-1] != _END:
            batch.append(frames.get_nowait())
        ended = batch[-1] == _END
        if len(batch) > int(ended):
            yield b"".join(batch)
        if ended:
            return
