"""The last record of given keys in a Kafka topic, read backwards (a restarted feed's resume
point).

Kafka has no index by key, so each partition holding a wanted key (the producer's murmur2
partitioner tells which) is read in windows that double in size, from its end towards its
start, until every wanted key of the partition is found or the start is reached. The total is
bounded (`max_records`), so a huge topic costs a bounded scan; a key not found within it is
left out. The consumer has no group: it assigns partitions itself and commits nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from streaming.log.aiokafka_internals import topic_partitions

log = logging.getLogger(__name__)

FIRST_WINDOW = 1_000
MAX_RECORDS = 1_000_000
TIMEOUT_SECONDS = 60.0


async def last_values(
    bootstrap_servers: str,
    topic: str,
    keys: set[bytes],
    *,
    max_records: int = MAX_RECORDS,
) -> dict[bytes, bytes]:
    """Per key, the value of its last record in `topic` (keys without one are left out).
    TimeoutError when Kafka does not serve them within `TIMEOUT_SECONDS`."""
    if not keys:
        return {}
    async with asyncio.timeout(TIMEOUT_SECONDS):
        partitions = await topic_partitions(bootstrap_servers, topic, timeout_ms=10_000)
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=10_000,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            return await _read_tail(consumer, topic, partitions, keys, max_records)
    finally:
        await consumer.stop()


async def _read_tail(
    consumer: AIOKafkaConsumer, topic: str, partitions: list[int], keys: set[bytes], budget: int
) -> dict[bytes, bytes]:
    wanted: dict[int, set[bytes]] = defaultdict(set)
    for key in keys:
        wanted[DefaultPartitioner()(key, partitions, partitions)].add(key)
    found: dict[bytes, bytes] = {}
    left = budget
    for partition, partition_keys in sorted(wanted.items()):
        tp = TopicPartition(topic, partition)
        values, scanned = await _scan_backwards(consumer, tp, partition_keys, left)
        found.update(values)
        left -= scanned
        if left <= 0:
            log.warning(
                "%s: read back %d records, the limit; %d keys not found",
                topic,
                budget,
                len(keys) - len(found),
            )
            break
    return found


async def _scan_backwards(
    consumer: AIOKafkaConsumer, tp: TopicPartition, keys: set[bytes], budget: int
) -> tuple[dict[bytes, bytes], int]:
    consumer.assign([tp])
    start = (await consumer.beginning_offsets([tp]))[tp]
    upper = (await consumer.end_offsets([tp]))[tp]
    found: dict[bytes, bytes] = {}
    window, scanned = FIRST_WINDOW, 0
    while keys - found.keys() and upper > start and scanned < budget:
        lower = max(start, upper - window, upper - (budget - scanned))
        for key, value in (await _read_range(consumer, tp, lower, upper)).items():
            if key in keys:
                found.setdefault(key, value)  # a later window (nearer the end) already won
        scanned += upper - lower
        upper, window = lower, window * 2
    return found, scanned


async def _read_range(
    consumer: AIOKafkaConsumer, tp: TopicPartition, lower: int, upper: int
) -> dict[bytes, bytes]:
    """The last value per key among offsets [lower, upper)."""
    consumer.seek(tp, lower)
    latest: dict[bytes, bytes] = {}
    while await consumer.position(tp) < upper:
        batches = await consumer.getmany(tp, timeout_ms=1000, max_records=10_000)
        for record in batches.get(tp, []):
            if record.offset < upper and record.key is not None and record.value is not None:
                latest[record.key] = record.value
    return latest
