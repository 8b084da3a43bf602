"""Every part of aiokafka that Trado uses without aiokafka publishing it, in one place.

aiokafka documents its producer, consumer, rebalance listener, `TopicPartition`, partitioner
and errors. What Trado needs beyond those, each with why no public API serves
(`tests/test_library_contracts.py` checks every one against the installed aiokafka,
`make upgrade-check` against the newest release, and `pyproject.toml` bounds aiokafka below
the first release not yet checked):

- `aiokafka.conn.collect_hosts`, `aiokafka.conn.create_conn` and
  `aiokafka.protocol.metadata.MetadataRequest`: a metadata round trip on a connection opened
  for it (`metadata_round_trip`). The readiness probe must prove the broker answers now; a
  producer's or consumer's client keeps cluster metadata and pooled connections that answer
  for a frozen broker.
- `aiokafka.client.AIOKafkaClient` (`bootstrap`, `fetch_all_metadata`, `close`) and the
  cluster's `partitions_for_topic`: a topic's partitions without a consumer or producer
  (`topic_partitions`), so a missing topic reads as none rather than being created or waited
  for.
- `AIOKafkaProducer.client.force_metadata_update`, replaced on the producer's client
  (`throttle_metadata_updates`): with a partition's leader unknown, the producer's sender
  forces an update and waits for it in a loop, which spins when the broker is unreachable;
  aiokafka has no setting for that loop's backoff.
- `AIOKafkaProducer._sender.sender_task` and `AIOKafkaProducer.client.close()`
  (`abandon`): aiokafka's `stop` waits until every batch is delivered, forever while Kafka is
  down, and it has no public abort.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.protocol.metadata import MetadataRequest


def bootstrap_hosts(bootstrap_servers: str) -> Iterator[tuple[str, int]]:
    """Each bootstrap server's host and port, as aiokafka parses the setting."""
    for host, port, _ in collect_hosts(bootstrap_servers):
        yield host, port


async def metadata_round_trip(host: str, port: int, timeout_seconds: float) -> None:
    """A metadata request answered on a connection opened for it, then closed."""
    connection = await create_conn(host, port, request_timeout_ms=int(timeout_seconds * 1000))
    try:
        await connection.send(MetadataRequest([]))
    finally:
        connection.close()


async def topic_partitions(bootstrap_servers: str, topic: str, timeout_ms: int) -> list[int]:
    """The topic's partitions, sorted (none when it does not exist)."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms)
    try:
        await client.bootstrap()
        cluster = await client.fetch_all_metadata()
        return sorted(cluster.partitions_for_topic(topic) or ())
    finally:
        await client.close()


def throttle_metadata_updates(producer: AIOKafkaProducer, backoff: float) -> None:
    """At most one forced metadata update per `backoff` seconds on the producer's client.
    When a partition has no known leader, aiokafka's sender forces an update and waits for it
    in a loop; with the broker unreachable each update fails at once, and the loop reconnects
    thousands of times a second (the log grows by megabytes). Waiting out the backoff instead
    breaks that loop."""
    client = producer.client
    force = client.force_metadata_update
    loop = asyncio.get_running_loop()
    last = -backoff

    def throttled() -> asyncio.Future[Any]:
        nonlocal last
        wait = last + backoff - loop.time()
        if wait <= 0:
            last = loop.time()
            update: asyncio.Future[Any] = force()
            return update
        later: asyncio.Future[Any] = loop.create_future()

        def settle() -> None:
            if not later.done():
                later.set_result(False)

        loop.call_later(wait, settle)
        return later

    client.force_metadata_update = throttled


async def abandon(producer: AIOKafkaProducer) -> None:
    """Stop the producer's sender task and close its connections, so that a `stop` waiting
    for Kafka completes (the unacknowledged batches go with the producer)."""
    producer._sender.sender_task.cancel()
    await producer.client.close()
