"""What the fault scenarios (`chaos`, `faults`) share: a watcher client of every symbol that
resumes with `since` whenever its socket drops and counts what it got per phase (lost and
duplicated by sequence, arrivals with their age), the feed's acknowledged ticks summed across
its restarts, and `/readyz` read as one short word."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

QUOTES = (
    "subscription ($s: [String!]!, $since: [SymbolSequence!]) "
    "{ quotes(symbols: $s, since: $since) { symbol sequence timestamp } }"
)
LIVE_SECONDS = 1.0  # a tick younger than this on arrival is live


@dataclass
class Phase:
    """What the watcher saw while one fault ran and settled; `readiness` holds the states each
    polled source (an API process, by name) went through."""

    fault: str
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None  # when the fault was lifted
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    arrivals: list[tuple[float, float]] = field(default_factory=list)  # (when, age seconds)
    readiness: dict[str, list[str]] = field(default_factory=dict)

    def note_ready(self, state: str, source: str = "api") -> None:
        states = self.readiness.setdefault(source, [])
        if not states or states[-1] != state:
            states.append(state)

    def readiness_path(self, source: str = "api") -> str:
        return " → ".join(self.readiness.get(source, []))

    def longest_silence(self, until: float) -> float:
        times = [self.started, *(when for when, _ in self.arrivals), until]
        return max(b - a for a, b in itertools.pairwise(times))

    def recovery(self) -> float | None:
        """Seconds from the fault's end (`ended`) until a live tick arrived."""
        if self.ended is None:
            return None
        ended = self.ended
        live = [when for when, age in self.arrivals if when >= ended and age < LIVE_SECONDS]
        return round(max(live[0] - ended, 0.0), 2) if live else None

    def disturbed_for(self) -> float:
        """Seconds from the phase's start until its last disturbance: a tick that arrived late
        (`LIVE_SECONDS` old or more), or the first tick after a silence that long; 0 when the
        stream was never disturbed. For a fault that is not lifted (a node killed for good),
        how long until the stream was whole and live again."""
        last = None
        previous = self.started
        for when, age in self.arrivals:
            if age >= LIVE_SECONDS or when - previous >= LIVE_SECONDS:
                last = when
            previous = when
        return round(last - self.started, 2) if last is not None else 0.0


class Watcher:
    """One client of every symbol that resumes with `since` whenever its socket drops."""

    def __init__(self, port: int, symbols: list[str]) -> None:
        self.url = f"ws://127.0.0.1:{port}/graphql"
        self.symbols = symbols
        self.last: dict[str, int] = {}
        self.seen: set[tuple[str, int]] = set()
        self.phase = Phase("warm-up")
        self.reconnects = 0
        self.last_error = ""

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except (OSError, WebSocketException, TimeoutError) as error:
                self.reconnects += 1
                self.last_error = repr(error)
            await asyncio.sleep(0.2)

    async def _session(self) -> None:
        async with connect(self.url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            await socket.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
            since = [{"symbol": s, "sequence": n} for s, n in self.last.items()]
            variables = {"s": self.symbols, "since": since}
            payload = {"query": QUOTES, "variables": variables}
            message = {"id": "q", "type": "subscribe", "payload": payload}
            await socket.send(orjson.dumps(message).decode())
            async for raw in socket:
                message = orjson.loads(raw)
                if message.get("type") == "next":
                    self._take(message["payload"]["data"]["quotes"])
                elif message.get("type") == "ping":
                    await socket.send('{"type":"pong"}')

    def _take(self, quote: dict[str, Any]) -> None:
        symbol, sequence = quote["symbol"], int(quote["sequence"])
        age = time.time() - datetime.fromisoformat(quote["timestamp"]).timestamp()
        phase = self.phase
        if (symbol, sequence) in self.seen:
            phase.duplicated += 1
            return
        self.seen.add((symbol, sequence))
        last = self.last.get(symbol)
        if last is not None and sequence > last + 1:
            phase.lost += sequence - last - 1
        self.last[symbol] = max(sequence, last or 0)
        phase.delivered += 1
        phase.arrivals.append((time.monotonic(), age))


class FeedCounter:
    """Ticks the feed counted as acknowledged, summed across its restarts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = 0.0
        self.previous = 0.0
        self._lock = threading.Lock()  # read from the poller's thread and the main one

    def total(self) -> float:
        with self._lock:
            return self._total()

    def _total(self) -> float:
        try:
            current = labelled_sum(self.port, "trado_feed_ticks_total")
        except OSError:
            return self.base + self.previous  # the feed is down: what it had counted
        if current < self.previous:  # a restarted feed counts from zero
            self.base += self.previous
        self.previous = current
        return self.base + current


def labelled_sum(port: int, name: str) -> float:
    """The sum of a metric's samples (every label set) on a process's `/metrics`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def readiness_state(port: int) -> str:
    """`/readyz` as a short word: its status and what is not ok."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            code, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        code, body = error.code, error.read()
    except OSError:
        return "no answer"
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return str(code)
    bad = sorted(k for k, v in (data.get("backends") or {}).items() if v != "ok")
    live = (data.get("live") or {}).get("state")
    details = [*bad, *([f"live:{live}"] if live and live != "fresh" else [])]
    replication = (data.get("database_replication") or {}).get("state")
    if replication and replication != "protected":
        details.append("db unprotected" if replication.startswith("standby") else "db unknown")
    return f"{code} {data.get('status', '?')}" + (f" ({','.join(details)})" if details else "")
