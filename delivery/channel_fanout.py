"""The shared fan-out of one kind of live channel (quotes, candles), whatever its messages are.

Per channel, subscribers who see it through the same `View` with the same selection form a
group: each message is parsed once, turned into the view's root value once, executed and
encoded once per group, and handed to each subscriber with its symbol and position (the
subscriber splices it into its own envelope, `delivery/live_subscribers.py`). The fan-out is
the hub's only sink for the channels it serves: it attaches a channel when its first
subscriber arrives and detaches it after the last leaves.

A kind fills in what differs: how a message is parsed (and which error says it is malformed),
its symbol and position, and, where its channel needs it, how messages are put in order
before they go out (quotes fill gaps from the history; bars need not).

An operation's place in the fan-out is its `Membership`: the operation's task waits until it
is cancelled and then leaves, or, when its transport can end the task meanwhile
(`SharedOperation.detached`), hands the membership over and ends; the transport then leaves
when the client completes the operation or the socket closes.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from delivery.live_subscribers import Framing, LiveSubscriber, Position, Stamped
from delivery.shared_selection import Info, SharedSelection, build_selection, selection_key
from streaming import metrics
from streaming.runtime import Runtime

log = logging.getLogger(__name__)

M = TypeVar("M")  # a channel's message, parsed: a Tick, a Bar


@dataclass(frozen=True, slots=True)
class View(Generic[M]):
    """What a channel's messages become for one kind of subscription (its root value):
    `opening` for the messages a stream opens with, `live` for the rest. Views with the same
    `key` must behave alike (their subscribers may share the first one's functions)."""

    key: Hashable
    live: Callable[[M], object]
    opening: Callable[[M], object]


class SharedOperation(Framing, Protocol):
    """An operation as the fan-out serves it: its frames' envelope and outbox, and where its
    membership goes once it streams, when its transport takes it (else None)."""

    @property
    def detached(self) -> Callable[[Membership], None] | None: ...


class Membership:
    """One operation's place in a kind's fan-out, until it leaves."""

    __slots__ = ("_fanout", "_key", "_subscriber", "channels")

    def __init__(
        self, fanout: ChannelFanout[Any], key: Hashable, subscriber: LiveSubscriber
    ) -> None:
        self._fanout = fanout
        self._key = key
        self._subscriber: LiveSubscriber | None = subscriber
        self.channels: list[str] = []
        metrics.ACTIVE_SUBSCRIPTIONS.inc()
        metrics.SHARED_SUBSCRIPTIONS.inc()

    async def leave(self) -> None:
        """Out of every group it joined (once; later calls do nothing)."""
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is None:
            return
        subscriber.close()
        metrics.ACTIVE_SUBSCRIPTIONS.dec()
        metrics.SHARED_SUBSCRIPTIONS.dec()
        for channel in self.channels:
            await self._fanout.leave(channel, self._key, subscriber)


@dataclass(slots=True)
class _Group(Generic[M]):
    selection: SharedSelection
    root_value: Callable[[M], object]
    subscribers: set[LiveSubscriber] = field(default_factory=set)


class ChannelFanout(ABC, Generic[M]):
    """Per process, for each channel of one kind: its groups and their subscribers."""

    kind: ClassVar[str]  # names its messages in the log
    malformed: ClassVar[tuple[type[Exception], ...]]  # what `parse` raises for a bad message

    def __init__(self, runtime: Runtime, context: object) -> None:
        self._runtime = runtime
        self._context = context  # the schema's context with no caller: no per-user state
        self._channels: dict[str, dict[Hashable, _Group[M]]] = {}
        self._attached: dict[str, asyncio.Event] = {}  # set once the hub delivers the channel

    @abstractmethod
    def parse(self, message: bytes) -> M: ...

    @abstractmethod
    def stamp(self, message: M) -> tuple[str, Position]:
        """The message's symbol and its position among that symbol's messages."""

    def _pass_on(self, channel: str, message: M) -> int:
        """Deliver a parsed message (a kind may put its channel's messages in order first)."""
        return self._deliver(channel, message)

    def _forget(self, channel: str) -> None:
        """The channel has no subscriber left (a kind may drop what it kept for it)."""

    async def _serve(
        self,
        info: Info,
        operation: SharedOperation,
        *,
        view: View[M],
        subscriber: LiveSubscriber,
        channels: Sequence[str],
        opening: Callable[[], Awaitable[Sequence[M]]],
    ) -> bool:
        """Stream `channels` to `subscriber`: the `opening` messages (read once every channel
        is attached, so nothing falls between), then live; until the operation is cancelled,
        or, when its transport takes the membership, until that leaves. False (at once) when
        the selection cannot be shared."""
        membership = await self._join_all(info, view, subscriber, channels, opening)
        if membership is None:
            return False
        if operation.detached is not None:
            operation.detached(membership)
            return True
        try:
            await asyncio.Event().wait()  # until the client completes or the connection ends
        finally:
            await membership.leave()
        return True

    async def _join_all(
        self,
        info: Info,
        view: View[M],
        subscriber: LiveSubscriber,
        channels: Sequence[str],
        opening: Callable[[], Awaitable[Sequence[M]]],
    ) -> Membership | None:
        """`subscriber` joined to each channel's group, its opening messages sent."""
        key = (view.key, selection_key(info))
        selection = self._selection(key) or build_selection(info, self._context)
        if selection is None:
            return None
        membership = Membership(self, key, subscriber)
        try:
            for channel in channels:
                membership.channels.append(channel)
                await self._join(channel, key, _Group(selection, view.live), subscriber)
            messages = await opening()
            subscriber.release([self._opening(selection, view, m) for m in messages])
        except BaseException:
            await membership.leave()
            raise
        return membership

    def _opening(self, selection: SharedSelection, view: View[M], message: M) -> Stamped:
        symbol, position = self.stamp(message)
        key = (view.key, symbol)
        return (
            symbol,
            position,
            selection.render_opening(key, position, lambda: view.opening(message)),
        )

    def _selection(self, key: Hashable) -> SharedSelection | None:
        for groups in self._channels.values():
            if key in groups:
                return groups[key].selection
        return None

    async def _join(
        self, channel: str, key: Hashable, group: _Group[M], subscriber: LiveSubscriber
    ) -> None:
        """`subscriber` into `key`'s group of `channel` (`group` when it has none yet)."""
        groups = self._channels.get(channel)
        first = groups is None
        if groups is None:
            groups = self._channels[channel] = {}
        groups.setdefault(key, group).subscribers.add(subscriber)
        if first:
            attached = self._attached[channel] = asyncio.Event()
            try:
                await self._runtime.hub.attach(channel, self)
            finally:
                attached.set()
        else:  # the hub delivers the channel once the first joiner's attach has returned
            await self._attached[channel].wait()

    async def leave(self, channel: str, key: Hashable, subscriber: LiveSubscriber) -> None:
        groups = self._channels.get(channel)
        group = groups.get(key) if groups is not None else None
        if groups is None or group is None or subscriber not in group.subscribers:
            return
        group.subscribers.discard(subscriber)
        if not group.subscribers:
            del groups[key]
        if not groups:
            del self._channels[channel]
            del self._attached[channel]
            self._forget(channel)
            await self._runtime.hub.detach(channel, self)

    def offer(self, channel: str, message: bytes) -> int:
        """The hub's call: one message of `channel`; returns how many subscribers it reached."""
        if not self._channels.get(channel):
            return 0
        try:
            parsed = self.parse(message)
        except self.malformed as error:
            log.warning("skipping a malformed %s message: %s", self.kind, error)
            return 0
        return self._pass_on(channel, parsed)

    def _deliver(self, channel: str, message: M) -> int:
        groups = self._channels.get(channel)
        if not groups:
            return 0
        symbol, position = self.stamp(message)
        built: Callable[[M], object] | None = None  # groups of one view share its root value
        root: object = None
        reached = 0
        for group in groups.values():
            try:
                if group.root_value is not built:
                    built, root = group.root_value, group.root_value(message)
                payload = group.selection.render(root)
            except Exception:  # keep the hub's listener alive for every other channel
                log.exception("could not render a shared %s selection", self.kind)
                continue
            for subscriber in group.subscribers:
                subscriber.deliver(symbol, position, payload)
            reached += len(group.subscribers)
        return reached
