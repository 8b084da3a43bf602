"""Three Kafka brokers (`scripts/replicated/kafka.sh`): the tick topic keeps three copies and
acknowledges a tick once two hold it, so a broker that dies for good (`kill -9`, not restarted)
while leading a tick partition loses nothing: the feed goes on, the bridge's group goes on,
every tick reaches the bridge's subscribers once.

PostgreSQL and Redis are the single-node services' (`services`); only Kafka is replicated."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from settings import ROOT, Settings
from streaming.channels import quote_channel
from streaming.log import make_tick_log
from streaming.tick import Tick
from tests.test_feed_delivery import contiguous, stopped_figures
from tests.utils.feed_process import feed_process, read_topic, write_instruments
from tests.utils.live import bridge_worker, create_topic, isolated, symbol_for, wait_subscribed

KAFKA_SH = ROOT / "scripts" / "replicated" / "kafka.sh"
RATE = 200  # ticks a second, all symbols together
AFTER_KILL_SECONDS = 20


@pytest.fixture
def settings(full_settings: Settings, replicated_env: dict[str, str]) -> Settings:
    """The test's own topic, group and prefix, on the three brokers (RF 3, min.insync 2)."""
    return isolated(full_settings).model_copy(
        update={
            "kafka_bootstrap_servers": replicated_env["KAFKA_BOOTSTRAP_SERVERS"],
            "kafka_replication_factor": int(replicated_env["KAFKA_REPLICATION_FACTOR"]),
            "kafka_min_insync_replicas": int(replicated_env["KAFKA_MIN_INSYNC_REPLICAS"]),
        }
    )


@asynccontextmanager
async def admin_of(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    assert settings.kafka_bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def partitions_of(settings: Settings) -> list[dict[str, object]]:
    async with admin_of(settings) as admin:
        (topic,) = await admin.describe_topics([settings.kafka_ticks_topic])
    return sorted(topic["partitions"], key=lambda p: p["partition"])


async def config_of(settings: Settings, resource: ConfigResource, key: str) -> str:
    async with admin_of(settings) as admin:
        (response,) = await admin.describe_configs([resource])
    for *_head, entries in response.resources:
        for name, value, *_flags in entries:
            if name == key:
                return str(value)
    raise AssertionError(f"no {key} in {response}")


async def balanced_leaders(settings: Settings, seconds: float = 60) -> Counter[int]:
    """Partitions led per broker once each of the three leads one (a broker restarted by the
    previous test takes its partitions back within `leader.imbalance.check.interval`)."""
    deadline = time.monotonic() + seconds
    while True:
        leaders = Counter(int(p["leader"]) for p in await partitions_of(settings))  # type: ignore[call-overload]
        if len(leaders) == 3 or time.monotonic() > deadline:
            return leaders
        await asyncio.sleep(1)


async def broker_in_role(settings: Settings, role: str) -> int:
    """The node id of the bridge group's coordinator, or of the active KRaft controller (as
    `kafka.sh status` reads it from the quorum: the metadata's `controller_id` that clients
    see is any live broker under KRaft)."""
    if role == "group coordinator":
        async with admin_of(settings) as admin:
            return int(await admin.find_coordinator(settings.kafka_bridge_group))
    found = re.search(r"kafka-(\d):.*active controller", await kafka_sh("status"))
    assert found, "no active controller in kafka.sh status"
    return int(found[1])


async def kafka_sh(*args: str, check: bool = True) -> str:
    """`scripts/replicated/kafka.sh args...`; its output."""
    process = await asyncio.create_subprocess_exec(
        str(KAFKA_SH),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0 or not check, out.decode()
    return out.decode()


@dataclass
class Received:
    """What the bridge's subscriber saw, with arrival times."""

    ticks: dict[str, list[Tick]] = field(default_factory=dict)
    arrivals: list[float] = field(default_factory=list)

    def distinct(self) -> int:
        return sum(len({t.sequence for t in ticks}) for ticks in self.ticks.values())

    def longest_gap(self, since: float) -> tuple[float, float]:
        """The longest silence between arrivals after `since`, and when it began."""
        times = [since, *(at for at in self.arrivals if at > since)]
        gaps = [(b - a, a) for a, b in itertools.pairwise(times)]
        return max(gaps, default=(0.0, since))


async def collect(settings: Settings, symbols: list[str], received: Received) -> None:
    async with bridge_worker(settings) as worker:
        channels = [quote_channel(s) for s in symbols]
        async with worker.hub.subscribe(channels, conflate=False, limit=1_000_000) as mailbox:
            received.ticks = {s: [] for s in symbols}
            await wait_subscribed(settings, *channels)
            received.arrivals.append(time.monotonic())  # subscribed: the feed may start
            while True:
                _channel, raw = await mailbox.get()
                tick = Tick.from_json(raw)
                received.ticks[tick.symbol].append(tick)
                received.arrivals.append(time.monotonic())


async def test_the_tick_topic_has_three_replicas_and_min_insync_two(settings: Settings) -> None:
    """As the app's settings ask (create_topic follows them) and the brokers' defaults say."""
    await create_topic(settings)
    partitions = await partitions_of(settings)
    assert len(partitions) == 3
    assert all(len(p["replicas"]) == 3 for p in partitions), partitions  # type: ignore[arg-type]
    topic = ConfigResource(ConfigResourceType.TOPIC, settings.kafka_ticks_topic)
    assert await config_of(settings, topic, "min.insync.replicas") == "2"
    for node in ("1", "2", "3"):  # the bridge group's offsets and coordinator survive a loss
        broker = ConfigResource(ConfigResourceType.BROKER, node)
        assert await config_of(settings, broker, "offsets.topic.replication.factor") == "3"
        assert await config_of(settings, broker, "min.insync.replicas") == "2"


async def test_a_feeds_producer_creates_the_topic_replicated(settings: Settings) -> None:
    """The app's own path (no test helper): a producer of `make_tick_log` makes the missing
    tick topic with KAFKA_TICKS_PARTITIONS, KAFKA_REPLICATION_FACTOR and
    KAFKA_MIN_INSYNC_REPLICAS."""
    log = make_tick_log(settings)
    producer = log.producer()
    await producer.start()
    try:
        assert await producer.send_batch([(b"X", b"{}")]) == [None]
    finally:
        await producer.stop()
        await log.close()
    partitions = await partitions_of(settings)
    assert len(partitions) == settings.kafka_ticks_partitions
    assert all(len(p["replicas"]) == 3 for p in partitions), partitions  # type: ignore[arg-type]
    topic = ConfigResource(ConfigResourceType.TOPIC, settings.kafka_ticks_topic)
    assert await config_of(settings, topic, "min.insync.replicas") == "2"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("role", ["group coordinator", "active controller"])
async def test_a_partition_leader_killed_loses_and_duplicates_no_tick(
    settings: Settings, tmp_path: Path, role: str
) -> None:
    """kill -9 of a broker leading a tick partition and also in `role` (the bridge group's
    coordinator, or the KRaft quorum's leader), not restarted: the simulator feed (its own
    process) keeps being acknowledged, the bridge (its own runtime) keeps publishing and
    committing, and its subscriber gets every acknowledged tick once, numbered 1, 2, 3... per
    symbol; the longest silence the subscriber saw is printed."""
    await create_topic(settings)
    symbols = [symbol_for("RK") for _ in range(4)]
    instruments = write_instruments(tmp_path / "instruments.csv", dict.fromkeys(symbols, "100"))
    received = Received()
    collector = asyncio.create_task(collect(settings, symbols, received))
    killed: str | None = None
    try:
        async with asyncio.timeout(60):
            while not received.arrivals:
                assert not collector.done(), collector
                await asyncio.sleep(0.1)
        async with feed_process(settings, instruments, rate=RATE) as feed:
            await feed.wait_metric("trado_feed_ticks_total", 2 * RATE)
            leaders = await balanced_leaders(settings)
            victim = await broker_in_role(settings, role)
            assert leaders[victim] >= 1, f"broker {victim} ({role}) leads no partition: {leaders}"
            killed = str(victim)
            await kafka_sh("kill", killed)
            killed_at = time.monotonic()
            before = await feed.metric("trado_feed_ticks_total")
            await asyncio.sleep(AFTER_KILL_SECONDS)
            after = await feed.metric("trado_feed_ticks_total")
            failures = await feed.metric("trado_feed_send_failures_total")
            status = await kafka_sh("status", check=False)
            await feed.terminate()
        acknowledged, failed = stopped_figures([line for _at, line in feed.lines])
        async with asyncio.timeout(60):
            while received.distinct() < acknowledged:
                assert not collector.done(), collector
                await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # anything more (a duplicate) would arrive now
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        if killed is not None:
            await kafka_sh("start", killed)
    gap, gap_at = received.longest_gap(killed_at)
    seen = {symbol: contiguous(ticks) for symbol, ticks in received.ticks.items()}
    duplicates = sum(d for _ok, d in seen.values())
    in_kafka = await read_topic(settings)
    kafka_duplicates = sum(contiguous(ticks)[1] for ticks in in_kafka.values())
    print(
        f"\nkilled broker {killed} ({role}, leading {leaders[int(killed)]} of 3 partitions); feed "
        f"{after - before:.0f} ticks in the {AFTER_KILL_SECONDS}s after, acknowledged "
        f"{acknowledged}, failed {failed}, send failures {failures:.0f}; subscriber "
        f"{received.distinct()} distinct, {duplicates} duplicates; Kafka "
        f"{sum(len(t) for t in in_kafka.values())} records ({kafka_duplicates} re-sent); "
        f"longest silence {gap:.2f}s, {gap_at - killed_at:.2f}s after the kill\n{status}"
    )
    assert failed == 0
    assert all(ok for ok, _d in seen.values()), "each symbol 1, 2, 3... with no gap"
    assert duplicates == 0, "the bridge drops re-deliveries by sequence"
    assert received.distinct() == acknowledged, "every acknowledged tick, nothing else"
    assert after - before >= RATE * AFTER_KILL_SECONDS / 2, "the feed kept flowing"
