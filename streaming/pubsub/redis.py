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
more.

On Redis Cluster (`cluster=True`): names are hash-tagged on their subject
(`streaming.redis_client.cluster_name`: channel `<prefix>quote:{AAPL}`, its history
`<prefix>history:quote:{AAPL}`), so a channel and its history share a slot; a script call's keys
must, so `publish_with_history` groups the publications by slot and runs one call per slot
(each still atomic), all in one pipeline (each primary's calls in one round trip), ended, with
REDIS_REPLICA_WAIT_MS, by a `WAIT 1` per primary. Pub/sub is sharded:
SPUBLISH (inside the script too) and SSUBSCRIBE, which a cluster delivers within the channel's
shard instead of broadcasting to every node; the listener reads every node's connection at once
(`streaming.pubsub.redis_shards`). After a lost connection (a primary's failover) the client
re-reads the cluster's topology and subscribes every wanted channel again at its slot's new
primary; what was published meanwhile is in the histories.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from contextlib import nullcontext, suppress
from typing import TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub as RedisPubSubConnection
from redis.asyncio.cluster import ClusterNode, ClusterPubSub, RedisCluster
from redis.commands.core import AsyncScript
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, wait_exponential

from streaming.pubsub import HeldPublication, Publication, Retention, missed_since
from streaming.pubsub.redis_shards import ShardedReader
from streaming.redis_client import (
    PoolLimits,
    WaitingRedisCluster,
    cluster_name,
    make_redis,
    make_redis_cluster,
)
from streaming.retry import retried, retrying

log = logging.getLogger(__name__)
Item = TypeVar("Item")

MAX_BACKOFF_SECONDS = 5.0
# A cluster's lost primary is replaced within seconds (cluster-node-timeout and an election),
# and an attempt costs a topology read and the SSUBSCRIBEs: the hub tries every second, so it
# hears its channels within a second of the failover rather than up to five after.
CLUSTER_MAX_BACKOFF_SECONDS = 1.0
CONFIRM_SECONDS = 2.0
SCRIPT_BATCH = 200  # publications per script call: Redis runs each call alone, so keep it short
LONE_RECHECK_SECONDS = 1.0  # how often a primary without a replica is asked again

# Lost connections, and a cluster that cannot be reached or has a slot without a primary yet.
LOST = (RedisConnectionError, RedisTimeoutError, RedisClusterException)

# KEYS[i]: the history stream of publication i. ARGV: max entries, expiry (ms), now (ms), then
# channel, position and message of each publication. Returns how many were published.
# (On a cluster, SPUBLISH instead of PUBLISH: `_publishing`.)
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
        cluster: bool = False,
        replica_wait_ms: int = 0,
    ) -> None:
        if cluster and ("{" in prefix or "}" in prefix):
            raise ValueError("on Redis Cluster the key prefix must not contain braces")
        self._url = url
        self._prefix = prefix
        self._retention = retention or Retention()
        self._limits = limits or PoolLimits()
        self._cluster = cluster
        self._redis: Redis | RedisCluster | None = None
        self._publish_script: AsyncScript | None = None
        self._publish_each: AsyncScript | None = None
        self._pubsub: RedisPubSubConnection | None = None
        self._shards: ShardedReader | None = None  # on a cluster: reads `_pubsub`'s nodes
        self._names: dict[str, str] = {}  # on a cluster: Redis channel -> channel, subscribed
        self._replica_wait_ms = replica_wait_ms if cluster else 0
        self._unreplicated = False  # a WAIT ran out: publications may be on a primary only
        self._lone: dict[str, float] = {}  # primaries without a replica -> when last asked
        self._channels: set[str] = set()  # what we want subscribed, whatever the connection
        self._changed = asyncio.Event()  # set when a subscribe finishes (or fails)
        self._confirmed: dict[str, asyncio.Event] = {}  # subscribes Redis has not confirmed
        self._broken = False  # a subscribe failed: the listener must reconnect

    @property
    def redis(self) -> Redis | RedisCluster:
        if self._redis is None:
            raise RuntimeError("RedisPubSub.connect() was not called")
        return self._redis

    async def connect(self) -> None:
        name = f"{self._prefix}pubsub"
        if self._cluster:
            self._redis = make_redis_cluster(self._url, self._limits, name)
        else:
            self._redis = make_redis(self._url, self._limits, name)
        self._publish_script = self._redis.register_script(
            _publishing(PUBLISH_WITH_HISTORY, self._cluster)
        )
        self._publish_each = self._redis.register_script(PUBLISH_EACH)
        self._pubsub = self._new_pubsub()

    def _new_pubsub(self) -> RedisPubSubConnection:
        redis = self.redis
        if isinstance(redis, RedisCluster):
            pubsub = redis.pubsub(ignore_subscribe_messages=False)
            self._shards = ShardedReader(redis, pubsub)
            return pubsub
        return redis.pubsub(ignore_subscribe_messages=False)

    async def _close_pubsub(self) -> None:
        if self._shards is not None:
            await self._shards.close()
            self._shards = None
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            self._pubsub = None

    async def close(self) -> None:
        await self._close_pubsub()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def ping(self) -> None:
        await self.redis.ping()

    def _channel_name(self, channel: str) -> str:
        """The channel in Redis: prefixed, and on a cluster tagged on its subject."""
        return self._prefix + (cluster_name(channel) if self._cluster else channel)

    async def publish(self, channel: str, message: bytes) -> None:
        if self._cluster:
            await self.redis.spublish(self._channel_name(channel), message)
        else:
            await self.redis.publish(self._prefix + channel, message)

    async def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        redis = self.redis
        if isinstance(redis, WaitingRedisCluster):
            # one pipeline: redis-py sends each node its SPUBLISHes in one round trip
            async with redis.pipeline_turn(), redis.pipeline() as pipe:
                for channel, message in messages:
                    pipe.spublish(self._channel_name(channel), message)
                await pipe.execute()
            return
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
        if self._cluster:
            return await self._publish_by_slot(script, settings, publications)
        published = 0
        for chunk in _chunks(publications):
            keys = [self._history_key(p.channel) for p in chunk]
            each = [
                a for p in chunk for a in (self._prefix + p.channel, str(p.position), p.message)
            ]
            published += int(await script(keys=keys, args=settings + each))
        return published

    async def _publish_by_slot(
        self, script: AsyncScript, settings: list[str | bytes], publications: list[Publication]
    ) -> int:
        """One script call per slot (a cluster runs a script only on keys of one slot; a
        channel's publications stay in order within its call), all in one pipeline: each
        primary gets its calls in one round trip, the primaries at once. With
        `replica_wait_ms`, each primary's calls end with `WAIT 1`, on the same connection, so
        the call returns once a replica of every primary written to holds the publications
        (or the wait ran out: then it says so once, and goes on unprotected)."""
        redis = self.redis
        assert isinstance(redis, WaitingRedisCluster)
        by_slot: defaultdict[int, list[Publication]] = defaultdict(list)
        for publication in publications:
            by_slot[key_slot(self._history_key(publication.channel).encode())].append(publication)
        calls = [(slot, chunk) for slot, group in by_slot.items() for chunk in _chunks(group)]
        await redis.initialize()  # the slot map, for the WAITs' nodes
        results: list[object] = [None] * len(calls)
        waits: dict[str, object] = {}  # primary -> its WAIT's reply: replicas holding it all
        written: dict[str, ClusterNode] = {}
        pending = list(range(len(calls)))
        for attempt in range(2):
            async with redis.pipeline_turn(), redis.pipeline() as pipe:
                nodes: dict[str, ClusterNode] = {}
                for index in pending:
                    slot, chunk = calls[index]
                    node = redis.nodes_manager.get_node_from_slot(slot)
                    nodes[node.name] = node
                    args = self._script_args(chunk, settings)  # (pipe.evalsha is refused)
                    pipe.execute_command(
                        "EVALSHA", script.sha, len(chunk), *args, target_nodes=node
                    )
                waited = [n for n in nodes.values() if self._waits_on(n.name)]
                for node in waited:
                    pipe.execute_command("WAIT", 1, self._replica_wait_ms, target_nodes=node)
                replies = await pipe.execute(raise_on_error=False)
            for index, reply in zip(pending, replies, strict=False):
                results[index] = reply
            waits |= {n.name: r for n, r in zip(waited, replies[len(pending) :], strict=True)}
            written |= nodes
            pending = [i for i in pending if isinstance(results[i], NoScriptError)]
            if not pending or attempt:
                break
            await redis.script_load(script.script)  # every primary (a promoted one has none)
        if self._replica_wait_ms:
            await self._review_replication(redis, waits, written)
        for reply in results:
            if isinstance(reply, Exception):
                raise reply  # the publisher retries the batch: what was published is skipped
        return sum(int(cast(int, reply)) for reply in results)

    def _script_args(
        self, chunk: list[Publication], settings: list[str | bytes]
    ) -> list[str | bytes]:
        keys: list[str | bytes] = [self._history_key(p.channel) for p in chunk]
        each = [
            a for p in chunk for a in (self._channel_name(p.channel), str(p.position), p.message)
        ]
        return keys + settings + each

    def _waits_on(self, primary: str) -> bool:
        return bool(self._replica_wait_ms) and primary not in self._lone

    async def _review_replication(
        self, redis: RedisCluster, waits: dict[str, object], written: dict[str, ClusterNode]
    ) -> None:
        """A primary whose WAIT reached no replica is asked (ROLE) whether it has any: one
        that has none is `_lone`, and its WAITs are skipped (they could only run out their
        time, REDIS_REPLICA_WAIT_MS per batch, which every tick of its slots would wait) until
        a ROLE, at most every `LONE_RECHECK_SECONDS`, finds a replica again. Said once when
        publications go unprotected, once when a replica of every primary holds them again.
        (A lost replica must not stop publishing: the cluster is then unprotected, as
        PostgreSQL's guard leaves writes unprotected without a standby.)"""
        now = time.monotonic()
        for name, node in written.items():
            reply = waits.get(name)
            missed = name in waits and (not isinstance(reply, int) or reply < 1)
            due = name in self._lone and now - self._lone[name] >= LONE_RECHECK_SECONDS
            if missed or due:
                if await _has_replica(redis, node):
                    self._lone.pop(name, None)
                else:
                    self._lone[name] = now
        unprotected = bool(self._lone) or any(
            not isinstance(reply, int) or reply < 1 for reply in waits.values()
        )
        if unprotected and not self._unreplicated:
            log.warning(
                "Redis: a primary's publications reached no replica within %d ms",
                self._replica_wait_ms,
            )
        elif self._unreplicated and not unprotected:
            log.info("Redis: publications reach a replica of every primary again")
        self._unreplicated = unprotected

    async def history(self, channel: str, since: int) -> list[Publication] | None:
        key = self._history_key(channel)
        redis = self.redis
        turn = redis.pipeline_turn() if isinstance(redis, WaitingRedisCluster) else nullcontext()
        async with turn, redis.pipeline(transaction=True) as pipe:
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
        if self._cluster:
            return f"{self._prefix}history:{cluster_name(channel)}"
        return f"{self._prefix}history:{channel}"

    async def subscribe(self, channel: str) -> None:
        """Returns once Redis confirmed the subscription (or after `CONFIRM_SECONDS`): from
        then on every publication reaches us, so a history read that follows misses nothing."""
        self._channels.add(channel)
        name = self._channel_name(channel)
        confirmed = self._confirmed.setdefault(name, asyncio.Event())
        try:
            await self._subscribe(channel)
        except LOST:
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
        name = self._channel_name(channel)
        try:
            if self._cluster:
                self._names.pop(name, None)
                await self._cluster_connection().sunsubscribe(name)
            else:
                await self._connection().unsubscribe(name)
        except LOST:
            log.warning("Redis down while unsubscribing %s", channel)

    async def _subscribe(self, *channels: str) -> None:
        if not self._cluster:
            await self._connection().subscribe(*(self._prefix + c for c in channels))
            return
        redis = self.redis
        assert isinstance(redis, RedisCluster)
        await redis.initialize()  # the topology, once (again after a failover: `_resubscribe`)
        connection = self._cluster_connection()
        for channel in channels:  # one SSUBSCRIBE each: a command's channels share a slot
            name = self._channel_name(channel)
            self._names[name] = channel
            await connection.ssubscribe(name)

    async def next_message(self) -> tuple[str, bytes]:
        """The next message of a wanted channel. When the connection is lost (or a subscribe
        failed), a fresh one subscribes every wanted channel after a backoff: 0.1 s, doubling
        up to `MAX_BACKOFF_SECONDS` while that fails (on a cluster up to
        `CLUSTER_MAX_BACKOFF_SECONDS`), from 0.1 s again once anything arrives."""
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
            if self._shards is not None:
                return await self._receive_sharded(self._shards)
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

    async def _receive_sharded(self, shards: ShardedReader) -> tuple[str, bytes] | None:
        """`_receive` on a cluster: a message of any node's shard channels."""
        message = await shards.get_message(self._changed)
        if message is None:
            return None
        if message["type"] == "ssubscribe":
            self._confirm(message["channel"].decode())
        elif message["type"] == "smessage":
            channel = self._names.get(message["channel"].decode())
            if channel is not None:  # else unsubscribed meanwhile
                return channel, message["data"]
        return None

    async def _reconnected(self) -> tuple[str, bytes] | None:
        await self._resubscribe()
        return await self._receive()

    def _reconnecting(self) -> AsyncRetrying:
        most = CLUSTER_MAX_BACKOFF_SECONDS if self._cluster else MAX_BACKOFF_SECONDS
        return retrying(
            "Redis pub/sub",
            retry_on=(*LOST, _Broken),
            wait=wait_exponential(multiplier=0.1, max=most),
            report=_report_loss,
        )

    async def _resubscribe(self) -> None:
        """A fresh connection subscribed to every wanted channel; errors wait for the next try.
        On a cluster the topology is read again first: a lost node may have failed over."""
        await self._close_pubsub()
        self._broken = False
        try:
            redis = self.redis
            if isinstance(redis, RedisCluster):
                await redis.nodes_manager.initialize()
            self._pubsub = self._new_pubsub()
            if self._channels:
                await self._subscribe(*self._channels)
                log.info("Redis pub/sub re-subscribed %d channels", len(self._channels))
        except LOST:
            self._broken = True

    def _confirm(self, channel: str) -> None:
        confirmed = self._confirmed.pop(channel, None)
        if confirmed is not None:
            confirmed.set()

    def _connection(self) -> RedisPubSubConnection:
        if self._pubsub is None:
            raise RuntimeError("RedisPubSub.connect() was not called")
        return self._pubsub

    def _cluster_connection(self) -> ClusterPubSub:
        connection = self._connection()
        assert isinstance(connection, ClusterPubSub)
        return connection


async def _has_replica(redis: RedisCluster, node: ClusterNode) -> bool:
    """Whether a replica is attached to the primary `node` (ROLE lists them); an error (the
    node lost) counts as none."""
    try:
        role = await redis.execute_command("ROLE", target_nodes=node)
    except (*LOST, RedisError):
        return False
    return bool(role and len(role) > 2 and role[2])  # noqa: PLR2004 (ROLE's third item)


class _Broken(Exception):
    """A subscribe failed while Redis was down: the connection must be made again."""


def _report_loss(error: BaseException, _attempt: int, delay: float) -> None:
    """A lost connection is logged; a failed subscribe was (`subscribe`), a failed re-subscribe
    is not: a long outage costs one line."""
    if not isinstance(error, _Broken):
        log.warning("Redis pub/sub lost (%s); reconnecting in %.1fs", error, delay)


def _publishing(script: str, cluster: bool) -> str:
    """The script as a cluster runs it: SPUBLISH, whose message stays within the shard of the
    channel's slot (the slot of the script's keys: they share the channel's hash tag)."""
    return script.replace("'PUBLISH'", "'SPUBLISH'") if cluster else script


def _chunks(items: list[Item]) -> list[list[Item]]:
    return [items[start : start + SCRIPT_BATCH] for start in range(0, len(items), SCRIPT_BATCH)]


Entries = list[tuple[bytes, dict[bytes, bytes]]]  # a stream range as redis-py returns it


def _position(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])


def _held(channel: str, entry_id: bytes, fields: dict[bytes, bytes]) -> HeldPublication:
    publication = Publication(channel, _position(entry_id), fields[b"m"])
    return HeldPublication(publication, int(fields[b"t"]) / 1000)
