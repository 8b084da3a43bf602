"""Reading sharded pub/sub (SSUBSCRIBE) from every node of a Redis Cluster at once.

redis-py's `ClusterPubSub` keeps one connection per node that holds a subscribed shard channel,
and its `get_sharded_message(timeout=t)` asks them in turn, waiting up to `t` on each: a
message on the second node waits behind the first node's whole timeout (and timeout 0 is a
busy poll). Here one read is pending per node (`get_sharded_message(target_node=...)`, which
keeps `ClusterPubSub`'s own bookkeeping of unsubscribes), and whichever answers first is
handed out; a node that answered is then drained of what it already buffered before it is
awaited again, so a burst costs no task per message.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from redis.asyncio.cluster import ClusterNode, ClusterPubSub, RedisCluster

Message = dict[str, Any]  # a pub/sub message as redis-py returns it

READ_TIMEOUT_SECONDS = 1.0  # each pending read's longest wait: it then re-arms (health checks)


class ShardedReader:
    def __init__(self, cluster: RedisCluster, pubsub: ClusterPubSub) -> None:
        self._cluster = cluster
        self._pubsub = pubsub
        self._reads: dict[str, asyncio.Task[Message | None]] = {}  # node name -> pending read
        self._ready: deque[Message] = deque()

    async def get_message(self, changed: asyncio.Event) -> Message | None:
        """The next message (a subscribe's confirmation too) of any node; None when `changed`
        was set (a subscribe may have added a node) or a read timed out. Raises what a node's
        read raised (a lost connection)."""
        if self._ready:
            return self._ready.popleft()
        self._arm()
        if not self._reads:
            changed.clear()
            await changed.wait()
            return None
        changed.clear()
        woken = asyncio.ensure_future(changed.wait())
        try:
            done, _ = await asyncio.wait(
                [woken, *self._reads.values()], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()
        for name, read in list(self._reads.items()):
            if read in done:
                del self._reads[name]
                message = read.result()  # raises a lost connection
                if message is not None:
                    self._ready.append(message)
                    await self._drain(name)
        return self._ready.popleft() if self._ready else None

    def _arm(self) -> None:
        """A pending read on every node that holds a subscription and has none yet."""
        for name, node_pubsub in self._pubsub.node_pubsub_mapping.items():
            # (a node whose first SSUBSCRIBE is still connecting has no connection to read yet:
            # that subscribe sets `changed` when done, and the node is armed then)
            if name not in self._reads and node_pubsub.connection is not None:
                node = self._node(name)
                self._reads[name] = asyncio.ensure_future(
                    self._pubsub.get_sharded_message(target_node=node, timeout=READ_TIMEOUT_SECONDS)
                )
        for name in [name for name in self._reads if name not in self._pubsub.node_pubsub_mapping]:
            self._reads.pop(name).cancel()  # its last channel left: the connection was closed

    async def _drain(self, name: str) -> None:
        """What node `name` already has buffered, without waiting."""
        node = self._node(name)
        while name in self._pubsub.node_pubsub_mapping:
            message = await self._pubsub.get_sharded_message(target_node=node, timeout=0.0)
            if message is None:
                return
            self._ready.append(message)

    def _node(self, name: str) -> ClusterNode:
        """The node of that name; a node the topology no longer lists (failed over) is still
        named by its pub/sub connection, which will report the loss when read."""
        node = self._cluster.get_node(node_name=name)
        if node is not None:
            return node
        host, _, port = name.rpartition(":")
        return ClusterNode(host, int(port))

    async def close(self) -> None:
        reads = list(self._reads.values())
        self._reads.clear()
        for read in reads:
            read.cancel()
        await asyncio.gather(*reads, return_exceptions=True)
