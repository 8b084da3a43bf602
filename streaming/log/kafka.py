"""The Kafka tick log of full mode (aiokafka)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from streaming.errors import BackendUnavailable
from streaming.log import LogConsumer, LogProducer, LogRecord, OnRevoke

log = logging.getLogger(__name__)


class KafkaTickLog:
    def __init__(self, bootstrap_servers: str, *, topic: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic

    def producer(self) -> LogProducer:
        return KafkaProducer(self.bootstrap_servers, self.topic)

    def consumer(self, group: str, on_revoke: OnRevoke | None = None) -> LogConsumer:
        return KafkaConsumer(self.bootstrap_servers, self.topic, group, on_revoke)

    async def ping(self, timeout_seconds: float = 3.0) -> None:
        """A metadata round trip on a connection opened for it, to the first bootstrap
        server that answers within `timeout_seconds`.

        A fresh connection each time, because nothing remembered may answer for the broker:
        a long-lived client keeps cluster metadata, a metadata refresher and pooled
        connections, and the kernel still accepts connections for a frozen (SIGSTOPped)
        broker. Only a reply to a request sent now proves the broker works."""
        problems = []
        for host, port, _ in collect_hosts(self.bootstrap_servers):
            try:
                async with asyncio.timeout(timeout_seconds):
                    await _metadata_round_trip(host, port, timeout_seconds)
                return
            except TimeoutError:
                problems.append(f"{host}:{port} no answer within {timeout_seconds:g}s")
            except (OSError, KafkaError) as error:
                problems.append(f"{host}:{port} {error!r}")
        raise BackendUnavailable("Kafka: " + "; ".join(problems))

    async def close(self) -> None:
        return None  # `ping` keeps no connection; producers and consumers close their own


async def _metadata_round_trip(host: str, port: int, timeout_seconds: float) -> None:
    connection = await create_conn(host, port, request_timeout_ms=int(timeout_seconds * 1000))
    try:
        await connection.send(MetadataRequest([]))
    finally:
        connection.close()


class KafkaProducer:
    """Batches (linger) and compresses (lz4); idempotent so retries never duplicate."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self._topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            linger_ms=5,
            compression_type="lz4",
            enable_idempotence=True,
            max_batch_size=256 * 1024,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, key: bytes, value: bytes) -> None:
        await self._producer.send(self._topic, value=value, key=key)


class KafkaConsumer:
    """Manual commits only (after the bridge's writes); told when partitions are revoked."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group: str,
        on_revoke: OnRevoke | None = None,
    ) -> None:
        self._topic = topic
        self._listener = _Revocations(on_revoke)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=2000,
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
