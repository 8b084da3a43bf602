"""Scenario `attacks` (issue 14): each denial-of-service input of the issue, sent to an
embedded-mode Trado (the `trado` target; with `--baseline DIR`, to that checkout first, so
before and after share one run), with what it got (HTTP status, error code, WebSocket close
code) and how long it took, and the server's RSS before and after.

An attack is an `Attack(name, run)`: `run` gets the `Victim` (its URLs, a signed-in user's
token, the server's pid) and returns the outcome in a few words; the harness times it. To add
one, write its coroutine and append it to `ATTACKS`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import websockets
from websockets.exceptions import ConnectionClosed

from bench.targets import compared_targets, started_configured, universe

COLUMNS = (
    ("target", "target"),
    ("attack", "attack"),
    ("outcome", "outcome"),
    ("seconds", "seconds"),
    ("response_bytes", "reply bytes"),
    ("rss_before_mb", "RSS before MB"),
    ("rss_after_mb", "RSS after MB"),
)
TIMEOUT = 60.0  # seconds an attack may take before it counts as "no answer"
MIB = 1024 * 1024
GRAPHQL_RESPONSE = {"accept": "application/graphql-response+json, application/json;q=0.9"}
PASSWORD = "attack-bench-7-horse"


@dataclass(frozen=True)
class AttacksConfig:
    rate: float = 100.0  # the market's ticks/s meanwhile
    watchlists: int = 5  # of the signed-in user, each of `items` instruments
    items: int = 40
    repeats: int = 90  # of the 4 MiB symbol over WebSocket
    seed: int = 7
    baseline: Path | None = None


@dataclass(frozen=True)
class Victim:
    http: str
    ws: str
    token: str
    pid: int
    repeats: int


@dataclass(frozen=True)
class Outcome:
    text: str
    response_bytes: int = 0


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[Victim], Awaitable[Outcome]]


def doubling(levels: int, leaf: str) -> str:
    """`levels` fragments each spreading the next twice: 2^levels copies of `leaf`."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return "\n".join(["query Q { ...F0 }", *fragments, f"fragment F{levels} on Query {{ {leaf} }}"])


WATCHLIST_ALIASES = (
    "{ "
    + " ".join(
        f"w{i}: watchlists {{ items {{ instrument {{ symbol name }} "
        "quote { symbol price bid ask volume timestamp sequence } } }"
        for i in range(30)
    )
    + " }"
)


async def post(victim: Victim, body: dict[str, Any], *, signed_in: bool = False) -> Outcome:
    headers = {**GRAPHQL_RESPONSE}
    if signed_in:
        headers["authorization"] = f"Bearer {victim.token}"
    async with httpx.AsyncClient(base_url=victim.http, timeout=TIMEOUT) as client:
        response = await client.post("/graphql", json=body, headers=headers)
    return Outcome(f"HTTP {response.status_code} {_code(response.content)}", len(response.content))


def _code(content: bytes) -> str:
    """The first error's code (or message's start), or `data` when there was no error."""
    try:
        errors = orjson.loads(content).get("errors")
    except (orjson.JSONDecodeError, AttributeError):
        return "(not JSON)"
    if not errors:
        return "data"
    first = errors[0]
    return str((first.get("extensions") or {}).get("code") or first.get("message", "")[:40])


def query_attack(name: str, query: str, *, signed_in: bool = False) -> Attack:
    async def run(victim: Victim) -> Outcome:
        return await post(victim, {"query": query}, signed_in=signed_in)

    return Attack(name, run)


async def subscribe_once(victim: Victim, payload: dict[str, Any]) -> Outcome:
    """One graphql-transport-ws connection (no token), one subscribe: its first reply, or
    the close code when the server closed instead."""
    try:
        async with websockets.connect(
            victim.ws,
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
            max_size=None,
            open_timeout=TIMEOUT,
        ) as socket:
            await socket.send(orjson.dumps({"type": "connection_init"}).decode())
            await asyncio.wait_for(socket.recv(), TIMEOUT)
            await socket.send(
                orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode()
            )
            reply = await asyncio.wait_for(socket.recv(), TIMEOUT)
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else "none"
        return Outcome(f"closed {code}")
    message = orjson.loads(reply)
    payload = message.get("payload")
    errors = payload if message.get("type") == "error" else (payload or {}).get("errors")
    code = _code(orjson.dumps({"errors": errors}))
    return Outcome(f"{message.get('type')} {code}", len(reply))


def long_symbol(size: int) -> dict[str, Any]:
    return {
        "query": "subscription Q($s: [String!]!) { quotes(symbols: $s) { symbol } }",
        "variables": {"s": ["A" * size]},
    }


async def symbol_4mib(victim: Victim) -> Outcome:
    return await subscribe_once(victim, long_symbol(4 * MIB))


async def symbol_4mib_repeated(victim: Victim) -> Outcome:
    """`repeats` connections, each sending one 4 MiB symbol (the issue's memory attack)."""
    outcomes = [(await symbol_4mib(victim)).text for _ in range(victim.repeats)]
    first = outcomes[0]
    return Outcome(f"{victim.repeats}x {first}" if len(set(outcomes)) == 1 else ", ".join(outcomes))


async def symbol_60kib(victim: Victim) -> Outcome:
    """Under the message cap, over the string cap: refused, and the reply stays short."""
    return await subscribe_once(victim, long_symbol(60 * 1024))


async def oversized_message(victim: Victim) -> Outcome:
    return await subscribe_once(victim, {"query": "{ __typename }" + " " * 70_000})


ATTACKS: list[Attack] = [
    query_attack("fragment doubling, 20 levels", doubling(20, "__typename")),
    query_attack("fragment doubling, 30 levels", doubling(30, "__typename")),
    query_attack("fragment doubling, 60 levels", doubling(60, "__typename")),
    query_attack("30 aliases of watchlists (signed in)", WATCHLIST_ALIASES, signed_in=True),
    query_attack("cost: 20-level doubling of watchlists", doubling(20, "watchlists { id }")),
    Attack("WS: one 4 MiB symbol", symbol_4mib),
    Attack("WS: 4 MiB symbol, repeated", symbol_4mib_repeated),
    Attack("WS: 60 KiB symbol", symbol_60kib),
    Attack("WS: 70 KB message", oversized_message),
]


async def prepare(http: str, watchlists: int, items: int, symbols: list[str]) -> str:
    """A signed-in user with `watchlists` lists of `items` instruments: its token."""
    email = f"attacker-{time.time_ns()}@example.com"
    async with httpx.AsyncClient(base_url=http, timeout=TIMEOUT) as client:

        async def call(query: str, variables: dict[str, Any], token: str | None = None) -> Any:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            body = {"query": query, "variables": variables}
            response = await client.post("/graphql", json=body, headers=headers)
            result = response.json()
            if "data" not in result or result.get("errors"):
                raise RuntimeError(f"preparing the attacks: {response.status_code} {result}")
            return result["data"]

        signed = await call(
            "mutation ($e: String!, $p: String!) { register(email: $e, password: $p) "
            "{ ... on AuthPayload { token } ... on AuthError { message } } }",
            {"e": email, "p": PASSWORD},
        )
        token: str = signed["register"]["token"]
        for number in range(watchlists):
            made = await call(
                "mutation ($n: String!) { createWatchlist(name: $n) { id } }",
                {"n": f"list {number}"},
                token,
            )
            for symbol in symbols[:items]:
                await call(
                    "mutation ($w: ID!, $s: String!) "
                    "{ addToWatchlist(watchlistId: $w, symbol: $s) { id } }",
                    {"w": made["createWatchlist"]["id"], "s": symbol},
                    token,
                )
    return token


def rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    total = process.memory_info().rss + sum(
        child.memory_info().rss for child in process.children(recursive=True)
    )
    return round(total / MIB, 1)


async def run_attacks(victim: Victim, target: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for attack in ATTACKS:
        before = rss_mb(victim.pid)
        started_at = time.perf_counter()
        try:
            outcome = await asyncio.wait_for(attack.run(victim), TIMEOUT)
        except (TimeoutError, httpx.TimeoutException):
            outcome = Outcome(f"no answer in {TIMEOUT:.0f} s")
        except (httpx.HTTPError, OSError, websockets.InvalidHandshake) as error:
            outcome = Outcome(f"failed: {error!r}"[:80])
        seconds = time.perf_counter() - started_at
        row = {
            "target": target,
            "attack": attack.name,
            "outcome": outcome.text,
            "seconds": round(seconds, 3),
            "response_bytes": outcome.response_bytes,
            "rss_before_mb": before,
            "rss_after_mb": rss_mb(victim.pid),
        }
        print(row, flush=True)
        rows.append(row)
    return rows


def attacks(config: AttacksConfig, workdir: Path) -> list[dict[str, object]]:
    symbols = universe(100)
    rows: list[dict[str, object]] = []
    for name in compared_targets(config):
        with started_configured(name, config, symbols, workdir / name) as target:
            http = target.url.replace("ws://", "http://").removesuffix("/graphql")
            token = asyncio.run(prepare(http, config.watchlists, config.items, symbols))
            victim = Victim(http, target.url, token, target.pid, config.repeats)
            rows.extend(asyncio.run(run_attacks(victim, name)))
    return rows
