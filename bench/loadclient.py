"""One load-client worker process: many `graphql-transport-ws` connections on one event loop
(or Centrifugo's JSON protocol, `--client centrifugo`).

    python -m bench.loadclient --url ws://127.0.0.1:9000/graphql --connections 250 \
        --symbols AAPL,MSFT,... --first 0 --seed 7 [--client aiohttp|websockets]

The harness (`bench.load`) starts several of these so the client side is never one core's
worth of Python. Line protocol on stdin/stdout, so every worker measures the same window:

    worker -> `connected <ok> <failed> <first attempt>` (epoch seconds) once every connection
              is subscribed (its subscription acknowledged or its first message received) or
              has failed; with `--await-opening`, once each has had its first quote (or failed)
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
from collections.abc import Callable, Coroutine
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
ClientKind = Literal["lean", "aiohttp", "websockets", "sse", "centrifugo"]
INIT = '{"type":"connection_init","payload":{}}'
PONG = '{"type":"pong"}'
CENTRIFUGO_PROTOCOL = "centrifuge-json"
CENTRIFUGO_PONG = "{}"  # the answer to its ping, an empty command
CENTRIFUGO_CHANNEL = "quotes:{}"
CONNECT_ID = 1


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
            self.on_opening(str(message.get("id")), now)
            self.on_next(message["payload"], now)
        elif kind == "ping":
            return True
        elif kind in ("error", "complete"):
            self.error(message.get("payload"))
        return False

    def on_opening(self, operation_id: str, now: float) -> None:
        """A quote for `operation_id`: if it is that subscription's first, count it and settle
        the connection waiting for it."""
        if self.openings and (opened := self.openings.pop(operation_id, None)):
            self.opened += 1
            self.last_opened_at = now
            opened()

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


@dataclass(slots=True)
class Progress:
    """One connection on its way to subscribed. Its runner calls `sent()` once the subscribe
    request is out (the connection gives up its place in `gate`, so the next one may start)
    and `ready()` once the subscription is live: acknowledged, or its first message arrived
    (only the first call of each counts). With `await_opening`, `ready()` only gives up the
    place in `gate`: the connection is subscribed at its first quote, which `Figures` tells
    apart by `operation_id` and reports through `opening()`."""

    figures: Figures
    gate: asyncio.Semaphore
    settled: Callable[[], None]
    operation_id: str = "1"
    await_opening: bool = False  # subscribed at its first quote, not its first message
    limit: asyncio.Timeout | None = None  # the time allowed until subscribed
    gated: bool = True  # still holds its place in `gate`
    subscribed: bool = False

    def sent(self) -> None:
        if self.gated:
            self.gated = False
            self.gate.release()

    def ready(self) -> None:
        if self.await_opening:
            self.sent()
        else:
            self.opening()

    def opening(self) -> None:
        """Subscribed: no more time limit; counted and settled."""
        if self.subscribed:
            return
        self.sent()
        self.subscribed = True
        if self.limit is not None:
            self.limit.reschedule(None)
        self.figures.connected += 1
        self.settled()

    def end(self) -> None:
        """The connection is over: give its place back and, unless subscribed, settle it."""
        self.sent()
        if not self.subscribed:
            self.settled()


async def run_aiohttp(url: str, wanted: list[str], figures: Figures, progress: Progress) -> None:
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
        await socket.send_str(subscribe_message(wanted, progress.operation_id))
        progress.sent()
        async for message in socket:
            progress.ready()
            if message.type == aiohttp.WSMsgType.TEXT:
                if figures.on_text(message.data):
                    await socket.send_str(PONG)
            elif message.type == aiohttp.WSMsgType.ERROR:
                raise ConnectionError(str(socket.exception()))


async def run_sse(url: str, wanted: list[str], figures: Figures, progress: Progress) -> None:
    """The same subscription over GraphQL over SSE (graphql-sse, distinct connections mode):
    one streaming POST per subscriber, its events parsed in the protocol's callback (its
    events carry no operation id: each is this connection's)."""

    def on_data(raw: bytes) -> None:
        now = time.time()
        progress.ready()
        figures.received_total += 1
        figures.on_opening(progress.operation_id, now)
        figures.on_next(orjson.loads(raw), now)

    body = {"query": QUERY, "variables": {"symbols": wanted}}
    stream = await LeanSSE.post("http" + url.removeprefix("ws"), body, on_data)
    try:
        progress.sent()
        await stream.closed
    finally:
        stream.close()


async def run_websockets(url: str, wanted: list[str], figures: Figures, progress: Progress) -> None:
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
        await socket.send(subscribe_message(wanted, progress.operation_id))
        progress.sent()
        async for raw in socket:
            progress.ready()
            if figures.on_text(raw):
                await socket.send(PONG)


async def run_lean(url: str, wanted: list[str], figures: Figures, progress: Progress) -> None:
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

        def first(raw: bytes) -> None:
            socket.on_text = on_text
            progress.ready()
            on_text(raw)

        socket.on_text = first
        socket.send_text(subscribe_message(wanted, progress.operation_id))
        progress.sent()
        await socket.closed
    finally:
        socket.close()


def centrifugo_messages(raw: bytes) -> list[dict[str, Any]]:
    """Centrifugo's JSON protocol may carry several replies and pushes in one frame, one JSON
    object per line."""
    return [orjson.loads(line) for line in raw.split(b"\n") if line.strip()]


class CentrifugoSession:
    """One connection's side of Centrifugo's JSON protocol, apart from its socket: `connect`,
    then one `subscribe` per symbol (all in one frame), then publications, whose data is the
    GraphQL peers' `next` payload, so latency is measured as for them."""

    def __init__(self, wanted: list[str], figures: Figures, operation_id: str = "1") -> None:
        self.figures = figures
        self.operation_id = operation_id  # this connection's, for `Figures.on_opening`
        self.channels = [CENTRIFUGO_CHANNEL.format(symbol) for symbol in wanted]
        self.unanswered: set[int] = {CONNECT_ID}
        self.failure: str | None = None

    @property
    def subscribed(self) -> bool:
        """Connected, and every subscribe acknowledged."""
        return not self.unanswered and self.failure is None

    @staticmethod
    def connect_command() -> str:
        return orjson.dumps({"id": CONNECT_ID, "connect": {}}).decode()

    def on_frame(self, raw: bytes, now: float) -> list[str]:
        """Count one frame's messages; what to send back: the subscribes once connected, an
        empty command for each ping (an empty object), or the server drops the client."""
        answers: list[str] = []
        for message in centrifugo_messages(raw):
            self.figures.received_total += 1
            if (push := message.get("push")) is not None:
                self._on_push(push, now)
            elif "id" in message:
                answers += self._on_reply(message)
            elif not message:
                answers.append(CENTRIFUGO_PONG)
        return answers

    def _on_push(self, push: dict[str, Any], now: float) -> None:
        if (publication := push.get("pub")) is not None:
            self.figures.on_opening(self.operation_id, now)
            self.figures.on_next(publication["data"], now)
        else:  # unsubscribed or disconnected by the server
            self.figures.error(push)

    def _on_reply(self, reply: dict[str, Any]) -> list[str]:
        self.unanswered.discard(reply["id"])
        if "error" in reply:
            self.failure = self.failure or f"reply {reply['id']}: {reply['error']}"
            return []
        if reply["id"] != CONNECT_ID:
            return []
        ids = range(CONNECT_ID + 1, CONNECT_ID + 1 + len(self.channels))
        self.unanswered.update(ids)
        subscribes = (
            orjson.dumps({"id": i, "subscribe": {"channel": channel}}).decode()
            for i, channel in zip(ids, self.channels, strict=True)
        )
        return ["\n".join(subscribes)]


async def run_centrifugo(url: str, wanted: list[str], figures: Figures, progress: Progress) -> None:
    """Ready once Centrifugo has acknowledged the connect and every subscribe (with
    `await_opening`: at its first publication)."""
    session = CentrifugoSession(wanted, figures, progress.operation_id)
    answered = asyncio.get_running_loop().create_future()

    def on_text(raw: bytes) -> None:
        for answer in session.on_frame(raw, time.time()):
            socket.send_text(answer)
        if not answered.done() and (session.subscribed or session.failure):
            answered.set_result(None)

    socket = await LeanSocket.connect(url, CENTRIFUGO_PROTOCOL, on_text)
    try:
        socket.send_text(session.connect_command())
        await asyncio.wait((answered, socket.closed), return_when=asyncio.FIRST_COMPLETED)
        if not session.subscribed:
            raise ConnectionError(session.failure or "closed before it was subscribed")
        progress.ready()
        await socket.closed
    finally:
        socket.close()


RUNNERS = {
    "lean": run_lean,
    "aiohttp": run_aiohttp,
    "websockets": run_websockets,
    "sse": run_sse,
    "centrifugo": run_centrifugo,
}


@dataclass(frozen=True)
class Connecting:
    """How a worker opens its connections."""

    concurrency: int = CONNECT_CONCURRENCY  # attempts in flight at once
    start_at: float = 0.0  # epoch seconds; 0: at once
    await_opening: bool = False  # subscribed at the first quote, not the first message


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
    await gate.acquire()
    progress = Progress(figures, gate, settled, operation_id, await_opening)
    if await_opening:
        figures.openings[operation_id] = progress.opening
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT) as progress.limit:
            await RUNNERS[kind](url, wanted, figures, progress)
        if progress.subscribed:
            figures.closed_early += 1
    except asyncio.CancelledError:
        raise
    except Exception as error:
        if progress.subscribed:
            figures.closed_early += 1
            figures.error(f"closed: {error!r}")
        else:
            figures.failed += 1
            figures.error(f"connect: {error!r}")
    finally:
        figures.openings.pop(operation_id, None)
        progress.end()


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
    first_attempt = time.time()
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
    _say(f"connected {figures.connected} {figures.failed} {first_attempt}")
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
    client: Annotated[
        str, typer.Option(help="lean, aiohttp, websockets, sse or centrifugo")
    ] = "lean",
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
        bool,
        typer.Option(help="A connection is subscribed at its first quote, not its first message."),
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
    run_on_fastest_loop(worker)


def run_on_fastest_loop(work: Coroutine[Any, Any, None]) -> None:
    """uvloop where installed (as the servers measured run), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(work)
    else:
        uvloop.run(work)


if __name__ == "__main__":
    typer.run(main)
