"""A feed through the whole pipeline: the feed into Kafka, the bridge, Redis, and an API
server a real GraphQL client subscribes to. For testing a provider's adapter against its
fake server as a user would see it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TypedDict

from settings import Settings
from streaming.feed_sender import Overflow
from streaming.feeds import Feed
from streaming.runtime import Runtime, feed_into_log, open_runtime, start_bridge
from tests.utils.live import create_topic, isolated, listed
from tests.utils.server import RunningServer, running_server


class Listing(TypedDict, total=False):
    """How the pipeline's symbols are listed (`tests.utils.live.listed`'s keywords)."""

    exchange: str
    currency: str
    lot_size: Decimal


@dataclass
class Pipeline:
    settings: Settings  # isolated: its own topic, consumer group and Redis prefix
    server: RunningServer  # `.ws` for graphql_ws, `.http` for queries
    worker: Runtime  # the feed's and bridge's process


@asynccontextmanager
async def feed_pipeline(
    full_settings: Settings,
    feed: Feed,
    symbols: list[str],
    name: str = "provider",
    listing: Listing | None = None,
) -> AsyncIterator[Pipeline]:
    """`symbols` listed as instruments (`tests.utils.live.listed`: tick size 0.01; on XNAS in
    USD unless `listing` says otherwise), an API server, and a worker running the bridge and
    `feed` into the log (as a live feed: its oldest unsent ticks go when the buffer is full),
    until the block ends."""
    settings = isolated(full_settings)
    await create_topic(settings)
    await listed(settings, *symbols, **(listing or {}))
    async with running_server(settings) as server, open_runtime(settings) as worker:
        start_bridge(worker)
        worker.supervisor.start(
            name, lambda: feed_into_log(worker, feed, name, Overflow.DROP_OLDEST)
        )
        yield Pipeline(settings, server, worker)
