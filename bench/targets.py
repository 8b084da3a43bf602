"""The servers a benchmark runs against, each started on a free loopback port in its own
process group and stopped (by that group) when the run is done:

- `trado`: `python server.py` in embedded mode (simulator → in-process log → bridge → memory
  pub/sub → hub → Strawberry), driven at the given rate over the first 100 instruments;
- `node-graphql`: graphql-js + graphql-ws + ws, same schema and fan-out (`node/graphql_peer.mjs`);
- `raw-ws`: a `ws` broadcast of pre-serialized frames of the same shape (`node/raw_ws_peer.mjs`);
- `centrifugo`: Centrifugo (Go), installed into `bench/.bin` on first use, fed through its HTTP
  server API by `node/centrifugo_peer.mjs`, which starts it as its child (one process group);
  the peer is its publisher;
- `trado-asgi`, `trado-websockets`: `trado` with every frame sent through ASGI, on uvicorn's
  sans-io and legacy `websockets` protocols;
- `trado-traced`: `trado` with tracing on (OpenTelemetry, default sampling), sending to the
  trace receiver of `scripts/services.sh up`: what tracing costs, beside `trado`;
- `trado-baseline`: `trado` from another checkout (`--baseline DIR`, e.g. a `git worktree` of
  the plain-Strawberry commit), run by this Python, so before and after share one run.

With `pin` (`bench.pinning`), the target runs on the server core and Centrifugo's publisher on
the client core.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil
from dotenv import dotenv_values

from bench.loadclient import ClientKind
from bench.pinning import CLIENT_CORE, GO_ONE_CORE, SERVER_CORE, on_core

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "bench" / "node"
INSTRUMENTS = ROOT / "data" / "instruments.csv"
TARGETS = (
    "trado",
    "node-graphql",
    "raw-ws",
    "centrifugo",
    "trado-baseline",
    "trado-asgi",
    "trado-websockets",
    "trado-traced",
)
PYTHON_TARGETS = ("trado", "trado-baseline", "trado-asgi", "trado-websockets", "trado-traced")
# Trado with every live frame through ASGI instead of straight to the socket, on uvicorn's two
# WebSocket protocols: what the ASGI hops and each implementation cost, beside `trado`.
TRADO_VARIANTS = {
    "trado-asgi": {"WEBSOCKET_PROTOCOL": "websockets-sansio"},
    "trado-websockets": {"WEBSOCKET_PROTOCOL": "websockets"},
}
TRACED = "trado-traced"  # `trado` sending traces to the receiver of `scripts/services.sh up`
NODE_SCRIPTS = {"node-graphql": "graphql_peer.mjs", "raw-ws": "raw_ws_peer.mjs"}
START_TIMEOUT = 60.0
READY_LINE = re.compile(rb"^ready\b", re.MULTILINE)  # a Node peer's word (not "already")
CENTRIFUGO_MODULE = "github.com/centrifugal/centrifugo/v6"
CENTRIFUGO_VERSION = "6.9.1"
# Outside the checkout, so a fresh clone (CI's) finds the binary an earlier run built.
CENTRIFUGO_BIN = Path.home() / ".cache" / "trado" / f"centrifugo-{CENTRIFUGO_VERSION}/centrifugo"
CENTRIFUGO_NAMESPACE = "quotes"  # channels `quotes:<SYMBOL>`


class TargetFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    pid: int  # what is measured as the server: the process with its children
    client: ClientKind | None = None  # the load client it needs; None: any GraphQL one
    publisher: int | None = None  # a process feeding it from outside, measured alone


def services_file() -> Path:
    """What `scripts/services.sh up` wrote: TRADO_SERVICES_ENV, else the repository's."""
    named = os.environ.get("TRADO_SERVICES_ENV")
    return Path(named) if named else ROOT / ".services" / "services.env"


def traced_environment() -> dict[str, str]:
    """Tracing on, to the trace receiver the services file names, at default sampling."""
    endpoint = dotenv_values(services_file()).get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        raise TargetFailed(
            f"{TRACED} needs the trace receiver: {services_file()} names none; "
            "run scripts/services.sh up"
        )
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "trado-bench"}


def universe(count: int = 100) -> list[str]:
    """The symbols every target ticks: the first `count` reference instruments."""
    with INSTRUMENTS.open(newline="") as file:
        rows = list(csv.DictReader(file))
    if len(rows) < count:
        raise TargetFailed(f"{INSTRUMENTS} has {len(rows)} instruments, need {count}")
    return [row["symbol"] for row in rows[:count]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def ensure_node_modules(directory: Path = NODE_DIR, package: str = "graphql-ws") -> None:
    """A fresh clone has no node_modules: install `directory`'s locked versions once (when
    `package` is not installed there yet)."""
    if (directory / "node_modules" / package).is_dir():
        return
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=directory,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"npm ci in {directory} failed:\n{result.stdout}{result.stderr}")


def ensure_centrifugo() -> Path:
    """Centrifugo's binary at the pinned version, built with `go install` into the user's
    cache the first time (a few minutes; the Go module proxy must be reachable; `python -m
    bench peers` does it ahead of a run), as its releases are built: no cgo, stripped, the
    version stamped in (else it runs as a "development build" and says v0.0.0)."""
    if CENTRIFUGO_VERSION in (_version_of(CENTRIFUGO_BIN) or ""):
        return CENTRIFUGO_BIN
    stamp = f"-X {CENTRIFUGO_MODULE}/internal/build.Version={CENTRIFUGO_VERSION}"
    result = subprocess.run(
        ["go", "install", f"-ldflags=-s -w {stamp}", f"{CENTRIFUGO_MODULE}@v{CENTRIFUGO_VERSION}"],
        env={**os.environ, "GOBIN": str(CENTRIFUGO_BIN.parent), "CGO_ENABLED": "0"},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise TargetFailed(f"go install of Centrifugo failed:\n{result.stdout}{result.stderr}")
    return CENTRIFUGO_BIN


def _version_of(binary: Path) -> str | None:
    """`binary version` (e.g. "Centrifugo v6.9.1 (Go version: go1.26.8)"), or None when it is
    missing or broken."""
    try:
        result = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def centrifugo_version() -> str | None:
    return _version_of(CENTRIFUGO_BIN)


def write_centrifugo_config(workdir: Path, port: int) -> Path:
    """Its defaults but for: loopback `port`, a server API key made for this run, anonymous
    clients allowed to connect without a token and to subscribe in the `quotes` namespace
    (history stays off, its default), and warnings only in the log."""
    config = {
        "log": {"level": "warn"},
        "http_server": {"address": "127.0.0.1", "port": port},
        "http_api": {"key": secrets.token_urlsafe(24)},
        "client": {"allow_anonymous_connect_without_token": True},
        "channel": {
            "namespaces": [
                {
                    "name": CENTRIFUGO_NAMESPACE,
                    "allow_subscribe_for_client": True,
                    "allow_subscribe_for_anonymous": True,
                }
            ]
        },
    }
    path = workdir / f"centrifugo-{port}.json"
    path.write_text(json.dumps(config, indent=2))
    return path


@contextmanager
def started(
    name: str,
    *,
    rate: float,
    symbols: list[str],
    seed: int,
    workdir: Path,
    baseline: Path | None = None,
    pin: bool = False,
) -> Iterator[Target]:
    """Start target `name` ticking `rate` ticks/s over `symbols`; stop its process group after.
    With `pin`, it runs on the server core; of `centrifugo`, the binary alone (GOMAXPROCS=1),
    measured as the server, its publisher on the client core."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / f"{name}-{port}.log"
    if name in PYTHON_TARGETS:
        checkout = baseline if name == "trado-baseline" else ROOT
        if checkout is None or api_command(checkout) is None:
            raise TargetFailed(f"{name} needs a Trado checkout (--baseline DIR)")
        command, env, cwd = _trado_command(
            checkout, port, rate, symbols, seed=seed, workdir=workdir
        )
        env.update(TRADO_VARIANTS.get(name, {}))
        if name == TRACED:
            env.update(traced_environment())
    elif name in NODE_SCRIPTS:
        ensure_node_modules()
        command = _node_command(NODE_SCRIPTS[name], port, rate, symbols, seed)
        env, cwd = dict(os.environ), NODE_DIR
    elif name == "centrifugo":
        command, env = _centrifugo_command(port, rate, symbols, seed, workdir, pin=pin)
        cwd = NODE_DIR
    else:
        raise TargetFailed(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
    if pin and name != "centrifugo":
        command = on_core(SERVER_CORE, command)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(name, port, process, log_path)
        if name == "centrifugo":
            url = f"ws://127.0.0.1:{port}/connection/websocket"
            server = _only_child(process.pid) if pin else process.pid
            yield Target(name, url, server, client="centrifugo", publisher=process.pid)
        else:
            yield Target(name, f"ws://127.0.0.1:{port}/graphql", process.pid)
    finally:
        stop_group(process)


class TargetSettings(Protocol):
    """What a scenario's config says of the Trado targets it starts."""

    @property
    def rate(self) -> float: ...
    @property
    def seed(self) -> int: ...
    @property
    def baseline(self) -> Path | None: ...  # a checkout run as `trado-baseline`


def compared_targets(config: TargetSettings) -> list[str]:
    """`trado`, after `trado-baseline` when the config names a baseline checkout."""
    return (["trado-baseline"] if config.baseline else []) + ["trado"]


def started_configured(
    name: str, config: TargetSettings, symbols: list[str], workdir: Path, *, pin: bool = False
) -> AbstractContextManager[Target]:
    """`started` at a scenario config's rate and seed, with its baseline checkout."""
    return started(
        name,
        rate=config.rate,
        symbols=symbols,
        seed=config.seed,
        workdir=workdir,
        baseline=config.baseline,
        pin=pin,
    )


def _node_command(script: str, port: int, rate: float, symbols: list[str], seed: int) -> list[str]:
    """A Node peer in `bench/node/` with the options every peer takes (see `ticks.mjs`)."""
    command = ["node", str(NODE_DIR / script), "--port", str(port), "--rate", str(rate)]
    return [*command, "--symbols", ",".join(symbols), "--seed", str(seed)]


def _centrifugo_command(
    port: int, rate: float, symbols: list[str], seed: int, workdir: Path, *, pin: bool
) -> tuple[list[str], dict[str, str]]:
    """Its Node publisher, which starts the binary; pinned, the publisher on the client core
    and the binary (`--cpus`) on the server core with one thread for Go code."""
    binary, config = ensure_centrifugo(), write_centrifugo_config(workdir, port)
    command = _node_command("centrifugo_peer.mjs", port, rate, symbols, seed)
    command += ["--binary", str(binary), "--config", str(config)]
    if not pin:
        return command, dict(os.environ)
    command = on_core(CLIENT_CORE, [*command, "--cpus", str(SERVER_CORE)])
    return command, {**os.environ, **GO_ONE_CORE}


def _only_child(pid: int) -> int:
    """The one process `pid` started (Centrifugo's publisher's binary, once it serves)."""
    children = psutil.Process(pid).children()
    if len(children) != 1:
        raise TargetFailed(f"expected one child of {pid}, found {[c.pid for c in children]}")
    return children[0].pid


def _trado_command(
    checkout: Path, port: int, rate: float, symbols: list[str], *, seed: int, workdir: Path
) -> tuple[list[str], dict[str, str], Path]:
    """Embedded mode, configured only through its settings, run from `workdir` so no `.env`
    of the checkout leaks in."""
    instruments = write_instruments(workdir, symbols)
    database = workdir / f"trado-{port}.db"
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "REDIS_URL": "",
        "KAFKA_BOOTSTRAP_SERVERS": "",
        "RUN_FEED_IN_PROCESS": "true",
        "SIMULATOR_TICKS_PER_SECOND": str(rate),
        "SIMULATOR_SEED": str(seed),
        "INSTRUMENTS_FILE": str(instruments),
    }
    command = api_command(checkout)
    assert command is not None
    return command, {**env, "PYTHONPATH": str(checkout)}, workdir


def api_command(checkout: Path) -> list[str] | None:
    """How `checkout` runs its API: `server.py`, or `-m commands.api` in the checkouts of
    the time it lived there."""
    if (checkout / "server.py").is_file():
        return [sys.executable, str(checkout / "server.py")]
    if (checkout / "commands" / "api.py").is_file():
        return [sys.executable, "-m", "commands.api"]
    return None


def write_instruments(workdir: Path, symbols: list[str]) -> Path:
    """An INSTRUMENTS_FILE of just `symbols` (reference rows), in `workdir`."""
    instruments = workdir / f"instruments-{len(symbols)}.csv"
    with INSTRUMENTS.open(newline="") as source, instruments.open("w", newline="") as target:
        reader = csv.DictReader(source)
        assert reader.fieldnames is not None
        writer = csv.DictWriter(target, fieldnames=reader.fieldnames)
        writer.writeheader()
        wanted = set(symbols)
        writer.writerows(row for row in reader if row["symbol"] in wanted)
    return instruments


def _wait_ready(name: str, port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TargetFailed(f"{name} exited with {process.returncode}: {_tail(log_path)}")
        if name in PYTHON_TARGETS:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                pass
        elif READY_LINE.search(log_path.read_bytes()):
            return
        time.sleep(0.1)
    raise TargetFailed(f"{name} not ready after {START_TIMEOUT:.0f}s: {_tail(log_path)}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-1500:]


def stop_group(process: subprocess.Popen[Any]) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            pass
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
