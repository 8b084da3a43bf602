"""Redis pub/sub for full mode: one connection per process, re-subscribed after a loss.

Each channel's history is a Redis Stream (`<prefix>history:<channel>`) whose entry ids are the
publications' positions (`<position>-1`), so "everything after position N" is one XRANGE.
`PUBLISH_WITH_HISTORY` appends and publishes in one Lua script: atomic, so a subscriber that
reads the history after subscribing misses nothing in between, and a position at or below the
stream's newest (a re-delivered tick) is neither appended nor published. The stream is capped
at about `max_messages` entries and expires as a whole after `max_age_seconds` without a
publication; entries older than that are not served.

One script call carries up to `SCRIPT_BATCH` publications (`PUBLISH_EACH` as many plain
messages): redis-py's client CPU per pipelined command made a command per tick the bridge's
largest cost, and a message inside one call costs a fraction of that (bench/README.md,
"Figures behind design choices"). The calls go
one by one, not in a pipeline: a pipeline with scripts first asks SCRIPT EXISTS, a round trip
more. (A call's keys must share a slot on Redis Cluster, where it would be one call per slot.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from typing import TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub as RedisPubSubConnection
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, wait_exponential

from streaming.pubsub import HeldPublication, Publication, Retention, missed_since
from streaming.redis_client import PoolLimits, make_redis
from streaming.retry import retried, retrying

log = logging.getLogger(__name__)
Item = TypeVar("Item")

MAX_BACKOFF_SECONDS = 5.0
CONFIRM_SECONDS = 2.0
SCRIPT_BATCH = 200  # publications per script call: Redis runs each call alone, so keep it short

# KEYS[i]: the history stream of publication i. ARGV: max entries, expiry (ms), now (ms), then
# channel, position and message of each publication. Returns how many were published.
PUBLISH_WITH_HISTORY = """
local published = 0
for i = 1, #KEYS do
  local at = 3 + (i - 1) * 3
  local added = redis.pcall('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], ARGV[at + 2] .. '-1',
                            't', ARGV[3], 'm', ARGV[at + 3])
  if type(added) == 'table' and added.err then
    if not string.find(added.err, 'equal or smaller') then return redis.error_reply(added.err) end
  else
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    redis.call('PUBLISH', ARGV[at + 1], ARGV[at + 3])
    published = published + 1
  end
end
return published
"""
# ARGV: channel, message, channel, message...
PUBLISH_EACH = """
for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end
return #ARGV / 2
"""


class RedisPubSub:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        retention: Retention | None = None,
        limits: PoolLimits | None = None,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._retention = retention or Retention()
        self._limits = limits or PoolLimits()
        self._redis: Redis | None = None
        self._publish_script: AsyncScript | None = None
        self._publish_each: AsyncScript | None = None
        self._pubsub: RedisPubSubConnection | None = None
        self._channels: set[str] = set()  # what we want subscribed, whatever the connection
        self._changed = asyncio.Event()  # set when a subscribe finishes (or fails)
        self._confirmed: dict[str, asyncio.Event] = {}  # subscribes Redis has not confirmed
        self._broken = False  # a subscribe failed: the listener must reconnect

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("RedisPubSub.connect() was not called")
        return self._redis

    async def connect(self) -> None:
        self._redis = make_redis(self._url, self._limits, f"{self._prefix}pubsub")
        self._publish_script = self._redis.register_script(PUBLISH_WITH_HISTORY)
        self._publish_each = self._redis.register_script(PUBLISH_EACH)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=False)

    async def close(self) -> None:
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            self._pubsub = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def ping(self) -> None:
        await self.redis.ping()

    async def publish(self, channel: str, message: bytes) -> None:
        await self.redis.publish(self._prefix + channel, message)

    async def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        script = self._publish_each
        assert script is not None, "RedisPubSub.connect() was not called"
        for chunk in _chunks(messages):
            await script(keys=[], args=[part for c, m in chunk for part in (self._prefix + c, m)])

    async def publish_with_history(self, publications: list[Publication]) -> int:
        script = self._publish_script
        assert script is not None, "RedisPubSub.connect() was not called"
        settings: list[str | bytes] = [
            str(self._retention.max_messages),
            str(int(self._retention.max_age_seconds * 1000)),
            str(int(time.time() * 1000)),
        ]
        published = 0
        for chunk in _chunks(publications):
            keys = [self._history_key(p.channel) for p in chunk]
            each = [
                a for p in chunk for a in (self._prefix + p.channel, str(p.position), p.message)
            ]
            published += int(await script(keys=keys, args=settings + each))
        return published

    async def history(self, channel: str, since: int) -> list[Publication] | None:
        key = self._history_key(channel)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xrange(key, min=f"{since + 1}-0", count=self._retention.max_messages)
            pipe.xrevrange(key, count=1)
            after, newest = await pipe.execute()
        oldest_time = time.time() - self._retention.max_age_seconds
        held = [_held(channel, entry_id, fields) for entry_id, fields in after]
        top = _position(newest[0][0]) if newest else None
        return missed_since(since, held, top, oldest_time)

    async def recent(self, channel: str, count: int) -> list[Publication]:
        if count <= 0:
            return []
        newest: Entries = cast(
            "Entries", await self.redis.xrevrange(self._history_key(channel), count=count)
        )
        oldest_time = time.time() - self._retention.max_age_seconds
        held = [_held(channel, entry_id, fields) for entry_id, fields in reversed(newest)]
        return [h.publication for h in held if h.published_at >= oldest_time]

    def _history_key(self, channel: str) -> str:
        return f"{self._prefix}history:{channel}"

    async def subscribe(self, channel: str) -> None:
        """Returns once Redis confirmed the subscription (or after `CONFIRM_SECONDS`): from
        then on every publication reaches us, so a history read that follows misses nothing."""
        self._channels.add(channel)
        confirmed = self._confirmed.setdefault(self._prefix + channel, asyncio.Event())
        try:
            await self._connection().subscribe(self._prefix + channel)
        except (RedisConnectionError, RedisTimeoutError):
            self._broken = True
            log.warning("Redis down while subscribing %s; will subscribe on reconnect", channel)
            return
        finally:
            self._changed.set()
        with suppress(TimeoutError):
            async with asyncio.timeout(CONFIRM_SECONDS):
                await confirmed.wait()

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        try:
            await self._connection().unsubscribe(self._prefix + channel)
        except (RedisConnectionError, RedisTimeoutError):
            log.warning("Redis down while unsubscribing %s", channel)

    async def next_message(self) -> tuple[str, bytes]:
        """The next message of a wanted channel. When the connection is lost (or a subscribe
        failed), a fresh one subscribes every wanted channel after a backoff: 0.1 s, doubling
        up to `MAX_BACKOFF_SECONDS` while that fails, from 0.1 s again once anything arrives."""
        while True:
            message = await retried(self._receive, self._reconnecting, then=self._reconnected)
            if message is not None:
                return message

    async def _receive(self) -> tuple[str, bytes] | None:
        """A message of a wanted channel, or None once anything else arrived (a subscribe's
        confirmation); raises when the connection is lost or a subscribe failed."""
        while True:
            if self._broken:  # a (re)subscribe failed while Redis was down
                raise _Broken
            connection = self._connection()
            if not self._channels or connection.connection is None:
                # Nothing wanted, or the first subscribe is still on its way: wait for a
                # subscribe to finish, without polling.
                self._changed.clear()
                await self._changed.wait()
                continue
            message = await connection.get_message(timeout=1.0)
            if message is None:
                continue
            if message["type"] == "subscribe":
                self._confirm(message["channel"].decode())
            elif message["type"] == "message":
                channel = message["channel"].decode()[len(self._prefix) :]
                return channel, message["data"]
            return None

    async def _reconnected(self) -> tuple[str, bytes] | None:
        await self._resubscribe()
        return await self._receive()

    @staticmethod
    def _reconnecting() -> AsyncRetrying:
        return retrying(
            "Redis pub/sub",
            retry_on=(RedisConnectionError, RedisTimeoutError, _Broken),
            wait=wait_exponential(multiplier=0.1, max=MAX_BACKOFF_SECONDS),
            report=_report_loss,
        )

    async def _resubscribe(self) -> None:
        """A fresh connection subscribed to every wanted channel; errors wait for the next try."""
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=False)
        self._broken = False
        if self._channels:
            try:
                await self._pubsub.subscribe(*(self._prefix + c for c in self._channels))
                log.info("Redis pub/sub re-subscribed %d channels", len(self._channels))
            except (RedisConnectionError, RedisTimeoutError):
                self._broken = True

    def _confirm(self, channel: str) -> None:
        confirmed = self._confirmed.pop(channel, None)
        if confirmed is not None:
            confirmed.set()

    def _connection(self) -> RedisPubSubConnection:
        if self._pubsub is None:
            raise RuntimeError("RedisPubSub.connect() was not called")
        return self._pubsub


class _Broken(Exception):
    """A subscribe failed while Redis was down: the connection must be made again."""


def _report_loss(error: BaseException, _attempt: int, delay: float) -> None:
    """A lost connection is logged; a failed subscribe was (`subscribe`), a failed re-subscribe
    is not: a long outage costs one line."""
    if not isinstance(error, _Broken):
        log.warning("Redis pub/sub lost (%s); reconnecting in %.1fs", error, delay)


def _chunks(items: list[Item]) -> list[list[Item]]:
    return [items[start : start + SCRIPT_BATCH] for start in range(0, len(items), SCRIPT_BATCH)]


Entries = list[tuple[bytes, dict[bytes, bytes]]]  # a stream range as redis-py returns it


def _position(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])


def _held(channel: str, entry_id: bytes, fields: dict[bytes, bytes]) -> HeldPublication:
    publication = Publication(channel, _position(entry_id), fields[b"m"])
    return HeldPublication(publication, int(fields[b"t"]) / 1000)
