"""The per-process fan-out hub: one pub/sub connection shared by every local subscriber.

A channel is subscribed upstream when its first local sink arrives and unsubscribed after the
last leaves. A sink is anything with `offer(channel, message)`: usually a subscriber's own
bounded `Mailbox`, so a slow reader loses intermediate values (conflation) instead of slowing
the others or growing memory; or a shared fan-out that renders a message once for many
subscribers (`delivery/fanout.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Generic, Protocol, TypeVar

from tenacity import wait_fixed

from streaming import metrics
from streaming.channels import is_quote_channel
from streaming.pubsub import PubSub
from streaming.retry import retried, retrying

log = logging.getLogger(__name__)

Message = TypeVar("Message")  # bytes from pub/sub; frames or root values further on


class Sink(Protocol):
    def offer(self, channel: str, message: bytes) -> int:
        """Take one message of `channel`; returns how many subscribers it reached."""


class Mailbox(Generic[Message]):
    """Unread messages of one subscriber, in arrival order, at most `limit` of them.

    A reader that keeps up (within `limit` messages) gets every message. Past the limit:
    conflating (the public streams: quotes, candles, trades, book) collapses the backlog to the
    latest message per channel (or per key), so a slow reader skips to the present, each
    channel still in order; queued (a user's order updates) drops the oldest, which the
    private streams then read back from the event log. Either way memory stays bounded per
    subscriber.
    """

    def __init__(self, *, conflate: bool, limit: int = 256) -> None:
        if limit < 1:
            raise ValueError("a mailbox holds at least one message")
        self.conflate = conflate
        self.limit = limit
        self._queue: deque[tuple[str, Message]] = deque()
        self._ready = asyncio.Event()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, channel: str, message: Message) -> int:
        if len(self._queue) >= self.limit:
            before = len(self._queue)
            if self.conflate:
                self._queue = deque(_latest_per_channel(self._queue))
            else:
                self._queue.popleft()
            self.dropped += before - len(self._queue)
            metrics.CONFLATED_DROPS.inc(before - len(self._queue))
        self._queue.append((channel, message))
        self._ready.set()
        return 1

    async def wait(self) -> None:
        """Until there is an unread message."""
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()

    async def get(self) -> tuple[str, Message]:
        await self.wait()
        return self._queue.popleft()

    async def get_latest(self) -> list[tuple[str, Message]]:
        """Wait for a message, then take the latest unread one of each channel (throttling)."""
        await self.wait()
        return self.drain(latest_only=True)

    def drain(self, *, latest_only: bool = False) -> list[tuple[str, Message]]:
        """Every unread message without waiting (or only the latest of each channel)."""
        ready = _latest_per_channel(self._queue) if latest_only else list(self._queue)
        self._queue.clear()
        return ready

    def __aiter__(self) -> AsyncIterator[tuple[str, Message]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, Message]]:
        while True:
            yield await self.get()


def _latest_per_channel(messages: Iterable[tuple[str, Message]]) -> list[tuple[str, Message]]:
    """The last message of each channel, channels in order of their first message."""
    latest: dict[str, Message] = {}
    for channel, message in messages:
        latest[channel] = message
    return list(latest.items())


# The longest the listener hands out messages before it lets the event loop's other work run
# (see `Hub._listen`). Shorter turns write more often (a write per connection per turn), which
# cost throughput in `bench run e2e`; longer ones add latency (bench/README.md, "Figures
# behind design choices").
TURN_SECONDS = 0.05


class Hub:
    def __init__(
        self, backend: PubSub, *, mailbox_limit: int = 256, turn_seconds: float = TURN_SECONDS
    ) -> None:
        self.backend = backend
        self.mailbox_limit = mailbox_limit
        self.turn_seconds = turn_seconds
        self._sinks: dict[str, set[Sink]] = defaultdict(set)
        self._lock = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None
        self.deliveries = 0
        self.received = 0
        # How fresh the live stream is here (monotonic seconds), for readiness: since when a
        # quote channel is subscribed, and when the newest quote message arrived.
        self._quote_channels = 0
        self._watching_quotes_since: float | None = None
        self._newest_quote_at: float | None = None

    @property
    def channel_count(self) -> int:
        return len(self._sinks)

    @property
    def subscriber_count(self) -> int:
        return len({id(sink) for sinks in self._sinks.values() for sink in sinks})

    def newest_quote_age(self) -> float | None:
        """Seconds since the newest quote message reached this process (counted from the
        subscription of its first quote channel when none came since); None while no quote
        channel is subscribed: the hub then hears no ticks and cannot tell whether they flow."""
        since = self._watching_quotes_since
        if since is None:
            return None
        if self._newest_quote_at is not None:
            since = max(since, self._newest_quote_at)
        return time.monotonic() - since

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="hub-listener")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    @asynccontextmanager
    async def subscribe(
        self, channels: Iterable[str], *, conflate: bool = True, limit: int | None = None
    ) -> AsyncIterator[Mailbox[bytes]]:
        mailbox: Mailbox[bytes] = Mailbox(conflate=conflate, limit=limit or self.mailbox_limit)
        wanted = list(dict.fromkeys(channels))
        metrics.ACTIVE_SUBSCRIPTIONS.inc()
        try:
            for channel in wanted:
                await self.attach(channel, mailbox)
            yield mailbox
        finally:
            metrics.ACTIVE_SUBSCRIPTIONS.dec()
            for channel in wanted:
                await self.detach(channel, mailbox)

    async def attach(self, channel: str, sink: Sink) -> None:
        """Deliver `channel`'s messages to `sink` from now on."""
        async with self._lock:
            first = channel not in self._sinks
            self._sinks[channel].add(sink)
            if first:
                metrics.HUB_CHANNELS.inc()
                self._count_quote_channel(channel, +1)
                await self.backend.subscribe(channel)

    async def detach(self, channel: str, sink: Sink) -> None:
        async with self._lock:
            sinks = self._sinks.get(channel)
            if sinks is None or sink not in sinks:
                return
            sinks.discard(sink)
            if not sinks:
                del self._sinks[channel]
                metrics.HUB_CHANNELS.dec()
                self._count_quote_channel(channel, -1)
                await self.backend.unsubscribe(channel)

    def _count_quote_channel(self, channel: str, change: int) -> None:
        if not is_quote_channel(channel):
            return
        self._quote_channels += change
        if self._quote_channels == 0:
            self._watching_quotes_since = None
        elif self._watching_quotes_since is None:
            self._watching_quotes_since = time.monotonic()

    async def _listen(self) -> None:
        """Hands each message to its channel's sinks. A backend returns buffered messages
        without suspending (Redis: everything one socket read brought, hundreds of messages),
        so under load the listener would keep the event loop for as long as a backlog lasts,
        and accepts, handshakes, pings and writes would wait behind it. So it yields after
        `turn_seconds` of work: the outboxes' end-of-turn writes still carry the several ticks
        a turn delivered."""

        def failed(error: BaseException, _attempt: int, delay: float) -> None:
            log.error("hub listener failed; retrying in %.0fs", delay, exc_info=error)

        again = partial(retrying, "hub listener", wait=wait_fixed(1), report=failed)
        loop = asyncio.get_running_loop()
        turn_started = loop.time()
        while True:
            channel, message = await retried(self.backend.next_message, again)
            self._dispatch(channel, message)
            if loop.time() - turn_started >= self.turn_seconds:
                await asyncio.sleep(0)
                turn_started = loop.time()

    def _dispatch(self, channel: str, message: bytes) -> None:
        self.received += 1
        metrics.HUB_RECEIVED.inc()
        if is_quote_channel(channel):
            self._newest_quote_at = time.monotonic()
        reached = 0
        for sink in self._sinks.get(channel, ()):
            reached += sink.offer(channel, message)
        self.deliveries += reached
        metrics.DELIVERIES.inc(reached)
