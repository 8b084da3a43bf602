"""Streams beside the quote fan-out: `fanout --with-tape` and `--with-candles` run this next
to the load client, so a step measures the quotes' figures while trades, books or candles stream.

`trades` connections each subscribe `trades` on 10 symbols (the quote subscribers' shape),
`books` connections each `book` of one symbol, ten levels a side, and `candles` connections
each `candles` of one symbol at ONE_MINUTE (the symbols in turn; with `--unshared-candles`
each under an alias of its own, so none shares a selection); every message is read, nothing
else. The same line protocol as a load-client worker (`bench.loadclient`): it says
`connected <n>` once every connection has subscribed or failed (or after a minute, with those
that made it), takes `go <start> <end>`
(epoch seconds) on stdin and counts the messages that arrive in that window; at SIGTERM or
SIGINT it prints one JSON line: {"trades": n, "books": n, "candles": n, "errors": n,
"seconds": s, "connected": n}.

    python -m bench.tape_load --url ws://127.0.0.1:8000/graphql --symbols A,B,... --trades 100
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field

import orjson
import typer

from bench.leanws import LeanSocket
from bench.loadclient import CONNECT_CONCURRENCY, CONNECT_TIMEOUT, INIT, PONG, PROTOCOL

TRADES = (
    "subscription Trades($symbols: [String!]!) "
    "{ trades(symbols: $symbols) { symbol price size aggressor timestamp sequence } }"
)
BOOK = (
    "subscription Book($symbol: String!) { book(symbol: $symbol, depth: 10) "
    "{ symbol sequence previousSequence bids { price size } asks { price size } } }"
)
CANDLES = (
    "subscription Candles($symbol: String!) { %scandles(symbol: $symbol, interval: ONE_MINUTE) "
    "{ symbol interval start open high low close volume lastSequence } }"
)
PER_TRADES_SUBSCRIPTION = 10


@dataclass
class Counts:
    start: float = float("inf")
    end: float = float("inf")
    trades: int = 0
    books: int = 0
    candles: int = 0
    errors: int = 0
    connected: int = 0
    unsettled: int = 0  # connections neither subscribed nor failed yet
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self, kind: str) -> None:
        """One message of `kind`'s stream, if it arrived within the window."""
        if self.start <= time.time() < self.end:
            setattr(self, kind, getattr(self, kind) + 1)

    def settle(self) -> None:
        """One connection subscribed or failed."""
        self.unsettled -= 1
        if self.unsettled <= 0:
            self.settled.set()


def _subscribe(query: str, variables: dict[str, object]) -> str:
    payload = {"query": query, "variables": variables}
    return orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode()


async def _stream(
    url: str, message: str, kind: str, counts: Counts, gate: asyncio.Semaphore
) -> None:
    """One connection: init, subscribe, count each `next` of `kind` until closed."""
    acked: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def handshake(raw: bytes) -> None:
        if not acked.done():
            acked.set_result(raw)

    def on_text(raw: bytes) -> None:
        if b'"next"' in raw[:40]:
            counts.count(kind)
        elif b'"ping"' in raw[:40]:
            socket.send_text(PONG)
        else:
            counts.errors += 1

    try:
        async with gate:  # a few connections at a time until subscribed, as the load client
            socket = await LeanSocket.connect(url, PROTOCOL, handshake)
            socket.send_text(INIT)
            await acked
            socket.on_text = on_text
            socket.send_text(message)
            counts.connected += 1
    finally:
        counts.settle()
    try:
        await socket.closed
    finally:
        socket.close()


def _messages(
    symbols: list[str], streams_of: dict[str, int], seed: int, *, unshared: bool
) -> list[tuple[str, str]]:
    """Each connection's subscribe message and the stream it counts; books and candles take
    the symbols in turn. `unshared`: each candle connection aliases the field its own way, so
    no two share a selection (one execution per subscriber, as a private stream has)."""
    pick = random.Random(seed)
    trades = [
        _subscribe(TRADES, {"symbols": pick.sample(symbols, PER_TRADES_SUBSCRIPTION)})
        for _ in range(streams_of["trades"])
    ]
    books = [_subscribe(BOOK, {"symbol": s}) for s in _in_turn(symbols, streams_of["books"])]
    candles = [
        _subscribe(CANDLES % (f"c{n}: " if unshared else ""), {"symbol": symbol})
        for n, symbol in enumerate(_in_turn(symbols, streams_of["candles"]))
    ]
    return (
        [(m, "trades") for m in trades]
        + [(m, "books") for m in books]
        + [(m, "candles") for m in candles]
    )


def _in_turn(symbols: list[str], count: int) -> list[str]:
    return [symbols[n % len(symbols)] for n in range(count)]


async def run(url: str, messages: list[tuple[str, str]]) -> None:
    counts = Counts(unsettled=len(messages))
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    tasks = [asyncio.create_task(_stream(url, m, kind, counts, gate)) for m, kind in messages]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if messages:
        with suppress(TimeoutError):  # then it goes on with those that made it
            await asyncio.wait_for(counts.settled.wait(), CONNECT_TIMEOUT)
    _say(f"connected {counts.connected}")
    go = asyncio.create_task(asyncio.to_thread(sys.stdin.readline))
    await asyncio.wait([go, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED")
    if go.done() and (words := go.result().split())[:1] == ["go"]:
        counts.start, counts.end = float(words[1]), float(words[2])
    await stop.wait()
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    counts.errors += sum(
        1
        for r in results
        if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
    )
    seconds = max(min(time.time(), counts.end) - counts.start, 0.0)
    figures = {k: getattr(counts, k) for k in ("trades", "books", "candles", "errors")}
    _say(orjson.dumps({**figures, "connected": counts.connected, "seconds": seconds}).decode())


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(  # noqa: PLR0917 (a typer command: one parameter per CLI option)
    url: str = typer.Option(..., help="The target's GraphQL WebSocket URL."),
    symbols: str = typer.Option(..., help="Comma-separated symbols to pick from."),
    trades: int = typer.Option(100, help="Connections streaming `trades` (10 symbols each)."),
    books: int = typer.Option(20, help="Connections streaming one `book` each."),
    candles: int = typer.Option(0, help="Connections streaming one symbol's 1m `candles` each."),
    unshared_candles: bool = typer.Option(False, help="Each candle connection its own alias."),
    seed: int = typer.Option(7),
) -> None:
    streams_of = {"trades": trades, "books": books, "candles": candles}
    messages = _messages(symbols.split(","), streams_of, seed, unshared=unshared_candles)
    asyncio.run(run(url, messages))


if __name__ == "__main__":
    typer.run(main)
