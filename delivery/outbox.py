"""One connection's outgoing live frames, and how they reach the socket.

Frames arrive from the hub's listener already encoded (UTF-8 JSON text) and wait in a bounded
`Mailbox`: a connection that keeps up gets every frame in order; one that does not (a slow or
stalled reader) holds at most `limit` frames, conflated to the latest per key, instead of
slowing the listener, the other connections or growing memory.

With a direct writer (`delivery/websocket_frames.py`), pushing marks the outbox dirty and a
`Flusher` writes every dirty outbox once, at the end of the event loop's current turn: all
the frames a connection got in that turn leave in one write. Under light load that is one
frame per write, sent within the turn that produced it; under heavy load the listener
delivers several ticks per turn and the writes (system calls, the fan-out's main cost) grow
slower than the deliveries. A socket whose buffer is full is written by a task that waits
for it to drain. Without a direct writer, one task per connection sends frame by frame
through ASGI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Protocol

from streaming.hub import Mailbox

log = logging.getLogger(__name__)


class DirectWriter(Protocol):
    def write(self, payloads: list[bytes]) -> bool:
        """One text frame per payload, in one write, if the socket is open and its buffer has
        room; otherwise False and nothing written."""

    @property
    def closed(self) -> bool: ...

    async def writable(self) -> None:
        """Until the buffer has room; ConnectionError once the socket is closed."""


class Flusher:
    """Writes the outboxes pushed to during this turn of the event loop, once each, after it."""

    def __init__(self) -> None:
        self._dirty: list[Outbox] = []

    def mark(self, outbox: Outbox) -> None:
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush)
        self._dirty.append(outbox)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for outbox in dirty:
            outbox.flush()


class Outbox:
    def __init__(
        self,
        *,
        limit: int,
        send: Callable[[bytes], Awaitable[None]] | None = None,
        direct: DirectWriter | None = None,
        flusher: Flusher | None = None,
    ) -> None:
        """Frames go to `direct` when there is one, else one by one through `send`."""
        self._limit = limit
        # The backlog, made when first needed: a socket that keeps up never has one (a
        # mailbox is about 1.7 KB; bench/README.md, "Memory per connection").
        self._frames: Mailbox[bytes] | None = None
        self._direct = direct
        self._flusher = flusher or Flusher()
        self._turn_keys: list[str] = []  # pushed this turn, for the next flush
        self._turn_frames: list[bytes] = []
        self._task: asyncio.Task[None] | None = None  # a writer working through the backlog
        self._closed = False
        if direct is None:
            if send is None:
                raise TypeError("an Outbox needs a direct writer or a send function")
            self._task = asyncio.create_task(self._send_each(send), name="outbox-writer")

    @property
    def dropped(self) -> int:
        return self._frames.dropped if self._frames is not None else 0

    def _backlog(self) -> Mailbox[bytes]:
        if self._frames is None:
            self._frames = Mailbox(conflate=True, limit=self._limit)
        return self._frames

    def push(self, key: str, frame: bytes) -> None:
        """Send `frame` after those pushed before it; past the limit, unsent frames are
        conflated to the latest of each `key`."""
        if self._task is not None or self._closed:
            if not self._closed:
                self._backlog().offer(key, frame)
            return
        if not self._turn_frames:
            self._flusher.mark(self)
        self._turn_keys.append(key)
        self._turn_frames.append(frame)

    def flush(self) -> None:
        """Write this turn's frames at once, or leave them to a task that waits for the
        socket to drain (keeping at most `limit`)."""
        keys, frames = self._turn_keys, self._turn_frames
        if not frames or self._closed:
            return
        self._turn_keys, self._turn_frames = [], []
        assert self._direct is not None
        if self._direct.write(frames):
            return
        if self._direct.closed:
            self._closed = True
            return
        backlog = self._backlog()
        for key, frame in zip(keys, frames, strict=True):
            backlog.offer(key, frame)
        self._task = asyncio.create_task(self._send_when_writable(self._direct, backlog))

    async def _send_when_writable(self, direct: DirectWriter, backlog: Mailbox[bytes]) -> None:
        try:
            while backlog:
                await direct.writable()
                if not direct.write([frame for _key, frame in backlog.drain()]):
                    raise ConnectionError("the WebSocket closed")
        except ConnectionError:
            self._closed = True
        finally:
            self._task = None

    async def _send_each(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        backlog = self._backlog()
        try:
            while True:
                await backlog.wait()
                for _key, frame in backlog.drain():
                    await send(frame)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the socket went away: the connection's handler cleans up
            log.debug("outbox writer stopped: %r", error)
            self._closed = True

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
