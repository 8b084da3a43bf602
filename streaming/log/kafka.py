"""The Kafka tick log of full mode (aiokafka)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from streaming.errors import BackendUnavailable
from streaming.log import LogConsumer, LogProducer, LogRecord, OnRevoke
from streaming.log.aiokafka_internals import (
    abandon,
    bootstrap_hosts,
    metadata_round_trip,
    throttle_metadata_updates,
)
from streaming.log.kafka_tail import last_values
from streaming.log.kafka_topic import TopicSpec, ensure_topic

log = logging.getLogger(__name__)

# How long `KafkaProducer.stop` lets aiokafka flush before abandoning what Kafka has not taken
# (the feed sender has already waited for it and counted it as failed).
PRODUCER_STOP_SECONDS = 0.5
RETRY_BACKOFF_MS = 500
# How long a producer's start waits to make sure its topic exists (see `kafka_topic`).
ENSURE_TOPIC_SECONDS = 10.0


class KafkaTickLog:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic: str,
        session_timeout_ms: int = 10_000,
        linger_ms: int = 5,
        partitions: int = 3,
        replication_factor: int = 1,
        min_insync_replicas: int = 1,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.session_timeout_ms = session_timeout_ms
        self.linger_ms = linger_ms
        self.topic_spec = TopicSpec(topic, partitions, replication_factor, min_insync_replicas)
        quiet_repeated_warnings()

    def producer(self) -> LogProducer:
        return KafkaProducer(
            self.bootstrap_servers, self.topic, linger_ms=self.linger_ms, topic_spec=self.topic_spec
        )

    def consumer(self, group: str, on_revoke: OnRevoke | None = None) -> LogConsumer:
        return KafkaConsumer(
            self.bootstrap_servers, self.topic, group, on_revoke, self.session_timeout_ms
        )

    async def last_ticks(self, symbols: Collection[str]) -> dict[str, bytes]:
        found = await last_values(
            self.bootstrap_servers, self.topic, {symbol.encode() for symbol in symbols}
        )
        return {key.decode(): value for key, value in found.items()}

    async def ping(self, timeout_seconds: float = 3.0) -> None:
        """A metadata round trip on a connection opened for it, to the first bootstrap
        server that answers within `timeout_seconds`.

        A fresh connection each time, because nothing remembered may answer for the broker:
        a long-lived client keeps cluster metadata, a metadata refresher and pooled
        connections, and the kernel still accepts connections for a frozen (SIGSTOPped)
        broker. Only a reply to a request sent now proves the broker works."""
        problems = []
        for host, port in bootstrap_hosts(self.bootstrap_servers):
            try:
                async with asyncio.timeout(timeout_seconds):
                    await metadata_round_trip(host, port, timeout_seconds)
                return
            except TimeoutError:
                problems.append(f"{host}:{port} no answer within {timeout_seconds:g}s")
            except (OSError, KafkaError) as error:
                problems.append(f"{host}:{port} {error!r}")
        raise BackendUnavailable("Kafka: " + "; ".join(problems))

    async def close(self) -> None:
        return None  # `ping` keeps no connection; producers and consumers close their own


class KafkaProducer:
    """Idempotent (acks from every in-sync replica; aiokafka's own retries never duplicate
    or reorder), batched (`linger_ms`, `KAFKA_PRODUCER_LINGER_MS`) and compressed (lz4).

    While Kafka is unreachable aiokafka keeps each batch and retries it every
    `retry_backoff_ms` (it never expires a batch of an idempotent producer), so `send_batch`
    waits out an outage rather than failing; it hands back the errors aiokafka gives up on (a
    full accumulator after `request_timeout_ms`, a fatal producer error). After a fatal error
    (e.g. OutOfOrderSequenceNumber once a restarted broker lost the producer's state) aiokafka's
    producer refuses everything, so a new one (a new producer id) takes its place.

    With `topic_spec`, the first start creates the topic as it says unless it exists (its
    replication factor and min.insync.replicas are what make acks=all survive a broker loss).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        linger_ms: int = 5,
        topic_spec: TopicSpec | None = None,
    ) -> None:
        self._topic = topic
        self._bootstrap_servers = bootstrap_servers
        self._linger_ms = linger_ms
        self._topic_spec = topic_spec
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        spec = self._topic_spec
        if spec is not None and await ensure_topic(
            self._bootstrap_servers, spec, ENSURE_TOPIC_SECONDS
        ):
            self._topic_spec = None  # made sure once
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            linger_ms=self._linger_ms,
            compression_type="lz4",
            enable_idempotence=True,
            acks="all",
            retry_backoff_ms=RETRY_BACKOFF_MS,
            request_timeout_ms=10_000,
            max_batch_size=256 * 1024,
        )
        throttle_metadata_updates(producer, RETRY_BACKOFF_MS / 1000)
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await _stop_within(self._producer, PRODUCER_STOP_SECONDS)
            self._producer = None

    async def send_batch(self, records: list[tuple[bytes, bytes]]) -> list[BaseException | None]:
        if self._producer is None:  # replaced after a fatal error; Kafka may still be down
            try:
                await self.start()
            except KafkaError as error:
                return [error] * len(records)
        assert self._producer is not None
        results = await _send_in_order(self._producer, self._topic, records)
        fatal = next((r for r in results if isinstance(r, FATAL_PRODUCER_ERRORS)), None)
        if fatal is not None:
            log.warning("the Kafka producer failed for good (%r); a new one takes over", fatal)
            await self.stop()
        return results


FATAL_PRODUCER_ERRORS = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)


async def _send_in_order(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes, bytes]]
) -> list[BaseException | None]:
    """The records in a batch per partition (aiokafka's batch API), each acknowledged as a
    whole: no coroutine, partitioner call and future per record, as aiokafka's per-record
    `send` has (most of the feed's CPU besides the ticks themselves). The batches are
    enqueued in order; once one cannot be, the rest are not tried (each would wait
    `request_timeout_ms` again) and fail with the same error."""
    try:
        partitions = tuple(sorted(await producer.partitions_for(topic)))
    except KafkaError as error:
        return [error] * len(records)
    batches = _batches(producer, records, partitions)
    results: list[BaseException | None] = [None] * len(records)
    sent: list[tuple[asyncio.Future[Any], list[int]]] = []
    for number, (partition, batch, members) in enumerate(batches):
        try:
            sent.append((await producer.send_batch(batch, topic, partition=partition), members))
        except KafkaError as error:
            for index in (i for _, _, refused in batches[number:] for i in refused):
                results[index] = error
            break
    outcomes = await asyncio.gather(*(future for future, _ in sent), return_exceptions=True)
    for outcome, (_, members) in zip(outcomes, sent, strict=True):
        if isinstance(outcome, BaseException):
            for index in members:
                results[index] = outcome
    return results


def _batches(
    producer: AIOKafkaProducer, records: list[tuple[bytes, bytes]], partitions: tuple[int, ...]
) -> list[tuple[int, BatchBuilder, list[int]]]:
    """Each partition's records in order in a batch (a batch that fills up, at
    `max_batch_size`, is followed by another), with the indices of the records it holds."""
    batches: list[tuple[int, BatchBuilder, list[int]]] = []
    filling: dict[int, tuple[BatchBuilder, list[int]]] = {}
    for index, (key, value) in enumerate(records):
        partition = partition_of(key, partitions)
        batch, members = filling.get(partition) or (None, [])
        if batch is None or batch.append(key=key, value=value, timestamp=None) is None:
            batch, members = producer.create_batch(), []
            batch.append(key=key, value=value, timestamp=None)  # a first record always fits
            filling[partition] = batch, members
            batches.append((partition, batch, members))
        members.append(index)
    return batches


@lru_cache(maxsize=65_536)
def partition_of(key: bytes, partitions: tuple[int, ...]) -> int:
    """The partition aiokafka's default partitioner gives `key` (murmur2, as Kafka's Java
    client): worked out once per key, not per record."""
    return int(DefaultPartitioner()(key, list(partitions), list(partitions)))


async def _stop_within(producer: AIOKafkaProducer, seconds: float) -> None:
    """Flush for at most `seconds`, then close without Kafka: aiokafka's own stop waits until
    every batch is delivered, forever while Kafka is down."""
    stopping = asyncio.ensure_future(producer.stop())
    done, _ = await asyncio.wait({stopping}, timeout=seconds)
    if done:
        if not stopping.cancelled() and isinstance(stopping.exception(), KafkaError):
            log.warning("the Kafka producer stopped with %r", stopping.exception())
        return
    log.warning("Kafka did not take the producer's last batches; closing without them")
    await abandon(producer)  # aiokafka has no public abort
    await asyncio.wait({stopping}, timeout=seconds / 2)


class KafkaConsumer:
    """Manual commits only (after the bridge's writes); told when partitions are revoked."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group: str,
        on_revoke: OnRevoke | None = None,
        session_timeout_ms: int = 10_000,
    ) -> None:
        self._topic = topic
        self._listener = _Revocations(on_revoke)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=2000,
            # how long a dead worker's partitions (and so its symbols' quotes) wait before
            # another worker of the group takes them over
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(session_timeout_ms // 3, 1000),
        )

    async def start(self) -> None:
        self._consumer.subscribe([self._topic], listener=self._listener)
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def get_batch(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return [
            LogRecord(record.key, record.value, record.partition, record.offset)
            for records in batches.values()
            for record in records
        ]

    async def commit(self, offsets: dict[int, int] | None = None) -> None:
        if offsets is None:
            await self._consumer.commit()
            return
        assigned = self._consumer.assignment()
        wanted = {TopicPartition(self._topic, p): o for p, o in offsets.items()}
        mine = {tp: o for tp, o in wanted.items() if tp in assigned}
        if mine:
            try:
                await self._consumer.commit(mine)
            except KafkaError as error:  # e.g. a rebalance took the partitions meanwhile
                raise BackendUnavailable(f"commit: {error!r}") from error

    async def lag(self) -> int:
        total = 0
        for partition in self._consumer.assignment():
            highwater = self._consumer.highwater(partition)
            if highwater is not None:
                total += max(highwater - await self._consumer.position(partition), 0)
        return total


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, on_revoke: OnRevoke | None) -> None:
        self._on_revoke = on_revoke

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked and self._on_revoke is not None:
            log.info("partitions revoked: %s", sorted(p.partition for p in revoked))
            await self._on_revoke()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned: %s", sorted(p.partition for p in assigned))


class _RepeatFilter(logging.Filter):
    """Lets one record per (logger, message template) through every `seconds`: while Kafka is
    down aiokafka logs the same few warnings and errors at every retry (several a second)."""

    def __init__(self, seconds: float = 10.0) -> None:
        super().__init__()
        self._seconds = seconds
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL:
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        if now - self._last.get(key, -self._seconds) < self._seconds:
            return False
        self._last[key] = now
        return True


_REPEAT_FILTER = _RepeatFilter()
# A logger's filter sees only what that logger itself logs (not its children's records), so
# each chatty module is named. The consumer's fetcher and group coordinator repeat themselves
# while a broker of a cluster is gone (34 "Failed fetch messages from 3" lines in 3 s when one
# of three brokers was killed, tests/replicated/test_kafka_brokers.py).
_NOISY_LOGGERS = (
    "aiokafka",
    "aiokafka.conn",
    "aiokafka.cluster",
    "aiokafka.producer.sender",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
)


def quiet_repeated_warnings() -> None:
    """Install the repeat filter on aiokafka's chatty loggers (once; idempotent)."""
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if _REPEAT_FILTER not in logger.filters:
            logger.addFilter(_REPEAT_FILTER)
