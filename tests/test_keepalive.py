"""One keepalive timer for many connections (`delivery/keepalive.py`): one that answers is
pinged again and again, one that does not is told at its deadline, one that left is not
pinged."""

from __future__ import annotations

import asyncio

from delivery.keepalive import Keepalive, shared_keepalive
from tests.utils.live import eventually

INTERVAL = 0.08


class Connection:
    def __init__(self, keepalive: Keepalive, *, answers: bool) -> None:
        self.keepalive = keepalive
        self.answers = answers
        self.pings = 0
        self.timed_out = False

    def ping(self) -> None:
        self.pings += 1
        if self.answers:
            self.keepalive.pong(self)

    def no_pong(self) -> None:
        self.timed_out = True


async def test_each_connection_is_pinged_again_and_again() -> None:
    keepalive = Keepalive(INTERVAL, timeout=10)
    connections = [Connection(keepalive, answers=True) for _ in range(20)]
    for connection in connections:
        keepalive.add(connection)
    await eventually(lambda: all(c.pings >= 3 for c in connections))
    assert not any(c.timed_out for c in connections)


async def test_a_connection_without_pong_is_told_at_its_deadline_and_pinged_once() -> None:
    keepalive = Keepalive(INTERVAL, timeout=INTERVAL * 1.5)
    silent, answering = Connection(keepalive, answers=False), Connection(keepalive, answers=True)
    keepalive.add(silent)
    keepalive.add(answering)
    await eventually(lambda: silent.timed_out)
    assert silent.pings == 1, "no second ping while the first waits for its pong"
    assert not answering.timed_out


async def test_a_connection_that_left_is_not_pinged() -> None:
    keepalive = Keepalive(INTERVAL, timeout=None)
    gone = Connection(keepalive, answers=False)
    keepalive.add(gone)
    keepalive.remove(gone)
    await asyncio.sleep(INTERVAL * 2)
    assert gone.pings == 0
    assert not gone.timed_out


class Server:
    """A keepalive's owner (a server's config)."""


async def test_a_server_without_an_interval_has_no_keepalive() -> None:
    owner = Server()
    assert shared_keepalive(owner, None, 20) is None
    assert shared_keepalive(owner, 20, 20) is shared_keepalive(owner, 20, 20)
