"""One load-client worker process: many `graphql-transport-ws` connections on one event loop.

    python -m bench.loadclient --url ws://127.0.0.1:9000/graphql --connections 250 \
        --symbols AAPL,MSFT,... --first 0 --seed 7 [--client aiohttp|websockets]

The harness (`bench.load`) starts several of these so the client side is never one core's
worth of Python. Line protocol on stdin/stdout, so every worker measures the same window:

    worker -> `connected <ok> <failed>` once every connection has subscribed (or failed); with
              `--await-opening`, once each has had its first quote (or failed)
    harness -> `go <start> <end>` (epoch seconds)
    worker -> one JSON line of figures for [start, end), then it exits

Latency is receive time minus the quote's `timestamp` (exchange time, set when the tick was
generated), both wall clock on this machine; only messages received inside the window count,
so the subscription's opening snapshot (an older quote) never skews the figures.

`--start-at` (epoch seconds) holds the connections back until then, so a worker can be started
ahead of a connect storm; `--connect-concurrency` sets how many attempts are in flight at once.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, cast

import orjson
import typer

from bench.histogram import Histogram
from bench.leansse import LeanSSE
from bench.leanws import LeanSocket

PROTOCOL = "graphql-transport-ws"
QUERY = (
    "subscription Quotes($symbols: [String!]!) "
    "{ quotes(symbols: $symbols) { symbol price bid ask volume timestamp sequence } }"
)
CONNECT_CONCURRENCY = 64  # connection attempts in flight per worker (keeps the accept queue sane)
CONNECT_TIMEOUT = 60.0
ClientKind = Literal["lean", "aiohttp", "websockets", "sse"]
INIT = '{"type":"connection_init","payload":{}}'
PONG = '{"type":"pong"}'


def symbols_for(index: int, symbols: list[str], seed: int, per_subscription: int) -> list[str]:
    """The symbols connection `index` subscribes to: the same on every run and every target."""
    return random.Random(seed * 1_000_003 + index).sample(symbols, per_subscription)


def subscribe_message(symbols: list[str], operation_id: str = "1") -> str:
    payload = {"query": QUERY, "variables": {"symbols": symbols}}
    return orjson.dumps({"id": operation_id, "type": "subscribe", "payload": payload}).decode()


@dataclass
class Figures:
    """What one worker saw; the harness merges these across workers."""

    start: float = float("inf")
    end: float = float("inf")
    delivered: int = 0
    received_total: int = 0
    errors: int = 0
    first_error: str | None = None
    connected: int = 0
    failed: int = 0
    closed_early: int = 0
    cpu_seconds: float = 0.0
    histogram: Histogram = field(default_factory=Histogram)
    slice_seconds: float = 0.0  # > 0: also one histogram per slice of the window
    slices: dict[int, Histogram] = field(default_factory=dict)
    # By operation id, the connections still waiting for their first quote (`--await-opening`)
    openings: dict[str, Callable[[], None]] = field(default_factory=dict)
    opened: int = 0
    last_opened_at: float | None = None  # epoch seconds of the latest first quote

    def on_text(self, raw: str | bytes) -> bool:
        """Count one frame; True when the server pinged and a pong is due."""
        now = time.time()
        self.received_total += 1
        message: dict[str, Any] = orjson.loads(raw)
        kind = message.get("type")
        if kind == "next":
            if self.openings and (opened := self.openings.pop(str(message.get("id")), None)):
                self.opened += 1
                self.last_opened_at = now
                opened()
            self.on_next(message["payload"], now)
        elif kind == "ping":
            return True
        elif kind in ("error", "complete"):
            self.error(message.get("payload"))
        return False

    def on_next(self, payload: dict[str, Any], now: float) -> None:
        """One quote's result, whatever carried it: its latency, inside the window."""
        if "errors" in payload:
            self.error(payload["errors"])
        elif self.start <= now < self.end:
            stamp = datetime.fromisoformat(payload["data"]["quotes"]["timestamp"])
            micros = int((now - stamp.timestamp()) * 1_000_000)
            self.histogram.record(micros)
            self.delivered += 1
            if self.slice_seconds:
                index = int((now - self.start) / self.slice_seconds)
                if (bucket := self.slices.get(index)) is None:
                    bucket = self.slices[index] = Histogram()
                bucket.record(micros)

    def error(self, detail: object) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = str(detail)[:300]

    def to_json(self) -> dict[str, object]:
        return {
            "delivered": self.delivered,
            "received_total": self.received_total,
            "errors": self.errors,
            "first_error": self.first_error,
            "connected": self.connected,
            "failed": self.failed,
            "closed_early": self.closed_early,
            "cpu_seconds": self.cpu_seconds,
            "histogram": self.histogram.to_json(),
            "slices": {str(i): h.to_json() for i, h in self.slices.items()},
            "opened": self.opened,
            "last_opened_at": self.last_opened_at,
        }


def _expect_ack(raw: str | bytes) -> None:
    message = orjson.loads(raw)
    if message.get("type") != "connection_ack":
        raise ConnectionError(f"expected connection_ack, got {message!r}"[:300])


async def run_aiohttp(
    url: str, wanted: list[str], figures: Figures, ready: Callable[[], None], operation_id: str
) -> None:
    import aiohttp

    timeout = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
        session.ws_connect(
            url, protocols=(PROTOCOL,), compress=0, autoping=True, max_msg_size=0, timeout=timeout
        ) as socket,
    ):
        await socket.send_str(INIT)
        _expect_ack(await socket.receive_str())
        await socket.send_str(subscribe_message(wanted, operation_id))
        ready()
        async for message in socket:
            if message.type == aiohttp.WSMsgType.TEXT:
                if figures.on_text(message.data):
                    await socket.send_str(PONG)
            elif message.type == aiohttp.WSMsgType.ERROR:
                raise ConnectionError(str(socket.exception()))


async def run_sse(
    url: str, wanted: list[str], figures: Figures, ready: Callable[[], None], _operation_id: str
) -> None:
    """The same subscription over GraphQL over SSE (graphql-sse, distinct connections mode):
    one streaming POST per subscriber, its events parsed in the protocol's callback (its
    events carry no operation id)."""

    def on_data(raw: bytes) -> None:
        figures.received_total += 1
        figures.on_next(orjson.loads(raw), time.time())

    body = {"query": QUERY, "variables": {"symbols": wanted}}
    stream = await LeanSSE.post("http" + url.removeprefix("ws"), body, on_data)
    try:
        ready()
        await stream.closed
    finally:
        stream.close()


async def run_websockets(
    url: str, wanted: list[str], figures: Figures, ready: Callable[[], None], operation_id: str
) -> None:
    from websockets.asyncio.client import connect

    async with connect(
        url,
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        compression=None,
        max_size=None,
        max_queue=None,
        ping_interval=None,
        open_timeout=CONNECT_TIMEOUT,
    ) as socket:
        await socket.send(INIT)
        _expect_ack(await socket.recv())
        await socket.send(subscribe_message(wanted, operation_id))
        ready()
        async for raw in socket:
            if figures.on_text(raw):
                await socket.send(PONG)


async def run_lean(
    url: str, wanted: list[str], figures: Figures, ready: Callable[[], None], operation_id: str
) -> None:
    """Frames parsed in the protocol's callback: no task wake-up per message."""
    acked = asyncio.get_running_loop().create_future()

    def handshake(raw: bytes) -> None:
        if not acked.done():
            acked.set_result(raw)

    socket = await LeanSocket.connect(url, PROTOCOL, handshake)
    try:
        socket.send_text(INIT)
        _expect_ack(await acked)

        def on_text(raw: bytes) -> None:
            if figures.on_text(raw):
                socket.send_text(PONG)

        socket.on_text = on_text
        socket.send_text(subscribe_message(wanted, operation_id))
        ready()
        await socket.closed
    finally:
        socket.close()


RUNNERS = {"lean": run_lean, "aiohttp": run_aiohttp, "websockets": run_websockets, "sse": run_sse}


@dataclass(frozen=True)
class Connecting:
    """How a worker opens its connections."""

    concurrency: int = CONNECT_CONCURRENCY  # attempts in flight at once
    start_at: float = 0.0  # epoch seconds; 0: at once
    await_opening: bool = False  # settled at the first quote, not when the subscribe is sent


async def _connection(
    kind: ClientKind,
    url: str,
    wanted: list[str],
    figures: Figures,
    *,
    gate: asyncio.Semaphore,
    settled: Callable[[], None],
    operation_id: str = "1",
    await_opening: bool = False,
) -> None:
    """One connection for the whole run; `settled` fires once it has subscribed (with
    `await_opening`: had its first quote) or failed."""
    subscribed = False
    done = False

    def settle() -> None:
        nonlocal done
        if not done:
            done = True
            settled()

    await gate.acquire()
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT) as limit:

            def ready() -> None:
                """Subscribed: no more time limit, and let the next connection start."""
                nonlocal subscribed
                subscribed = True
                limit.reschedule(None)
                figures.connected += 1
                gate.release()
                if await_opening:
                    figures.openings[operation_id] = settle
                else:
                    settle()

            await RUNNERS[kind](url, wanted, figures, ready, operation_id)
        if subscribed:
            figures.closed_early += 1
    except asyncio.CancelledError:
        raise
    except Exception as error:
        if subscribed:
            figures.closed_early += 1
            figures.error(f"closed: {error!r}")
        else:
            figures.failed += 1
            figures.error(f"connect: {error!r}")
    finally:
        figures.openings.pop(operation_id, None)
        if not subscribed:
            gate.release()
        settle()


async def run_worker(
    *,
    url: str,
    connections: int,
    first: int,
    symbols: list[str],
    per_subscription: int,
    seed: int,
    kind: ClientKind,
    slice_seconds: float = 0.0,
    connecting: Connecting = Connecting(),
) -> None:
    figures = Figures(slice_seconds=slice_seconds)
    gate = asyncio.Semaphore(connecting.concurrency)
    all_settled = asyncio.Event()
    pending = connections

    def settled() -> None:
        nonlocal pending
        pending -= 1
        if pending == 0:
            all_settled.set()

    plans = [symbols_for(first + i, symbols, seed, per_subscription) for i in range(connections)]
    # Each its own operation id when the first quote of each must be told apart.
    ids = [str(first + i) if connecting.await_opening else "1" for i in range(connections)]
    await asyncio.sleep(max(connecting.start_at - time.time(), 0))
    tasks = [
        asyncio.create_task(
            _connection(
                kind,
                url,
                wanted,
                figures,
                gate=gate,
                settled=settled,
                operation_id=operation_id,
                await_opening=connecting.await_opening,
            )
        )
        for wanted, operation_id in zip(plans, ids, strict=True)
    ]
    await all_settled.wait()
    _say(f"connected {figures.connected} {figures.failed}")
    match (await asyncio.to_thread(sys.stdin.readline)).split():
        case ["go", start, end]:
            figures.start, figures.end = float(start), float(end)
            await asyncio.sleep(max(figures.start - time.time(), 0))
            cpu_at_start = time.process_time()
            await asyncio.sleep(max(figures.end - time.time(), 0))
            figures.cpu_seconds = time.process_time() - cpu_at_start
            _say(orjson.dumps(figures.to_json()).decode())
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=5)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(  # noqa: PLR0917 (a typer command: one parameter per CLI option)
    url: Annotated[str, typer.Option()],
    connections: Annotated[int, typer.Option(min=1)],
    symbols: Annotated[str, typer.Option(help="Comma-separated universe to pick from.")],
    first: Annotated[int, typer.Option(help="Index of this worker's first connection.")] = 0,
    per_subscription: Annotated[int, typer.Option(min=1)] = 10,
    seed: int = 7,
    client: Annotated[str, typer.Option(help="lean, aiohttp, websockets or sse")] = "lean",
    slice_seconds: Annotated[
        float, typer.Option(min=0, help="Also a histogram per slice of the window (0: off).")
    ] = 0.0,
    connect_concurrency: Annotated[
        int, typer.Option(min=1, help="Connection attempts in flight at once.")
    ] = CONNECT_CONCURRENCY,
    start_at: Annotated[
        float, typer.Option(help="Epoch seconds to start connecting at (0: at once).")
    ] = 0.0,
    await_opening: Annotated[
        bool, typer.Option(help="A connection is settled at its first quote, not its subscribe.")
    ] = False,
) -> None:
    if client not in RUNNERS:
        raise typer.BadParameter(f"client must be one of {', '.join(RUNNERS)}")
    worker = run_worker(
        url=url,
        connections=connections,
        first=first,
        symbols=symbols.split(","),
        per_subscription=per_subscription,
        seed=seed,
        kind=cast(ClientKind, client),
        slice_seconds=slice_seconds,
        connecting=Connecting(connect_concurrency, start_at, await_opening),
    )
    try:
        import uvloop
    except ImportError:
        asyncio.run(worker)
    else:
        uvloop.run(worker)


if __name__ == "__main__":
    typer.run(main)
