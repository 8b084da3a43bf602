"""The replicated topology under a fault run (`bench/faults.py`): Trado's processes over it, and
each fault, its healing and the wait until all is healthy again.

The processes are `scripts/replicated/run.sh`'s, started here one by one so that one can be
killed alone: two bridge workers (b1, b2), the simulator feed, two API processes (a1, a2, each
its EVENT_STREAM_ROUTE) and nginx in front of them (`deploy.nginx`), every port picked free.
The services are `scripts/services.sh up --replicated`'s; a fault kills one of their nodes
with the piece's own script (`kafka.sh kill N`, `redis.sh kill N`, `postgres.sh kill ...`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from bench.services import Started, plain_dsn, spawn, wait_http
from bench.targets import ROOT, TargetFailed, free_port, stop_group
from bench.watching import labelled_sum, readiness_state
from deploy.nginx import ApiProcess, write

SCRIPTS = ROOT / "scripts"
APIS = ("a1", "a2")
BRIDGES = ("b1", "b2")
START_SECONDS = 240.0  # a process's start on a shared two-core machine
HEALTHY_SECONDS = 300.0
PROMOTE_AFTER_SECONDS = 2.0  # the primary lost: how long the operator (or a guard) takes
STATE = ROOT / ".services" / "replicated"  # postgres.sh's nodes: postgres-<port>/data
# A money transaction has written (it locked a user's row: it has an xid) and is not over.
TRADE_UNDER_WAY = (
    "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL "
    "AND query ~* '\\m(users|orders|fill|position|user_event|notification)\\M'"
)


@dataclass
class Processes:
    """Trado's processes of the run, each restartable alone with the same settings and port."""

    workdir: Path
    env: dict[str, str]
    started: list[Started]
    rate: float
    seed: int
    ports: dict[str, int] = field(default_factory=dict)
    running: dict[str, Started] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (*APIS, *BRIDGES, "feed", "nginx"):
            self.ports[name] = free_port()

    @property
    def balancer(self) -> int:
        return self.ports["nginx"]

    def start_all(self) -> None:
        for name in (*BRIDGES, "feed", *APIS):
            self.spawn(name)
        for name in (*BRIDGES, "feed", *APIS):
            self.wait_up(name)
        self.spawn("nginx")
        self.wait_up("nginx")

    def start(self, name: str) -> None:
        self.spawn(name)
        self.wait_up(name)

    def spawn(self, name: str) -> None:
        port = self.ports[name]
        if name == "nginx":
            self.running[name] = self._spawn_nginx()
            return
        env = {**self.env, "METRICS_PORT": str(port)}
        if name in APIS:
            args = [str(ROOT / "server.py")]
            env = {**self.env, "PORT": str(port), "EVENT_STREAM_ROUTE": name}
            env |= {"FORWARDED_FOR_TRUSTED_HOPS": "1", "METRICS_ENDPOINT": "true"}
        elif name in BRIDGES:
            args = ["-m", "commands.bridge"]
        else:
            args = ["-m", "commands.feed", "simulator", "--rate", str(self.rate)]
            args += ["--seed", str(self.seed)]
        self.running[name] = spawn(
            self.started, name, args, env=env, workdir=self.workdir, port=port
        )

    def _spawn_nginx(self) -> Started:
        folder = self.workdir / "balancer"
        upstreams = [ApiProcess(name, f"127.0.0.1:{self.ports[name]}") for name in APIS]
        config = write(folder, f"127.0.0.1:{self.balancer}", upstreams)
        args = ["-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")]
        return spawn(
            self.started, "nginx", args, env=self.env, workdir=self.workdir, program="nginx"
        )

    def wait_up(self, name: str) -> None:
        path = "readyz" if name in (*APIS, "nginx") else "metrics"
        wait_http(self.running[name], f"http://127.0.0.1:{self.ports[name]}/{path}", START_SECONDS)

    def stop(self, name: str) -> None:
        """A clean stop (SIGTERM to its group, SIGKILL if it lingers)."""
        stop_group(self.running[name].process)

    def kill(self, name: str) -> None:
        """kill -9, as a crash: nothing of it runs on."""
        process = self.running[name].process
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def exited(self) -> list[str]:
        return [name for name, item in self.running.items() if item.process.poll() is not None]


def script(piece: str, *args: str, timeout: float = 600) -> str:
    """`scripts/replicated/<piece>.sh args...` (or `scripts/services.sh` for "services");
    its output. A failure stops the run: the topology is not as the run needs it."""
    path = SCRIPTS / "replicated" / f"{piece}.sh"
    if piece == "services":
        path = SCRIPTS / "services.sh"
    done = subprocess.run(
        [str(path), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise TargetFailed(f"{path.name} {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


@dataclass(frozen=True)
class Fault:
    """What a fault killed, and how to heal it (start it again, or rebuild it)."""

    killed: str
    heal: Callable[[], Awaitable[None]]


async def inject(fault: str, processes: Processes) -> Fault:
    """One fault, a `kill -9` that nothing undoes until `heal`: the PostgreSQL primary's is
    followed by the promotion of its standby, as an operator or a guard would do."""
    if fault == "kafka":
        return await _kill_kafka_leader(processes.env)
    if fault == "redis":
        return await _kill_redis_primary(processes.env)
    if fault == "pg-primary":
        caught = await _kill_primary_in_a_trade(processes.env)
        await asyncio.sleep(PROMOTE_AFTER_SECONDS)
        await asyncio.to_thread(script, "postgres", "promote")
        what = "PostgreSQL primary" + (", a trade under way" if caught else "")
        return Fault(what, lambda: asyncio.to_thread(_postgres_up))
    if fault == "pg-standby":
        await asyncio.to_thread(script, "postgres", "kill", "standby")
        return Fault("PostgreSQL standby", lambda: asyncio.to_thread(_postgres_up))
    name = await asyncio.to_thread(_busiest_api, processes) if fault == "api" else "b1"
    await asyncio.to_thread(processes.kill, name)
    what = f"API process {name}" if fault == "api" else f"bridge worker {name}"
    return Fault(what, lambda: asyncio.to_thread(processes.start, name))


async def _kill_primary_in_a_trade(env: dict[str, str], seconds: float = 10) -> bool:
    """kill -9 the primary's postmaster (as `postgres.sh kill primary` does) the moment one
    of the run's money transactions is under way, so that the failover cuts a trade off, as it
    would under load; after `seconds` without one, at once. Whether one was caught."""
    connection = await asyncpg.connect(plain_dsn(env["DATABASE_URL"]), timeout=30)
    try:
        port = await connection.fetchval("SELECT current_setting('port')")
        data = STATE / f"postgres-{port}" / "data" / "postmaster.pid"
        postmaster = int(data.read_text().split()[0])
        caught = False
        for _ in range(int(seconds / 0.005)):
            if caught := bool(await connection.fetchval(TRADE_UNDER_WAY)):
                break
            await asyncio.sleep(0.005)
        os.kill(postmaster, signal.SIGKILL)
        return caught
    finally:
        connection.terminate()


def _postgres_up() -> None:
    script("postgres", "up")


async def _kill_kafka_leader(env: dict[str, str]) -> Fault:
    """The broker leading the most partitions of the run's tick topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    try:
        (topic,) = await admin.describe_topics([env["KAFKA_TICKS_TOPIC"]])
    finally:
        await admin.close()
    leaders = Counter(int(p["leader"]) for p in topic["partitions"])
    node, led = leaders.most_common(1)[0]
    await asyncio.to_thread(script, "kafka", "kill", str(node))

    async def heal() -> None:
        await asyncio.to_thread(script, "kafka", "start", str(node))

    return Fault(f"Kafka broker {node} (leading {led} of {leaders.total()} partitions)", heal)


async def _kill_redis_primary(env: dict[str, str]) -> Fault:
    """The first primary by port; node N listens on the first node's port + N - 1."""
    url = env["REDIS_URL"]
    cluster = RedisCluster.from_url(url)
    try:
        await cluster.initialize()
        port = min(int(node.port) for node in cluster.get_primaries())
    finally:
        await cluster.aclose()
    node = port - (urlsplit(url).port or 0) + 1
    await asyncio.to_thread(script, "redis", "kill", str(node))

    async def heal() -> None:
        await asyncio.to_thread(script, "redis", "start", str(node))

    return Fault(f"Redis primary {node} (:{port})", heal)


def _busiest_api(processes: Processes) -> str:
    """The API process holding the most live connections (the watcher's, at least)."""

    def connections(name: str) -> float:
        return labelled_sum(processes.ports[name], "trado_live_connections")

    return max(APIS, key=connections)


async def wait_healthy(processes: Processes, redis_url: str) -> None:
    """Until every node answers in its role (`services.sh status --replicated`), every Redis
    replica is in sync, both API processes say ready and no process has exited."""
    deadline = time.monotonic() + HEALTHY_SECONDS
    last = ""
    while time.monotonic() < deadline:
        if gone := processes.exited():
            raise TargetFailed(f"exited: {', '.join(gone)}")
        last = await _unhealthy(processes, redis_url)
        if not last:
            return
        await asyncio.sleep(1)
    raise TargetFailed(f"the topology is not healthy after {HEALTHY_SECONDS:.0f}s: {last}")


async def _unhealthy(processes: Processes, redis_url: str) -> str:
    """What is not healthy yet, in a few words; empty when all is."""
    status = await asyncio.to_thread(
        subprocess.run,
        [str(SCRIPTS / "services.sh"), "status", "--replicated"],
        capture_output=True,
        text=True,
        check=False,
    )
    if status.returncode != 0:
        return "services.sh status --replicated: " + status.stdout[-400:]
    if lagging := await _redis_replicas_lagging(redis_url):
        return f"Redis replicas not in sync: {lagging}"
    for name in APIS:
        state = await asyncio.to_thread(readiness_state, processes.ports[name])
        if not state.startswith("200 ready"):
            return f"{name}: {state}"
    return ""


async def _redis_replicas_lagging(url: str, nodes: int = 6) -> list[int]:
    """Ports of the cluster's replicas whose link to their primary is not up yet."""
    first = urlsplit(url).port or 0
    lagging = []
    for port in range(first, first + nodes):
        redis = Redis(host="127.0.0.1", port=port, socket_timeout=3)
        try:
            info = await redis.info("replication")
        except RedisError:
            lagging.append(port)
            continue
        finally:
            await redis.aclose()
        if info.get("role") == "slave" and (
            info.get("master_link_status") != "up" or info.get("master_sync_in_progress")
        ):
            lagging.append(port)
    return lagging
