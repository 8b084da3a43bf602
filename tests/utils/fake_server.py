"""What the fake providers (fake_provider, fake_alpaca, fake_polygon, fake_binance) share: a
WebSocket server on a loopback port from the OS, its connections, every frame it sent, a
wake-up whenever something a test waits for changes, raw frames to every connection and
abrupt drops. Each fake speaks its provider's protocol in `serve` and keeps in `clients`
the connections its pushes go to, each with what it knows of it (its subscriptions, its
session)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence, Sized
from contextlib import asynccontextmanager, suppress
from typing import Any, Generic, TypeVar

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

Client = TypeVar("Client")


class Changes:
    """Waiting for what a test expects, without polling: whoever changes something calls
    `changed()`, and `wait_for` checks again."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def changed(self) -> None:
        self._changed.set()

    async def wait_for(self, check: Callable[[], bool], seconds: float = 10) -> None:
        """Until `check()` holds (re-checked after each `changed()`)."""
        async with asyncio.timeout(seconds):
            while not check():
                self._changed.clear()
                await self._changed.wait()


class FakeServer(Changes, Generic[Client]):
    def __init__(self) -> None:
        super().__init__()
        self.url = ""  # ws://127.0.0.1:<port><path>, once serving
        self.sent: list[str] = []  # every frame sent, in order
        self.clients: dict[ServerConnection, Client] = {}

    async def serve(self, connection: ServerConnection) -> None:
        raise NotImplementedError("a fake serves its provider's protocol")

    async def wait_subscribed_in(
        self, subscriptions: Sequence[Sized], connections: int, count: int, seconds: float
    ) -> None:
        """Until the `connections`-th connection has subscribed `count` things or more, as
        `subscriptions` records them (an entry a connection, in arrival order)."""
        await self.wait_for(
            lambda: (
                len(subscriptions) >= connections and len(subscriptions[connections - 1]) >= count
            ),
            seconds,
        )

    async def send_to(self, connection: ServerConnection, raw: str) -> None:
        """One frame, recorded in `sent` (a connection closing meanwhile is no error)."""
        self.sent.append(raw)
        with suppress(ConnectionClosed):
            await connection.send(raw)

    async def send_raw(self, raw: str) -> None:
        """One frame to every client, as it is (junk included)."""
        for connection in list(self.clients):
            await self.send_to(connection, raw)

    async def drop_all(self) -> None:
        """Close every client's connection abruptly (no close frame), as a failing server
        would."""
        for connection in list(self.clients):
            connection.transport.abort()


Fake = TypeVar("Fake", bound=FakeServer[Any])


@asynccontextmanager
async def serving(fake: Fake, path: str, **options: Any) -> AsyncIterator[Fake]:
    """`fake` serving on a loopback port, its `url` set (with `path`); `options` go to
    websockets' `serve`."""
    async with serve(fake.serve, "127.0.0.1", 0, **options) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        fake.url = f"ws://127.0.0.1:{port}{path}"
        yield fake
