"""The tick topic made as the settings say, before a feed writes to it.

Left to the broker, the first producer's write creates the topic with the broker's defaults
(`num.partitions`, `default.replication.factor`): on a cluster whose defaults are lower than
wanted, ticks would sit on one broker and die with it. So the producer asks for the topic
explicitly: `KAFKA_TICKS_PARTITIONS` partitions, `KAFKA_REPLICATION_FACTOR` copies, and
`min.insync.replicas=KAFKA_MIN_INSYNC_REPLICAS` (with `acks=all`, a tick is acknowledged only
once that many brokers hold it). A topic that already exists is left as it is (its replication
factor cannot change without a reassignment) and a warning says when it is below the setting.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int = 3
    replication_factor: int = 1
    min_insync_replicas: int = 1

    def new_topic(self) -> NewTopic:
        return NewTopic(
            self.name,
            num_partitions=self.partitions,
            replication_factor=self.replication_factor,
            topic_configs={"min.insync.replicas": str(self.min_insync_replicas)},
        )


async def ensure_topic(bootstrap_servers: str, spec: TopicSpec, timeout_seconds: float) -> bool:
    """Create the topic unless it exists; True when it exists now. Never raises for Kafka's
    sake: a broker that cannot be reached leaves the topic to the producer (and the broker's
    defaults), with a warning."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_seconds * 1000)
    )
    try:
        async with asyncio.timeout(timeout_seconds):
            await admin.start()
            response = await admin.create_topics([spec.new_topic()])
            error = _error_of(response, spec.name)
            if error is None:
                log.info(
                    "created the topic %s: %d partitions, replication factor %d, "
                    "min.insync.replicas %d",
                    spec.name,
                    spec.partitions,
                    spec.replication_factor,
                    spec.min_insync_replicas,
                )
                return True
            if not isinstance(error, TopicAlreadyExistsError):
                raise error
            await _warn_if_under_replicated(admin, spec)
            return True
    except (KafkaError, TimeoutError, OSError) as error:
        log.warning("could not make sure the topic %s exists: %r", spec.name, error)
        return False
    finally:
        await admin.close()


def _error_of(response: Any, topic: str) -> KafkaError | None:
    for name, code, *_message in response.topic_errors:
        if name == topic and code != 0:
            return for_code(code)(*_message)
    return None


async def _warn_if_under_replicated(admin: AIOKafkaAdminClient, spec: TopicSpec) -> None:
    """An existing topic with fewer copies than the setting loses ticks with fewer brokers."""
    for topic in await admin.describe_topics([spec.name]):
        replicas = min((len(p["replicas"]) for p in topic["partitions"]), default=0)
        if replicas < spec.replication_factor:
            log.warning(
                "the topic %s has %d replicas per partition, fewer than "
                "KAFKA_REPLICATION_FACTOR=%d (it existed before; reassign it to add copies)",
                spec.name,
                replicas,
                spec.replication_factor,
            )
