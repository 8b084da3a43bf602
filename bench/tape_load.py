"""Time and sales and depth streaming beside the quote fan-out: `fanout --with-tape` runs this
next to the load client, so a step measures the quotes' figures while trades and books stream.

`trades` connections each subscribe `trades` on 10 symbols (the quote subscribers' shape) and
`books` connections each `book` of one symbol, ten levels a side; every message is read and
counted, nothing else. It runs until SIGTERM or SIGINT, then prints one JSON line:
{"trades": n, "books": n, "errors": n, "seconds": s, "connected": n}.

    python -m bench.tape_load --url ws://127.0.0.1:8000/graphql --symbols A,B,... --trades 100
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import time
from dataclasses import dataclass

import orjson
import typer

from bench.leanws import LeanSocket
from bench.loadclient import INIT, PONG, PROTOCOL

TRADES = (
    "subscription Trades($symbols: [String!]!) "
    "{ trades(symbols: $symbols) { symbol price size aggressor timestamp sequence } }"
)
BOOK = (
    "subscription Book($symbol: String!) { book(symbol: $symbol, depth: 10) "
    "{ symbol sequence previousSequence bids { price size } asks { price size } } }"
)
PER_TRADES_SUBSCRIPTION = 10


@dataclass
class Counts:
    trades: int = 0
    books: int = 0
    errors: int = 0
    connected: int = 0


def _subscribe(query: str, variables: dict[str, object]) -> str:
    payload = {"query": query, "variables": variables}
    return orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode()


async def _stream(url: str, message: str, field: str, counts: Counts) -> None:
    """One connection: init, subscribe, count each `next` of `field` until closed."""
    acked: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def handshake(raw: bytes) -> None:
        if not acked.done():
            acked.set_result(raw)

    socket = await LeanSocket.connect(url, PROTOCOL, handshake)
    try:
        socket.send_text(INIT)
        await acked

        def on_text(raw: bytes) -> None:
            if b'"next"' in raw[:40]:
                setattr(counts, field, getattr(counts, field) + 1)
            elif b'"ping"' in raw[:40]:
                socket.send_text(PONG)
            else:
                counts.errors += 1

        socket.on_text = on_text
        socket.send_text(message)
        counts.connected += 1
        await socket.closed
    finally:
        socket.close()


async def run(url: str, symbols: list[str], trades: int, books: int, seed: int) -> None:
    counts = Counts()
    pick = random.Random(seed)
    streams = [
        _stream(
            url,
            _subscribe(TRADES, {"symbols": pick.sample(symbols, PER_TRADES_SUBSCRIPTION)}),
            "trades",
            counts,
        )
        for _ in range(trades)
    ] + [
        _stream(url, _subscribe(BOOK, {"symbol": symbols[n % len(symbols)]}), "books", counts)
        for n in range(books)
    ]
    tasks = [asyncio.create_task(stream) for stream in streams]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    started = time.monotonic()
    await stop.wait()
    seconds = time.monotonic() - started
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    counts.errors += sum(
        1
        for r in results
        if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
    )
    line = {**counts.__dict__, "seconds": round(seconds, 2)}
    sys.stdout.write(orjson.dumps(line).decode() + "\n")
    sys.stdout.flush()


def main(
    url: str = typer.Option(..., help="The target's GraphQL WebSocket URL."),
    symbols: str = typer.Option(..., help="Comma-separated symbols to pick from."),
    trades: int = typer.Option(100, help="Connections streaming `trades` (10 symbols each)."),
    books: int = typer.Option(20, help="Connections streaming one `book` each."),
    seed: int = typer.Option(7),
) -> None:
    asyncio.run(run(url, symbols.split(","), trades, books, seed))


if __name__ == "__main__":
    typer.run(main)
