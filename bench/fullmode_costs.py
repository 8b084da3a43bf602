"""What each stage of full mode costs while `e2e` measures, so a shortfall can be placed.

- What Redis carried: PUBLISH commands (`INFO commandstats`, `cmdstat_publish`, which counts
  the PUBLISH inside the bridge's history script too), read at the window's edges, against
  the ticks the bridge applied meanwhile (`trado_ticks_consumed_total`) and the messages the
  API's hub received (`trado_hub_received_total`). Publishes per tick is the number of
  channels a tick reaches (its quote channel, the candle channels it changed): it must not
  grow with the subscribers, who are served by the hub, never by Redis.
- The CPU of every process on the path: the API, bridge and feed (started by the scenario) and
  the services' redis-server (`INFO server` names its pid), Kafka broker and PostgreSQL (the
  processes listening on their ports; PostgreSQL with its backends).
- The Redis connections the API holds (its established TCP connections to the Redis port)
  before the load, at the window's end and after the load's clients have gone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil
from redis import Redis

from bench.services import scrape

SETTLE_SECONDS = 2.0  # after the clients leave, before the API's connections are counted


@dataclass(frozen=True)
class Endpoints:
    """Where the counters are read: Redis, the bridge's and the API's metrics (any of the API
    processes answers for all of them), the API's pids (each of its processes)."""

    redis_url: str
    bridge_port: int
    api_port: int
    api_pids: tuple[int, ...]

    @property
    def redis_port(self) -> int:
        return urlsplit(self.redis_url).port or 6379


@dataclass(frozen=True)
class Counters:
    at: float  # epoch seconds
    publishes: int
    ticks: float
    batches: float  # the bridge's live-lane batches
    hub_received: float


def read_counters(endpoints: Endpoints) -> Counters:
    with Redis.from_url(endpoints.redis_url) as redis:
        stats = redis.info("commandstats").get("cmdstat_publish", {})
    bridge = scrape(endpoints.bridge_port)
    return Counters(
        at=time.time(),
        publishes=int(stats.get("calls", 0)),
        ticks=bridge.get("trado_ticks_consumed_total", 0.0),
        batches=bridge.get("trado_bridge_batch_seconds_count", 0.0),
        hub_received=scrape(endpoints.api_port).get("trado_hub_received_total", 0.0),
    )


def redis_connections(pids: tuple[int, ...], redis_port: int) -> int:
    """Established TCP connections of the processes `pids` to `redis_port`."""
    return sum(_redis_connections(pid, redis_port) for pid in pids)


def _redis_connections(pid: int, redis_port: int) -> int:
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return 0
    return sum(
        1
        for c in connections
        if c.raddr and c.raddr.port == redis_port and c.status == psutil.CONN_ESTABLISHED
    )


def service_pids(env: dict[str, str]) -> dict[str, int]:
    """{"redis": pid, "kafka": pid, "postgres": pid} of the services of `env` that run on this
    machine (PostgreSQL's postmaster: the sampler adds its backends, its children)."""
    pids: dict[str, int] = {}
    with Redis.from_url(env["REDIS_URL"]) as redis:
        pids["redis"] = int(redis.info("server")["process_id"])
    ports = {
        "kafka": env["KAFKA_BOOTSTRAP_SERVERS"].split(",")[0].rpartition(":")[2],
        "postgres": str(urlsplit(env["DATABASE_URL"]).port or 5432),
    }
    for name, port in ports.items():
        listening = _listening_pid(int(port)) if port.isdigit() else None
        if listening is not None:
            pids[name] = listening
    return pids


def _listening_pid(port: int) -> int | None:
    for connection in psutil.net_connections(kind="tcp"):
        if (
            connection.status == psutil.CONN_LISTEN
            and connection.laddr
            and connection.laddr.port == port
            and connection.pid is not None
        ):
            return connection.pid
    return None


class WindowProbe:
    """Reads the counters at the window's start and end (and the API's Redis connections at
    the end) from a thread of its own, so the load's harness is not held up."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self.before_load = redis_connections(endpoints.api_pids, endpoints.redis_port)
        self.first: Counters | None = None
        self.last: Counters | None = None
        self.during_load: int | None = None
        self._thread: threading.Thread | None = None

    def on_window(self, start: float, end: float) -> None:
        self._thread = threading.Thread(target=self._read, args=(start, end), daemon=True)
        self._thread.start()

    def _read(self, start: float, end: float) -> None:
        time.sleep(max(start - time.time(), 0))
        self.first = read_counters(self.endpoints)
        time.sleep(max(end - time.time(), 0))
        self.last = read_counters(self.endpoints)
        self.during_load = redis_connections(self.endpoints.api_pids, self.endpoints.redis_port)

    def figures(self) -> dict[str, object]:
        """The step's figures, once the load has finished (waits for the reads, then for the
        API to let its clients' resources go)."""
        if self._thread is not None:
            self._thread.join(timeout=30)
        time.sleep(SETTLE_SECONDS)
        after = redis_connections(self.endpoints.api_pids, self.endpoints.redis_port)
        return {
            **_rates(self.first, self.last),
            "api_redis_connections": f"{self.before_load}/{self.during_load}/{after}",
        }


def _rates(first: Counters | None, last: Counters | None) -> dict[str, object]:
    if first is None or last is None or last.at <= first.at:
        return {}
    seconds = last.at - first.at
    publishes = last.publishes - first.publishes
    ticks = last.ticks - first.ticks
    batches = last.batches - first.batches
    return {
        "redis_publishes": publishes,
        "publishes_per_second": round(publishes / seconds, 1),
        "ticks_applied_per_second": round(ticks / seconds, 1),
        "publishes_per_tick": round(publishes / ticks, 2) if ticks else None,
        "ticks_per_bridge_batch": round(ticks / batches, 1) if batches else None,
        "hub_messages_per_second": round((last.hub_received - first.hub_received) / seconds, 1),
    }
