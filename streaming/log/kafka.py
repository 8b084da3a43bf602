"""The Kafka tick log of full mode (aiokafka)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from streaming.errors import BackendUnavailable
from streaming.log import LogConsumer, LogProducer, LogRecord, OnRevoke
from streaming.log.kafka_tail import last_values

log = logging.getLogger(__name__)

# How long `KafkaProducer.stop` lets aiokafka flush before abandoning what Kafka has not taken
# (the feed sender has already waited for it and counted it as failed).
PRODUCER_STOP_SECONDS = 0.5


class KafkaTickLog:
    def __init__(self, bootstrap_servers: str, *, topic: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._probe: AIOKafkaClient | None = None
        quiet_repeated_warnings()

    def producer(self) -> LogProducer:
        return KafkaProducer(self.bootstrap_servers, self.topic)

    def consumer(self, group: str, on_revoke: OnRevoke | None = None) -> LogConsumer:
        return KafkaConsumer(self.bootstrap_servers, self.topic, group, on_revoke)

    async def last_ticks(self, symbols: Collection[str]) -> dict[str, bytes]:
        found = await last_values(
            self.bootstrap_servers, self.topic, {symbol.encode() for symbol in symbols}
        )
        return {key.decode(): value for key, value in found.items()}

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
    """Idempotent (acks from every in-sync replica; aiokafka's own retries never duplicate
    or reorder), batched (5 ms linger) and compressed (lz4).

    While Kafka is unreachable aiokafka keeps each batch and retries it every
    `retry_backoff_ms` (it never expires a batch of an idempotent producer), so `send_batch`
    waits out an outage rather than failing; it hands back errors aiokafka gives up on (a
    full accumulator after `request_timeout_ms`, a fatal producer error).
    """

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self._topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            linger_ms=5,
            compression_type="lz4",
            enable_idempotence=True,
            acks="all",
            retry_backoff_ms=500,
            request_timeout_ms=10_000,
            max_batch_size=256 * 1024,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        """Flush for at most `PRODUCER_STOP_SECONDS`, then close without Kafka: aiokafka's own
        stop waits until every batch is delivered, forever while Kafka is down."""
        stopping = asyncio.ensure_future(self._producer.stop())
        done, _ = await asyncio.wait({stopping}, timeout=PRODUCER_STOP_SECONDS)
        if done:
            stopping.result()
            return
        log.warning("Kafka did not take the producer's last batches; closing without them")
        # aiokafka has no public abort: stop its sender task and connections so that its
        # `stop` completes (the unacknowledged batches are dropped with the producer).
        self._producer._sender.sender_task.cancel()
        await self._producer.client.close()
        await asyncio.wait({stopping}, timeout=PRODUCER_STOP_SECONDS / 2)

    async def send_batch(self, records: list[tuple[bytes, bytes]]) -> list[BaseException | None]:
        """Enqueue in order; once one record cannot be enqueued the rest are not tried (each
        would wait `request_timeout_ms` again) and fail with the same error."""
        futures: list[asyncio.Future[Any]] = []
        refused: BaseException | None = None
        for key, value in records:
            try:
                futures.append(await self._producer.send(self._topic, value=value, key=key))
            except KafkaError as error:
                refused = error
                break
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        results: list[BaseException | None] = [
            outcome if isinstance(outcome, BaseException) else None for outcome in outcomes
        ]
        return results + [refused] * (len(records) - len(results))


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


class _RepeatFilter(logging.Filter):
    """Lets one record per (logger, message template) through every `seconds`: while Kafka is
    down aiokafka logs the same few warnings at every retry (several lines a second)."""

    def __init__(self, seconds: float = 10.0) -> None:
        super().__init__()
        self._seconds = seconds
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        if now - self._last.get(key, -self._seconds) < self._seconds:
            return False
        self._last[key] = now
        return True


_REPEAT_FILTER = _RepeatFilter()
_NOISY_LOGGERS = ("aiokafka", "aiokafka.conn", "aiokafka.cluster", "aiokafka.producer.sender")


def quiet_repeated_warnings() -> None:
    """Install the repeat filter on aiokafka's chatty loggers (once; idempotent)."""
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if _REPEAT_FILTER not in logger.filters:
            logger.addFilter(_REPEAT_FILTER)
