"""The tick log contract: one test body per behaviour over the memory and the Kafka log (the
`tick_log` fixture of conftest), and what only Kafka does."""

from __future__ import annotations

from collections import defaultdict

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streaming.log import LogRecord, TickLog
from streaming.log.aiokafka_internals import topic_partitions
from streaming.log.kafka import KafkaTickLog
from tests.utils.backends import new_group, read, started

KEYS = [b"A", b"B", b"C"]


def by_key(records: list[LogRecord]) -> dict[bytes | None, list[bytes]]:
    values: dict[bytes | None, list[bytes]] = defaultdict(list)
    for record in records:
        values[record.key].append(record.value)
    return dict(values)


async def test_every_record_is_acknowledged_and_read_in_order_per_key(tick_log: TickLog) -> None:
    await tick_log.ping()
    sent = [(key, f"{key.decode()}{n}".encode()) for n in range(1, 11) for key in KEYS]
    async with started(tick_log.producer()) as producer:
        assert await producer.send_batch(sent[:12]) == [None] * 12, "every record acknowledged"
        assert await producer.send_batch(sent[12:]) == [None] * 18
        assert await producer.send_batch([]) == []
    async with started(tick_log.consumer(new_group())) as consumer:
        records = await read(consumer, len(sent))
    assert by_key(records) == {
        key: [f"{key.decode()}{n}".encode() for n in range(1, 11)] for key in KEYS
    }, "one key stays in order, across batches"
    partitions = {key: {r.partition for r in records if r.key == key} for key in KEYS}
    assert all(len(found) == 1 for found in partitions.values()), partitions
    for partition in {r.partition for r in records}:
        offsets = [r.offset for r in records if r.partition == partition]
        assert offsets == sorted(set(offsets)), "offsets rise within a partition"


async def test_last_ticks_are_the_newest_value_per_key(tick_log: TickLog) -> None:
    assert await tick_log.last_ticks(["A"]) == {}, "an empty log"
    async with started(tick_log.producer()) as producer:
        await producer.send_batch([(b"A", b"1"), (b"B", b"2"), (b"A", b"3")])
        await producer.send_batch([(b"B", b"4")])
    assert await tick_log.last_ticks(["A", "B", "C"]) == {"A": b"3", "B": b"4"}
    assert await tick_log.last_ticks([]) == {}


async def test_the_groups_next_consumer_resumes_after_the_commit(tick_log: TickLog) -> None:
    """A consumer reads three of six records and commits them (the bridge commits after its
    writes); the next consumer of the group reads the other three, and then nothing."""
    values = [str(n).encode() for n in range(1, 7)]
    group = new_group()
    async with started(tick_log.producer()) as producer:
        await producer.send_batch([(b"K", value) for value in values])
    async with started(tick_log.consumer(group)) as first:
        taken = await read(first, 3)
        assert await first.lag() == 3, "three not yet consumed"
        last = taken[-1]
        # a partition it does not hold is skipped
        await first.commit({last.partition: last.offset + 1, last.partition + 1000: 0})
    async with started(tick_log.consumer(group)) as second:
        rest = await read(second, 3)
        assert await second.get_batch(10, timeout_ms=500) == [], "nothing more"
        assert await second.lag() == 0
        await second.commit()
    assert [r.value for r in taken + rest] == values


@pytest.mark.parametrize("tick_log", ["kafka"], indirect=True)
async def test_kafka_hands_uncommitted_records_to_the_groups_next_consumer(
    tick_log: TickLog,
) -> None:
    """Kafka only: what a consumer read but did not commit goes to the group's next consumer
    again (a bridge that died before its commit loses nothing). The memory log is an
    in-process queue, where what was taken is gone: embedded mode has one bridge in the same
    process, and nothing of it survives the process anyway."""
    values = [str(n).encode() for n in range(1, 5)]
    group = new_group()
    async with started(tick_log.producer()) as producer:
        await producer.send_batch([(b"K", value) for value in values])
    async with started(tick_log.consumer(group)) as first:
        assert [r.value for r in await read(first, 2)] == values[:2]
    async with started(tick_log.consumer(group)) as second:
        assert [r.value for r in await read(second, 4)] == values, "read again from the start"


@pytest.mark.parametrize("tick_log", ["kafka"], indirect=True)
async def test_kafka_puts_each_key_where_kafkas_default_partitioner_does(
    tick_log: TickLog,
) -> None:
    """Kafka only: the producer sends a batch per partition, each key in the partition that
    Kafka's default partitioner (murmur2, aiokafka's and the Java client's) gives it, where
    `last_ticks` looks and where any other producer puts the key. A partition's records that
    fill more than one batch keep their order."""
    assert isinstance(tick_log, KafkaTickLog)
    keys = [f"S{n}".encode() for n in range(12)]
    padding = b"x" * 20_000  # 16 of each key: several batches of 256 KB per partition
    sent = [(key, b"%d " % n + padding) for n in range(16) for key in keys]
    async with started(tick_log.producer()) as producer:
        assert await producer.send_batch(sent) == [None] * len(sent)
    async with started(tick_log.consumer(new_group())) as consumer:
        records = await read(consumer, len(sent))
    partitions = await topic_partitions(tick_log.bootstrap_servers, tick_log.topic, 10_000)
    assert len(partitions) > 1
    for key in keys:
        own = [r for r in records if r.key == key]
        assert [r.value.split()[0] for r in own] == [b"%d" % n for n in range(16)], "in order"
        assert {r.partition for r in own} == {DefaultPartitioner()(key, partitions, partitions)}
    assert set(await tick_log.last_ticks(["S0", "S7"])) == {"S0", "S7"}
