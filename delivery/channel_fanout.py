"""The fan-out of one kind of live channel (quotes, candles), whatever its messages are: the
one live path of the public streams (quotes, candles, trades, book).

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

A stream whose selection cannot be shared runs through the same machinery (`_stream`): a
group of its own whose payloads are the view's root values, for Strawberry to execute per
subscriber, read from a conflating mailbox. Ordering, gap filling, the opening (snapshot or
resume), throttling and conflation are then the shared path's own code.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from delivery.live_subscribers import (
    Envelope,
    Framing,
    LiveSubscriber,
    Position,
    Stamped,
    live_subscriber,
)
from delivery.shared_selection import Info, build_selection, selection_key
from delivery.tracing import subscription_started
from streaming import metrics
from streaming.hub import Mailbox
from streaming.runtime import Runtime

log = logging.getLogger(__name__)

M = TypeVar("M")  # a channel's message, parsed: a Tick, a Bar
R = TypeVar("R")  # what a view makes of it: the subscription's root value


@dataclass(frozen=True, slots=True)
class View(Generic[M, R]):
    """What a channel's messages become for one kind of subscription (its root value):
    `opening` for the messages a stream opens with, `live` for the rest. Views with the same
    `key` must behave alike (their subscribers may share the first one's functions).
    `accepts`, when given, picks the messages the view shows (trade prints among quote
    updates); `latest` names the cache key of the message a stream opens with, per symbol,
    when it is not the kind's own."""

    key: Hashable
    live: Callable[[M], R]
    opening: Callable[[M], R]
    accepts: Callable[[M], bool] | None = None
    latest: Callable[[str], str] | None = None

    def shows(self, message: M) -> bool:
        return self.accepts is None or self.accepts(message)


class Selection(Protocol):
    """What a group makes of a root value for its subscribers: a `SharedSelection`'s encoded
    payload, or the root value itself (`ROOT_VALUES`)."""

    def render(self, root: object) -> Any: ...

    def render_opening(
        self, key: Hashable, position: object, root: Callable[[], object]
    ) -> Any: ...


class _RootValues:
    """The per-subscriber path's selection: the root value as it is, as a one-item payload
    (Strawberry executes the subscriber's own selection on it)."""

    def render(self, root: object) -> tuple[object, ...]:
        return (root,)

    def render_opening(
        self,
        key: Hashable,  # noqa: ARG002 (a shared selection's cache key: nothing to cache here)
        position: object,  # noqa: ARG002
        root: Callable[[], object],
    ) -> tuple[object, ...]:
        return (root(),)


ROOT_VALUES = _RootValues()


class SharedOperation(Framing, Protocol):
    """An operation as the fan-out serves it: its frames' envelope and outbox, and where its
    membership goes once it streams, when its transport takes it (else None)."""

    @property
    def detached(self) -> Callable[[Membership], None] | None: ...


class Membership:
    """One operation's place in a kind's fan-out, until it leaves."""

    __slots__ = ("_fanout", "_key", "_shared", "_subscriber", "channels")

    def __init__(
        self,
        fanout: ChannelFanout[Any],
        key: Hashable,
        subscriber: LiveSubscriber[Any],
        *,
        shared: bool = True,
    ) -> None:
        self._fanout = fanout
        self._key = key
        self._subscriber: LiveSubscriber[Any] | None = subscriber
        self._shared = shared  # counted in `trado_shared_subscriptions`
        self.channels: list[str] = []
        metrics.ACTIVE_SUBSCRIPTIONS.inc()
        if shared:
            metrics.SHARED_SUBSCRIPTIONS.inc()

    async def leave(self) -> None:
        """Out of every group it joined (once; later calls do nothing)."""
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is None:
            return
        subscriber.close()
        metrics.ACTIVE_SUBSCRIPTIONS.dec()
        if self._shared:
            metrics.SHARED_SUBSCRIPTIONS.dec()
        for channel in self.channels:
            await self._fanout.leave(channel, self._key, subscriber)


@dataclass(frozen=True, slots=True)
class Stream(Generic[M]):
    """What a subscription streams, whichever path: its `channels`, its `symbols` and each
    one's position to start after (`since`), the `opening` messages it starts with (read after
    subscribing: the snapshot, or what was missed after `since`), and `throttle` (seconds
    between a symbol's updates; 0: every update)."""

    channels: Sequence[str]
    symbols: Sequence[str]
    opening: Callable[[], Awaitable[Sequence[M]]]
    since: Mapping[str, Position] = field(default_factory=dict)
    throttle: float = 0.0


@dataclass(slots=True)
class _Group(Generic[M]):
    channel: str  # the name its subscribers' memberships hold (one string, not one each)
    selection: Selection
    root_value: Callable[[M], object]
    accepts: Callable[[M], bool] | None = None
    subscribers: set[LiveSubscriber[Any]] = field(default_factory=set)


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
        view: View[M, Any],
        stream: Stream[M],
    ) -> bool:
        """`stream` to a shared operation, its frames into the operation's outbox; until the
        operation is cancelled, or, when its transport takes the membership, until that
        leaves. False (at once) when the selection cannot be shared."""
        key = (view.key, selection_key(info))
        selection = self._selection(key) or build_selection(info, self._context)
        if selection is None:
            return False
        envelope = Envelope.of(operation, stream.symbols)
        subscriber = live_subscriber(envelope, stream.since, stream.throttle)
        membership = await self._join_all(key, selection, view, subscriber, stream)
        if operation.detached is not None:
            operation.detached(membership)
            return True
        try:
            await asyncio.Event().wait()  # until the client completes or the connection ends
        finally:
            await membership.leave()
        return True

    async def _stream(self, view: View[M, R], stream: Stream[M]) -> AsyncIterator[R]:
        """`stream` as `view`'s root values, for one subscriber that executes its own
        selection: the same subscriber rules as `_serve`, the root values waiting in a
        mailbox that conflates to each symbol's latest past the hub's limit, as the outbox
        does for a shared operation."""
        roots: Mailbox[tuple[object, ...]]
        roots = Mailbox(conflate=True, limit=self._runtime.hub.mailbox_limit)
        envelope = Envelope.bare(roots.offer, stream.symbols)
        subscriber = live_subscriber(envelope, stream.since, stream.throttle)
        membership = await self._join_all(
            view.key, ROOT_VALUES, view, subscriber, stream, shared=False
        )
        try:
            async for _symbol, (root,) in roots:
                yield cast(R, root)  # what `view` made
        finally:
            await membership.leave()

    async def _join_all(
        self,
        key: Hashable,
        selection: Selection,
        view: View[M, Any],
        subscriber: LiveSubscriber[Any],
        stream: Stream[M],
        *,
        shared: bool = True,
    ) -> Membership:
        """`subscriber` joined to each channel's group, its opening messages sent (read once
        every channel is attached, so nothing falls between)."""
        membership = Membership(self, key, subscriber, shared=shared)
        try:
            for channel in stream.channels:
                membership.channels.append(channel)
                group = _Group(channel, selection, view.live, view.accepts)
                membership.channels[-1] = await self._join(channel, key, group, subscriber)
            messages = [m for m in await stream.opening() if view.shows(m)]
            subscriber.release([self._opening(selection, view, m) for m in messages])
            subscription_started()
        except BaseException:
            await membership.leave()
            raise
        return membership

    def _opening(self, selection: Selection, view: View[M, Any], message: M) -> Stamped[Any]:
        symbol, position = self.stamp(message)
        key = (view.key, symbol)
        return (
            symbol,
            position,
            selection.render_opening(key, position, lambda: view.opening(message)),
        )

    def _selection(self, key: Hashable) -> Selection | None:
        for groups in self._channels.values():
            if key in groups:
                return groups[key].selection
        return None

    async def _join(
        self, channel: str, key: Hashable, group: _Group[M], subscriber: LiveSubscriber[Any]
    ) -> str:
        """`subscriber` into `key`'s group of `channel` (`group` when it has none yet); the
        channel's name as that group holds it."""
        groups = self._channels.get(channel)
        first = groups is None
        if groups is None:
            groups = self._channels[channel] = {}
        joined = groups.setdefault(key, group)
        joined.subscribers.add(subscriber)
        if first:
            attached = self._attached[channel] = asyncio.Event()
            try:
                await self._runtime.hub.attach(channel, self)
            finally:
                attached.set()
        else:  # the hub delivers the channel once the first joiner's attach has returned
            await self._attached[channel].wait()
        return joined.channel

    async def leave(self, channel: str, key: Hashable, subscriber: LiveSubscriber[Any]) -> None:
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
            if group.accepts is not None and not group.accepts(message):
                continue
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
