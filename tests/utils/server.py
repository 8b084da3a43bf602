"""A real uvicorn server on a free loopback port, inside the test's event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn

from commands.api import create_app, server_options
from settings import Settings


@dataclass(frozen=True)
class RunningServer:
    http: str
    ws: str


@asynccontextmanager
async def running_server(
    settings: Settings, *, send_buffer_bytes: int | None = None
) -> AsyncIterator[RunningServer]:
    """`send_buffer_bytes` pins the kernel send buffer of every accepted connection (they
    inherit it from the listening socket), so a client that stops reading blocks the
    server's sends quickly instead of after megabytes."""
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        **server_options(settings),
        timeout_graceful_shutdown=5,  # a stuck connection must not hold the test forever
    )
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer_bytes is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
    listener.bind(("127.0.0.1", 0))
    async with serving(config, listener) as port:
        yield RunningServer(http=f"http://127.0.0.1:{port}", ws=f"ws://127.0.0.1:{port}/graphql")


@asynccontextmanager
async def serving(config: uvicorn.Config, listener: socket.socket) -> AsyncIterator[int]:
    """uvicorn serving `config`'s app on `listener` (bound, on loopback) until the block
    ends; yields its port."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("server stopped during start-up")
                await asyncio.sleep(0.02)
        port: int = server.servers[0].sockets[0].getsockname()[1]
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
