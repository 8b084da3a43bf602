"""Keepalive pings for every lean WebSocket of a server on one timer, not a timer each.

A timer per connection costs about 0.6 KB as long as the connection lives (uvloop's handle,
its libuv timer, a copy of the context, the bound method; bench/README.md, "Memory per
connection"). Here the connections are spread over `GROUPS` groups and one timer pings the
next group every `interval / GROUPS` seconds: each connection is pinged about every `interval`
seconds (the first time a group's share of it early at most), ten thousand of them an eighth
at a time. A connection whose pong has not come `timeout` seconds after its ping is told so
(`no_pong`), at the firing that finds it late; one still waiting is not pinged again.
"""

from __future__ import annotations

import asyncio
from typing import Protocol
from weakref import WeakKeyDictionary

GROUPS = 8


class Pinged(Protocol):
    def ping(self) -> None:
        """Send a ping."""

    def no_pong(self) -> None:
        """The pong did not come in time."""


class Keepalive:
    def __init__(self, interval: float, timeout: float | None) -> None:
        self._interval = interval
        self._timeout = timeout or None  # None or 0: no deadline
        self.loop = asyncio.get_running_loop()
        self._groups: list[set[Pinged]] = [set() for _ in range(GROUPS)]
        self._next = 0  # the group the timer pings next
        self._waiting: dict[Pinged, float] = {}  # pinged, no pong yet: the deadline (loop time)
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: Pinged) -> None:
        """Pinged from about `interval` seconds on: in the group pinged last in a round."""
        self._groups[self._next - 1].add(connection)
        if self._timer is None:
            self._timer = self.loop.call_later(self._interval / GROUPS, self._fire)

    def remove(self, connection: Pinged) -> None:
        for group in self._groups:
            group.discard(connection)
        self._waiting.pop(connection, None)

    def pong(self, connection: Pinged) -> None:
        self._waiting.pop(connection, None)

    def _fire(self) -> None:
        self._timer = None
        now = self.loop.time()
        for connection in [c for c, deadline in self._waiting.items() if deadline <= now]:
            self.remove(connection)
            connection.no_pong()
        group = self._groups[self._next]
        self._next = (self._next + 1) % GROUPS
        for connection in list(group):  # a ping may fail and its connection leave
            if connection not in self._waiting:
                if self._timeout is not None:
                    self._waiting[connection] = now + self._timeout
                connection.ping()
        if self._waiting or any(self._groups):
            self._timer = self.loop.call_later(self._interval / GROUPS, self._fire)


_SHARED: WeakKeyDictionary[object, Keepalive] = WeakKeyDictionary()


def shared_keepalive(
    owner: object, interval: float | None, timeout: float | None
) -> Keepalive | None:
    """The keepalive of `owner`'s connections (a server's config), made for its first on
    this event loop; None without an `interval`."""
    if not interval:
        return None
    keepalive = _SHARED.get(owner)
    if keepalive is None or keepalive.loop is not asyncio.get_running_loop():
        keepalive = _SHARED[owner] = Keepalive(interval, timeout)
    return keepalive
