"""One connection's outgoing live frames and the one task that writes what cannot go at once.

Frames arrive from the hub's listener already encoded (UTF-8 JSON text). With a direct writer
(`graph/websocket_frames.py`) a frame goes straight onto the socket when nothing is waiting
before it and the socket's buffer has room: no task switch, no queue. Otherwise it waits in a
bounded `Mailbox` and the writer task sends it as soon as it can, so a connection that keeps
up gets every frame in order, and one that does not (a slow or stalled reader) holds at most
`limit` frames, conflated to the latest per key, instead of slowing the listener, the other
connections, or growing memory.
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
    def try_write(self, payload: bytes) -> bool:
        """Write one frame now if the socket takes it; False when it is full or closed."""

    async def writable(self) -> None:
        """Until `try_write` may succeed; ConnectionError once the socket is closed."""


class Outbox:
    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        *,
        limit: int,
        direct: DirectWriter | None = None,
    ) -> None:
        self._send = send if direct is None else self._send_direct
        self._direct = direct
        self._frames: Mailbox[bytes] = Mailbox(conflate=True, limit=limit)
        self._busy = False  # the writer holds frames taken from the mailbox
        self._writer = asyncio.create_task(self._write(), name="outbox-writer")

    @property
    def dropped(self) -> int:
        return self._frames.dropped

    def push(self, key: str, frame: bytes) -> None:
        """Send `frame` after those pushed before it; past the limit, unsent frames are
        conflated to the latest of each `key`."""
        if self._writer.done():
            return
        direct = self._direct
        if direct is not None and not self._busy and not self._frames and direct.try_write(frame):
            return
        self._frames.offer(key, frame)

    async def _send_direct(self, frame: bytes) -> None:
        assert self._direct is not None
        while not self._direct.try_write(frame):
            await self._direct.writable()

    async def _write(self) -> None:
        try:
            while True:
                await self._frames.wait()
                self._busy = True
                for _key, frame in self._frames.drain():
                    await self._send(frame)
                self._busy = False
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the socket went away: the connection's handler cleans up
            log.debug("outbox writer stopped: %r", error)

    async def close(self) -> None:
        self._writer.cancel()
        with suppress(asyncio.CancelledError):
            await self._writer
