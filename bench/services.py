"""Full mode for the benchmarks: the real PostgreSQL, Redis and Kafka of `scripts/services.sh up`,
named in `TRADO_SERVICES_ENV` (a file) or `<repo>/.services/services.env`.

Each full-mode run works in a sandbox of its own: a fresh database `trado_bench_<tag>`
(created with the trado role, migrated by `python -m commands.migrate`, dropped afterwards), and
its own `REDIS_KEY_PREFIX`, `KAFKA_TICKS_TOPIC` and `KAFKA_BRIDGE_GROUP`; its Redis keys and
its topic are deleted at the end. Missing services stop the run with a message, never a skip.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from dotenv import dotenv_values
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from bench.targets import ROOT, TargetFailed, free_port, services_file, stop_group

NEEDED = ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS")
HINT = "run scripts/services.sh up (or point TRADO_SERVICES_ENV at a services.env)"
REPLICATED_HINT = "run scripts/services.sh up --replicated (or point TRADO_REPLICATED_ENV at one)"
log = logging.getLogger(__name__)


class ServicesMissing(RuntimeError):
    pass


def read_services(hint: str = HINT) -> dict[str, str]:
    """DATABASE_URL, REDIS_URL and KAFKA_BOOTSTRAP_SERVERS of the running services: the one
    reader of the file `scripts/services.sh up` writes (the tests' fixtures use it too)."""
    values = _read_env_file(services_file(), hint)
    return {name: values[name] for name in NEEDED}


def replicated_file() -> Path:
    named = os.environ.get("TRADO_REPLICATED_ENV")
    return Path(named) if named else ROOT / ".services" / "replicated.env"


def read_replicated() -> dict[str, str]:
    """Every setting of the replicated topology's file (`scripts/services.sh up --replicated`
    writes it: the three brokers, REDIS_CLUSTER, the multi-host DATABASE_URL...)."""
    return _read_env_file(replicated_file(), REPLICATED_HINT)


def _read_env_file(path: Path, hint: str) -> dict[str, str]:
    if not path.is_file():
        raise ServicesMissing(f"{path} not found: PostgreSQL, Redis and Kafka are not up; {hint}")
    values = {name: value for name, value in dotenv_values(path).items() if value}
    missing = [name for name in NEEDED if name not in values]
    if missing:
        raise ServicesMissing(f"{path} lacks {', '.join(missing)}; {hint}")
    return values


@dataclass(frozen=True)
class Sandbox:
    tag: str
    database: str
    env: dict[str, str]  # full-mode settings for every process of the run

    @property
    def topic(self) -> str:
        return self.env["KAFKA_TICKS_TOPIC"]

    @property
    def kafka(self) -> str:
        return self.env["KAFKA_BOOTSTRAP_SERVERS"]

    @property
    def dsn(self) -> str:
        """The sandbox database for asyncpg (or psql)."""
        return plain_dsn(self.env["DATABASE_URL"])


def plain_dsn(url: str) -> str:
    return re.sub(r"^postgresql\+asyncpg://", "postgresql://", url)


def _with_database(url: str, database: str) -> str:
    """`url` naming `database` instead (its query, such as target_session_attrs, kept)."""
    address, mark, query = url.partition("?")
    head, _, _ = address.rpartition("/")
    return f"{head}/{database}{mark}{query}"


@contextmanager
def sandbox(
    workdir: Path,
    instruments: Path,
    checkout: Path = ROOT,
    services: dict[str, str] | None = None,
) -> Iterator[Sandbox]:
    """A migrated database, prefix, topic and group of this run's own; all removed after. Its
    processes run the code of `checkout` (another one: a baseline to compare with), over
    `services` (by default the single-node ones; every setting given reaches them)."""
    services = services or read_services()
    # This process's id first: a test tells its own sandboxes from those of runs beside it.
    tag = f"{os.getpid()}_{secrets.token_hex(3)}"
    database = f"trado_bench_{tag}"
    try:
        asyncio.run(_create_database(services["DATABASE_URL"], database))
    except (OSError, asyncpg.PostgresError) as error:
        raise ServicesMissing(f"PostgreSQL unreachable ({error!r}); {HINT}") from error
    env = {
        **os.environ,
        **services,
        "DATABASE_URL": _with_database(services["DATABASE_URL"], database),
        "REDIS_KEY_PREFIX": f"bench-{tag}:",
        "KAFKA_TICKS_TOPIC": f"bench-{tag}",
        "KAFKA_BRIDGE_GROUP": f"bench-{tag}",
        "RUN_FEED_IN_PROCESS": "false",
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "INSTRUMENTS_FILE": str(instruments),
        "PYTHONPATH": str(checkout),
    }
    env.pop("METRICS_PORT", None)
    box = Sandbox(tag, database, env)
    try:
        migrate = subprocess.run(
            [sys.executable, "-m", "commands.migrate"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if migrate.returncode != 0:
            raise TargetFailed(
                f"commands.migrate failed:\n{(migrate.stdout + migrate.stderr)[-1500:]}"
            )
        yield box
    finally:
        asyncio.run(_clean(services, box))


async def _create_database(url: str, database: str) -> None:
    connection = await asyncpg.connect(plain_dsn(url), timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{database}"')
    finally:
        await connection.close()


async def _clean(services: dict[str, str], box: Sandbox) -> None:
    """Drop the database, the Redis keys and the topic; a failure is logged, not raised, so
    the others still go."""
    try:
        connection = await asyncpg.connect(plain_dsn(services["DATABASE_URL"]), timeout=10)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{box.database}" WITH (FORCE)')
        finally:
            await connection.close()
    except (OSError, asyncpg.PostgresError) as error:
        log.warning("could not drop database %s: %r", box.database, error)
    cluster = services.get("REDIS_CLUSTER", "").lower() == "true"
    await forget_keys(services["REDIS_URL"], box.env["REDIS_KEY_PREFIX"], cluster=cluster)
    admin = AIOKafkaAdminClient(bootstrap_servers=box.kafka)
    try:
        await admin.start()
        await admin.delete_topics([box.topic])
    except Exception as error:  # the topic may never have been created
        log.warning("could not delete topic %s: %r", box.topic, error)
    finally:
        await admin.close()


async def forget_keys(url: str, prefix: str, *, cluster: bool = False) -> None:
    """Leave Redis as found: drop the run's quotes, candles and watermarks (on a cluster, of
    every primary; redis-py splits the deletes by slot)."""
    redis = RedisCluster.from_url(url) if cluster else Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(match=prefix + "*", count=1000)]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
    except RedisError as error:
        log.warning("could not drop the Redis keys %s*: %r", prefix, error)
    finally:
        await redis.aclose()


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-1500:]


@contextmanager
def processes() -> Iterator[list[Started]]:
    """Collects what `spawn` starts; stops every process group on the way out (reverse order)."""
    started: list[Started] = []
    try:
        yield started
    finally:
        for item in reversed(started):
            stop_group(item.process)


def spawn(
    started: list[Started],
    name: str,
    args: list[str],
    *,
    env: dict[str, str],
    workdir: Path,
    port: int | None = None,
    program: str = sys.executable,
) -> Started:
    """`python ARGS` (or `program ARGS`) in its own process group, output appended to
    `workdir/<name>.log` (a restarted process's after its predecessor's)."""
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [program, *args],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    item = Started(name, process, log_path, port)
    started.append(item)
    return item


def wait_http(item: Started, url: str, timeout: float = 60.0) -> None:
    """Until `url` answers 200 (the process must stay alive meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if item.process.poll() is not None:
            raise TargetFailed(f"{item.name} exited with {item.process.returncode}: {item.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == HTTPStatus.OK:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TargetFailed(f"{item.name} not ready after {timeout:.0f}s: {item.tail()}")


def start_api(started: list[Started], env: dict[str, str], workdir: Path) -> Started:
    """`python server.py` on a port of its own, once /readyz answers."""
    return _start_served(started, "api", workdir, env=env, port_setting="PORT", ready="readyz")


def start_bridge(started: list[Started], env: dict[str, str], workdir: Path) -> Started:
    """`python -m commands.bridge` with its metrics on a port of its own."""
    return _start_served(
        started, "bridge", workdir, env=env, port_setting="METRICS_PORT", ready="metrics"
    )


def _start_served(
    started: list[Started],
    command: str,
    workdir: Path,
    *,
    env: dict[str, str],
    port_setting: str,
    ready: str,
) -> Started:
    port = free_port()
    args = [str(ROOT / "server.py")] if command == "api" else ["-m", f"commands.{command}"]
    env = {**env, port_setting: str(port)}
    item = spawn(started, command, args, env=env, workdir=workdir, port=port)
    wait_http(item, f"http://127.0.0.1:{port}/{ready}")
    return item


def scrape(port: int) -> dict[str, float]:
    """A worker's Prometheus metrics, unlabelled samples only: {name: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            values[name] = float(value)
    return values
