"""Redis pub/sub for full mode: one connection per process, re-subscribed after a loss."""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.asyncio.client import PubSub as RedisPubSubConnection
from redis.exceptions import ConnectionError, TimeoutError

from streaming.redis_client import make_redis

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


class RedisPubSub:
    def __init__(self, url: str, *, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._redis: Redis | None = None
        self._pubsub: RedisPubSubConnection | None = None
        self._channels: set[str] = set()  # what we want subscribed, whatever the connection
        self._changed = asyncio.Event()  # set when a subscribe finishes (or fails)
        self._broken = False  # a subscribe failed: the listener must reconnect

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("RedisPubSub.connect() was not called")
        return self._redis

    async def connect(self) -> None:
        self._redis = make_redis(self._url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)

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
        if not messages:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(self._prefix + channel, message)
            await pipe.execute()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        try:
            await self._connection().subscribe(self._prefix + channel)
        except (ConnectionError, TimeoutError):
            self._broken = True
            log.warning("Redis down while subscribing %s; will subscribe on reconnect", channel)
        finally:
            self._changed.set()

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        try:
            await self._connection().unsubscribe(self._prefix + channel)
        except (ConnectionError, TimeoutError):
            log.warning("Redis down while unsubscribing %s", channel)

    async def next_message(self) -> tuple[str, bytes]:
        backoff = 0.1
        while True:
            if self._broken:  # a (re)subscribe failed while Redis was down
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                await self._resubscribe()
                continue
            connection = self._connection()
            if not self._channels or connection.connection is None:
                # Nothing wanted, or the first subscribe is still on its way: wait for a
                # subscribe to finish, without polling.
                self._changed.clear()
                await self._changed.wait()
                continue
            try:
                message = await connection.get_message(timeout=1.0)
            except (ConnectionError, TimeoutError) as error:
                log.warning("Redis pub/sub lost (%s); reconnecting in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                await self._resubscribe()
                continue
            if message is None:
                continue
            backoff = 0.1
            if message["type"] == "message":
                channel = message["channel"].decode()[len(self._prefix) :]
                return channel, message["data"]

    async def _resubscribe(self) -> None:
        """A fresh connection subscribed to every wanted channel; errors wait for the next try."""
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self._broken = False
        if self._channels:
            try:
                await self._pubsub.subscribe(*(self._prefix + c for c in self._channels))
                log.info("Redis pub/sub re-subscribed %d channels", len(self._channels))
            except (ConnectionError, TimeoutError):
                self._broken = True

    def _connection(self) -> RedisPubSubConnection:
        if self._pubsub is None:
            raise RuntimeError("RedisPubSub.connect() was not called")
        return self._pubsub
