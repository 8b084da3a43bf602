"""Jumps in a live channel's sequence, filled from its history before going on.

A process's pub/sub connection can miss messages that Redis did publish: across a lost
connection and its re-subscribe, or after a Redis restart, until the hub is subscribed again.
Each channel's history has them (it is written with every publish), so when a tick arrives
more than one above the last one passed on, `ChannelGaps` holds it and the channel's later
ticks, reads the missing ones from the history, and passes on the lot in order. What the
history no longer holds is counted (`trado_live_gaps_total{outcome="unfilled"}`) and logged;
the subscribers then see the jump.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from streaming import metrics
from streaming.pubsub import PubSub
from streaming.tick import Tick

log = logging.getLogger(__name__)

Deliver = Callable[[str, Tick], int]


async def missing_ticks(pubsub: PubSub, channel: str, after: int, before: int) -> list[Tick]:
    """The ticks of `channel` numbered above `after` and below `before` that its history
    holds (all of them, or none when it no longer reaches back), counted either way."""
    try:
        held = await pubsub.history(channel, after) or []
        found = [Tick.from_json(p.message) for p in held if p.position < before]
    except Exception as error:  # any backend's failure: the held ticks must still go on
        log.warning("could not read the history of %s: %r", channel, error)
        found = []
    unfilled = before - after - 1 - len(found)
    metrics.LIVE_GAPS.labels("filled").inc(len(found))
    if unfilled:
        metrics.LIVE_GAPS.labels("unfilled").inc(unfilled)
        log.warning("%d ticks of %s lost upstream (%d-%d)", unfilled, channel, after, before)
    return found


class ChannelGaps:
    """For a sink that fans channels out: the last sequence passed on per channel, and the
    channels being filled (their later ticks wait meanwhile, so order holds)."""

    def __init__(self, pubsub: PubSub, deliver: Deliver) -> None:
        self._pubsub = pubsub
        self._deliver = deliver
        self._last: dict[str, int] = {}
        self._filling: dict[str, list[Tick]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def offer(self, channel: str, tick: Tick) -> int:
        """Pass `tick` on now (returns how many it reached), or after a fill (returns 0)."""
        held = self._filling.get(channel)
        if held is not None:
            held.append(tick)
            return 0
        last = self._last.get(channel)
        if last is not None and tick.sequence <= last:
            return 0  # a repeat (a re-delivery the history had already skipped, or a fill's)
        if last is not None and tick.sequence > last + 1:
            self._filling[channel] = [tick]
            task = asyncio.create_task(self._fill(channel, last), name=f"fill-{channel}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return 0
        self._last[channel] = tick.sequence
        return self._deliver(channel, tick)

    def forget(self, channel: str) -> None:
        """The channel has no subscriber left: the next one starts afresh."""
        self._last.pop(channel, None)

    async def _fill(self, channel: str, last: int) -> None:
        held = self._filling[channel]
        try:
            missed = await missing_ticks(self._pubsub, channel, last, held[0].sequence)
        finally:
            held = self._filling.pop(channel)
        for tick in (*missed, *held):
            if tick.sequence > self._last.get(channel, -1):
                self._last[channel] = tick.sequence
                self._deliver(channel, tick)
