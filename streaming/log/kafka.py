"""The Kafka tick log of full mode (aiokafka)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.client import AIOKafkaClient

from streaming.errors import BackendUnavailable
from streaming.log import LogConsumer, LogProducer, LogRecord


class KafkaTickLog:
    def __init__(self, bootstrap_servers: str, *, topic: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._probe: AIOKafkaClient | None = None

    def producer(self) -> LogProducer:
        return KafkaProducer(self.bootstrap_servers, self.topic)

    def consumer(self, group: str) -> LogConsumer:
        return KafkaConsumer(self.bootstrap_servers, self.topic, group)

    async def ping(self) -> None:
        """A metadata round trip to a broker, on one long-lived client."""
        if self._probe is None:
            self._probe = AIOKafkaClient(
                bootstrap_servers=self.bootstrap_servers, request_timeout_ms=3000
            )
        try:
            async with asyncio.timeout(3):
                if not self._probe.cluster.brokers():
                    await self._probe.bootstrap()
                else:
                    await self._probe.fetch_all_metadata()
        except Exception as error:  # aiokafka raises several unrelated types here
            raise BackendUnavailable(f"Kafka: {error!r}") from error

    async def close(self) -> None:
        if self._probe is not None:
            await self._probe.close()
            self._probe = None


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
    def __init__(self, bootstrap_servers: str, topic: str, group: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=2000,
        )

    async def start(self) -> None:
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

    async def commit(self) -> None:
        await self._consumer.commit()
