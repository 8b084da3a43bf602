"""The tick log between feeds and bridge: an in-process queue (embedded) or Kafka (full).

Records are keyed by symbol so one symbol stays ordered in one partition. A producer hands
back, per record, whether the log acknowledged it (nothing is fire-and-forget). The consumer
commits only when told to, after the bridge's writes (at-least-once).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import NamedTuple, Protocol

from settings import Settings


class LogRecord(NamedTuple):
    """A record as the consumer read it (a named tuple: one is made per record, and a frozen
    dataclass costs twice as much to make)."""

    key: bytes | None
    value: bytes
    partition: int
    offset: int


OnRevoke = Callable[[], Awaitable[None]]


class LogProducer(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send_batch(self, records: list[tuple[bytes, bytes]]) -> list[BaseException | None]:
        """Send `(key, value)` records in order and wait for every acknowledgement: per record,
        None (acknowledged) or the error that stopped it. For one key, the failures are a
        suffix of its records, so re-sending the failed ones in order keeps the key's order."""
        ...


class LogConsumer(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def get_batch(self, max_records: int, timeout_ms: int) -> list[LogRecord]: ...
    async def commit(self, offsets: dict[int, int] | None = None) -> None:
        """Commit `offsets` (partition -> next offset to read; partitions no longer assigned
        are skipped), or everything returned so far."""
        ...

    async def lag(self) -> int:
        """Records in the assigned partitions not yet consumed."""
        ...


class TickLog(Protocol):
    """Makes producers and consumers of one log; `ping` tells readiness."""

    def producer(self) -> LogProducer: ...
    def consumer(self, group: str, on_revoke: OnRevoke | None = None) -> LogConsumer:
        """A consumer of `group`; `on_revoke` is awaited before partitions are taken away from
        it (the moment to make work durable and commit it)."""
        ...

    async def last_ticks(self, symbols: Collection[str]) -> dict[str, bytes]:
        """The value of the last record keyed by each of `symbols` that the log still holds
        (symbols without one are left out): where a restarted feed resumes its numbering."""
        ...

    async def ping(self) -> None: ...
    async def close(self) -> None: ...


def make_tick_log(settings: Settings) -> TickLog:
    if settings.kafka_bootstrap_servers:
        from streaming.log.kafka import KafkaTickLog

        return KafkaTickLog(
            settings.kafka_bootstrap_servers,
            topic=settings.kafka_ticks_topic,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            linger_ms=settings.kafka_producer_linger_ms,
            partitions=settings.kafka_ticks_partitions,
            replication_factor=settings.kafka_replication_factor,
            min_insync_replicas=settings.kafka_min_insync_replicas,
        )
    from streaming.log.memory import MemoryTickLog

    return MemoryTickLog()
