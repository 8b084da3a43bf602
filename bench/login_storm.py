"""Login storm (issue 14, item 3): `python -m bench.login_storm` — N concurrent logins against
an embedded-mode Trado (the `trado` target, its market ticking at `--rate`), and what they cost
everyone else.

Per variant, a fresh server: one account is registered from 127.0.0.2 (a bystander's
address), a quotes subscription runs for a quiet `--quiet` seconds, then `--logins` logins with
wrong passwords for unknown emails go out at once from 127.0.0.1 (one attacker's address) while
/healthz is polled every 100 ms and, half a second in, the bystander signs in with the right
password. Reported: how the storm was answered (hashed / refused) and at what rate, the
bystander's wait, /healthz's slowest answer, quote latency (tick's exchange time to receipt)
p99 before and during the storm, and the server's RSS before, at its peak and after.

Variants: `limited` (the default settings); `unlimited` (rate limits and per-address turns
lifted, as if every login came from its own address: the bounded hashing pool alone);
`baseline` (`trado-baseline` from `--baseline DIR`: another checkout, e.g. the commit before
the limits). Each is started with `bench.targets.started`. The attacker runs in a process of
its own, so its CPU does not delay the clients that measure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from unittest import mock

import httpx
import orjson
import typer
import websockets

from bench.histogram import Histogram
from bench.procstats import Sampler, megabytes
from bench.report import machine_facts, table, write_results
from bench.targets import ROOT, Target, started_configured, universe

VARIANT_SETTINGS: dict[str, dict[str, str]] = {
    "limited": {},
    "unlimited": {  # as if from as many addresses as logins: the hashing pool alone
        "LOGIN_ATTEMPTS_PER_ADDRESS": "1000000",
        "LOGIN_FAILURES_PER_ACCOUNT": "1000000",
        "PASSWORD_HASHES_PER_ADDRESS": "1000",
    },
    "baseline": {},
}
BYSTANDER_ADDRESS = "127.0.0.2"  # Linux routes all of 127/8 to loopback: a second client address
PASSWORD = "correct-horse-7"
ATTACKER_START_SECONDS = 3.0  # for its process to start and import httpx
LOGIN = """mutation ($email: String!, $password: String!) {
  login(email: $email, password: $password) { __typename ... on AuthError { code } }
}"""
REGISTER = LOGIN.replace("login(", "register(")
QUOTES = "subscription ($s: [String!]!) { quotes(symbols: $s) { symbol timestamp } }"
COLUMNS = (
    ("variant", "variant"),
    ("logins", "logins"),
    ("hashed", "hashed"),
    ("refused", "refused"),
    ("errors", "errors"),
    ("storm_seconds", "storm s"),
    ("logins_per_second", "logins/s"),
    ("bystander_ms", "bystander ms"),
    ("bystander_result", "bystander got"),
    ("healthz_max_ms", "healthz max ms"),
    ("quote_p99_quiet_ms", "quote p99 quiet ms"),
    ("quote_p99_storm_ms", "quote p99 storm ms"),
    ("quotes_in_storm", "quotes in storm"),
    ("rss_before_mb", "RSS before MB"),
    ("rss_peak_mb", "RSS peak MB"),
    ("rss_after_mb", "RSS after MB"),
)
app = typer.Typer(add_completion=False, help=__doc__)


@dataclass(frozen=True)
class StormConfig:
    logins: int = 200
    variants: tuple[str, ...] = ("limited", "unlimited")
    rate: float = 100.0
    quiet_seconds: float = 2.0
    timeout_seconds: float = 120.0
    seed: int = 7
    baseline: Path | None = None


@app.command()
def main(  # noqa: PLR0917 (a typer command: one parameter per CLI option)
    logins: Annotated[int, typer.Option(min=1, help="Concurrent logins in the storm.")] = 200,
    variants: Annotated[
        str, typer.Option(help="Among limited, unlimited, baseline.")
    ] = "limited,unlimited",
    rate: Annotated[float, typer.Option(min=1, help="Simulated ticks/s.")] = 100.0,
    quiet: Annotated[float, typer.Option(min=0.5, help="Seconds of quotes before it.")] = 2.0,
    timeout: Annotated[float, typer.Option(min=1, help="Longest a storm may take.")] = 120.0,
    baseline: Annotated[Path | None, typer.Option(help="Checkout run as `baseline`.")] = None,
    results_dir: Annotated[Path, typer.Option()] = ROOT / "bench" / "results",
) -> None:
    """Run the storm against each variant; print and write the figures."""
    chosen = tuple(v.strip() for v in variants.split(",") if v.strip())
    if not chosen or set(chosen) - set(VARIANT_SETTINGS):
        raise typer.BadParameter(f"--variants are among {', '.join(VARIANT_SETTINGS)}")
    if "baseline" in chosen and baseline is None:
        raise typer.BadParameter("the baseline variant needs --baseline DIR")
    config = StormConfig(logins, chosen, rate, quiet, timeout, baseline=baseline)
    facts = machine_facts()
    typer.echo(f"login-storm: {dataclasses.asdict(config)}")
    rows = [run_variant(variant, config, results_dir / "work") for variant in chosen]
    typer.echo(table(rows, COLUMNS))
    for path in write_results(
        results_dir,
        "login-storm",
        command=f"python -m bench.login_storm --logins {logins} --variants {','.join(chosen)}",
        facts=facts,
        config=dataclasses.asdict(config),
        steps=rows,
        summary=rows,
        step_columns=COLUMNS,
        summary_columns=COLUMNS,
        summary_title="Login storm",
    ):
        typer.echo(f"wrote {path}")


def run_variant(variant: str, config: StormConfig, workdir: Path) -> dict[str, object]:
    name = "trado-baseline" if variant == "baseline" else "trado"
    symbols = universe()
    with (
        mock.patch.dict(os.environ, VARIANT_SETTINGS[variant]),
        started_configured(name, config, symbols, workdir) as target,
    ):
        row = asyncio.run(storm(target, config, symbols[:10]))
    return {"variant": variant, **row}


@dataclass(frozen=True)
class Attack:
    """What the attacker's process saw: each login's answer, and when the storm began and
    ended (wall clock, so the measuring process can place its samples)."""

    answers: list[str]
    started_at: float
    ended_at: float


async def attack(http: str, logins: int, start_at: float, seconds: float) -> Attack:
    """`logins` concurrent logins at `start_at`, in a process of its own: its CPU (hundreds of
    connections) must not delay the clients that measure the server."""
    code = "import sys; from bench.login_storm import attack_main; attack_main(sys.argv[1:])"
    arguments = [http, str(logins), str(start_at), str(seconds)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, *arguments, stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the attacker process exited with {process.returncode}")
    return Attack(**orjson.loads(output))


def attack_main(arguments: list[str]) -> None:
    http, logins, start_at, seconds = arguments
    result = asyncio.run(_attack(http, int(logins), float(start_at), float(seconds)))
    sys.stdout.write(orjson.dumps(dataclasses.asdict(result)).decode())


async def _attack(http: str, logins: int, start_at: float, seconds: float) -> Attack:
    limits = httpx.Limits(max_connections=logins)
    async with httpx.AsyncClient(base_url=http, limits=limits, timeout=seconds) as client:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        started_at = time.time()
        calls = (graphql(client, LOGIN, unknown_email(), "wrong-pass-99") for _ in range(logins))
        answers = await asyncio.gather(*calls, return_exceptions=True)
        return Attack([str(a) for a in answers], started_at, time.time())


async def storm(target: Target, config: StormConfig, symbols: list[str]) -> dict[str, object]:
    """The attack from 127.0.0.1; the bystander (127.0.0.2), /healthz and quotes measured."""
    http = target.url.replace("ws://", "http://").removesuffix("/graphql")
    timeout = httpx.Timeout(config.timeout_seconds)
    bystander_transport = httpx.AsyncHTTPTransport(local_address=BYSTANDER_ADDRESS)
    async with (
        httpx.AsyncClient(base_url=http, timeout=timeout) as probe,
        httpx.AsyncClient(base_url=http, timeout=timeout, transport=bystander_transport) as user,
        websockets.connect(target.url, subprotocols=["graphql-transport-ws"]) as socket,  # type: ignore[list-item]
    ):
        email = f"bystander-{secrets.token_hex(4)}@example.com"
        await graphql(user, REGISTER, email, PASSWORD)
        latencies: list[tuple[float, float]] = []
        reader = asyncio.create_task(read_quotes(socket, symbols, latencies))
        start_at = time.time() + max(config.quiet_seconds, ATTACKER_START_SECONDS)
        arguments = (http, config.logins, start_at, config.timeout_seconds)
        attacked = asyncio.create_task(attack(*arguments))
        await asyncio.sleep(start_at - time.time())
        rss_before = rss_mb(target.pid)
        with Sampler(target.pid) as sampler:
            health_ms: list[float] = []
            health = asyncio.create_task(poll_health(probe, health_ms))
            await asyncio.sleep(0.5)
            bystander_started = time.monotonic()
            bystander = await graphql(user, LOGIN, email, PASSWORD)
            bystander_ms = (time.monotonic() - bystander_started) * 1000
            storm = await attacked
            health.cancel()
        await asyncio.sleep(1.0)  # what the server keeps once it is over
        rss_after = rss_mb(target.pid)
        if reader.done():
            reader.result()  # the subscription failed: say why rather than report no quotes
        reader.cancel()
    peak = max((rss for t, rss in sampler.rss if t <= storm.ended_at), default=0)
    return {
        **figures(storm),
        "bystander_ms": round(bystander_ms, 1),
        "bystander_result": bystander,
        "healthz_max_ms": round(max(health_ms), 1) if health_ms else None,
        "quote_p99_quiet_ms": p99_ms(latencies, 0, storm.started_at),
        "quote_p99_storm_ms": p99_ms(latencies, storm.started_at, storm.ended_at),
        "quotes_in_storm": sum(storm.started_at <= t <= storm.ended_at for t, _ in latencies),
        "rss_before_mb": rss_before,
        "rss_peak_mb": megabytes(peak),
        "rss_after_mb": rss_after,
    }


def figures(storm: Attack) -> dict[str, object]:
    seconds = storm.ended_at - storm.started_at
    hashed = storm.answers.count("INVALID_CREDENTIALS")
    refused = storm.answers.count("RATE_LIMITED")
    return {
        "logins": len(storm.answers),
        "hashed": hashed,
        "refused": refused,
        "errors": len(storm.answers) - hashed - refused,
        "storm_seconds": round(seconds, 2),
        "logins_per_second": round(len(storm.answers) / seconds, 1),
    }


async def graphql(client: httpx.AsyncClient, query: str, email: str, password: str) -> str:
    """What a login or register answered: AuthPayload, or the AuthError's code."""
    body = {"query": query, "variables": {"email": email, "password": password}}
    response = await client.post("/graphql", json=body)
    result: dict[str, Any] = next(iter(response.json()["data"].values()))
    return str(result.get("code") or result["__typename"])


def unknown_email() -> str:
    return f"storm-{secrets.token_hex(6)}@example.com"


async def read_quotes(
    socket: websockets.ClientConnection, symbols: list[str], latencies: list[tuple[float, float]]
) -> None:
    """(receipt time, ms since the tick's exchange time) of every live quote (each symbol's
    first is the cached snapshot, as old as the symbol's last trade: left out)."""
    await socket.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
    await socket.recv()
    payload = {"query": QUOTES, "variables": {"s": symbols}}
    await socket.send(orjson.dumps({"id": "q", "type": "subscribe", "payload": payload}).decode())
    snapshots = set(symbols)
    async for raw in socket:
        message = orjson.loads(raw)
        if message.get("type") == "ping":
            await socket.send(orjson.dumps({"type": "pong"}).decode())
        elif message.get("type") == "next":
            now = time.time()
            quote = message["payload"]["data"]["quotes"]
            if quote["symbol"] in snapshots:
                snapshots.discard(quote["symbol"])
                continue
            stamp = datetime.fromisoformat(quote["timestamp"]).timestamp()
            latencies.append((now, (now - stamp) * 1000))


async def poll_health(client: httpx.AsyncClient, answered: list[float]) -> None:
    """ms of each /healthz, one every 100 ms, until cancelled."""
    while True:
        began = time.monotonic()
        response = await client.get("/healthz")
        response.raise_for_status()
        answered.append((time.monotonic() - began) * 1000)
        await asyncio.sleep(0.1)


def p99_ms(latencies: list[tuple[float, float]], start: float, end: float) -> float | None:
    histogram = Histogram()
    for received, ms in latencies:
        if start <= received <= end:
            histogram.record(max(0, int(ms * 1000)))
    value = histogram.percentile(0.99)
    return round(value / 1000, 1) if value is not None else None


def rss_mb(pid: int) -> float | None:
    """The server's RSS now (its children's included)."""
    sample = Sampler(pid).sample()
    return megabytes(sample[2]) if sample else None


if __name__ == "__main__":
    app(prog_name="python -m bench.login_storm")
