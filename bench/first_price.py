"""Seconds from the README's run command to the first streamed price, as a new user meets it.

    uv run python -m bench.first_price [--checkout DIR] [--command "make run"]

Starts the command in DIR (a fresh clone, say), subscribes to a quote over
`graphql-transport-ws` as soon as the port answers, prints the timings, then stops the command's
whole process group. The port is taken from --url (default: the embedded default 8000).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from websockets.asyncio.client import connect

SUBSCRIBE = {
    "id": "1",
    "type": "subscribe",
    "payload": {"query": 'subscription { quotes(symbols: ["AAPL"]) { symbol price sequence } }'},
}


async def first_price(url: str, deadline: float) -> tuple[float, dict[str, object]]:
    """Keep trying to connect until the server answers; return when the first quote arrives."""
    while time.monotonic() < deadline:
        try:
            async with connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
                await socket.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
                await socket.recv()
                await socket.send(orjson.dumps(SUBSCRIBE).decode())
                message = orjson.loads(await socket.recv())
                return time.monotonic(), message
        except OSError:
            await asyncio.sleep(0.05)
    raise TimeoutError("no price before the deadline")


def main(
    checkout: Annotated[Path, typer.Option(help="Where to run the command.")] = Path("."),
    command: Annotated[str, typer.Option(help="The run command.")] = "make run",
    url: Annotated[
        str, typer.Option(help="The GraphQL WebSocket.")
    ] = "ws://127.0.0.1:8000/graphql",
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 300,
) -> None:
    started = time.monotonic()
    process = asyncio.run(_start(command, checkout))
    try:
        received, message = asyncio.run(first_price(url, started + timeout))
    finally:
        os.killpg(process, signal.SIGTERM)
    print(f"command: {command!r} in {checkout.resolve()}")
    print(f"first price after {received - started:.2f} s: {message['payload']}")


async def _start(command: str, cwd: Path) -> int:
    process = await asyncio.create_subprocess_shell(
        command,
        cwd=cwd,
        start_new_session=True,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return process.pid


if __name__ == "__main__":
    typer.run(main)
