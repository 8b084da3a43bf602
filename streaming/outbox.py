"""One connection's outgoing live frames and the one task that writes them.

Frames arrive from the hub's listener already encoded; pushing one never waits. The writer
sends whatever has piled up since its last turn, so a connection that keeps up gets every
frame in order, and one that does not (a slow or stalled reader, its socket buffer full)
only ever holds a bounded `Mailbox` of frames, conflated to the latest per key, instead of
slowing the listener, the other connections or growing memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from streaming.hub import Mailbox

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, send: Callable[[str], Awaitable[None]], *, limit: int) -> None:
        self._send = send
        self._frames: Mailbox[str] = Mailbox(conflate=True, limit=limit)
        self._writer = asyncio.create_task(self._write(), name="outbox-writer")
        self.sent = 0

    @property
    def dropped(self) -> int:
        return self._frames.dropped

    def push(self, key: str, frame: str) -> None:
        """Queue `frame`; past the limit only the latest frame of each `key` is kept."""
        if not self._writer.done():
            self._frames.offer(key, frame)

    async def _write(self) -> None:
        try:
            while True:
                await self._frames.wait()
                for _key, frame in self._frames.drain():
                    await self._send(frame)
                    self.sent += 1
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the socket went away: the connection's handler cleans up
            log.debug("outbox writer stopped: %r", error)

    async def close(self) -> None:
        self._writer.cancel()
        with suppress(asyncio.CancelledError):
            await self._writer
