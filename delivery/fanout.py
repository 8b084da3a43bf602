"""Live quotes executed once per tick for everyone who asked for the same selection.

Strawberry's own path runs a subscription's selection once per event for each subscriber and
encodes each result on its own: with a thousand subscribers that is a thousand executions of
the same fields over the same tick. Here subscribers whose `quotes` selection is the same (same
fields, aliases, directives, fragments and the variables those use; their symbols may differ)
share one `SharedSelection`: each tick is executed once with graphql-core's per-event executor
and encoded once, and each subscriber gets that text with its own operation id spliced in,
through its connection's `Outbox`. Parsing, validation, limits and arguments stay Strawberry's
(the `quotes` resolver runs as usual and hands over here); only the per-event work is shared.

A quote channel's ticks are seen through a `View`: `quotes` sees them as quotes (the default),
`trades` as trade prints, `book` as the order book around each; subscribers of one view and
selection share a group, so each view's root value is built once per tick, as each payload is.

`quotes`, `trades` and `book` operations (`throttleMs` too: `ThrottledSubscriber`) take this
path when their transport marks them with `LIVE_OPERATION`: both WebSocket protocols
(`delivery/router.py`), SSE and multipart (`delivery/http_streams.py`), graphql-sse's single
connection mode (`delivery/event_streams.py`). The other subscriptions stream through
Strawberry's per-subscriber path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import DocumentNode, ExecutionResult, FieldNode, GraphQLError, print_ast
from graphql.execution import Executor, execute_subscription_event
from graphql.language import Visitor, visit
from strawberry.types import Info as StrawberryInfo

from delivery.execution import TradoExecutor
from delivery.gaps import ChannelGaps
from delivery.outbox import Outbox
from delivery.quotes import opening_ticks, parse_tick
from streaming import metrics
from streaming.channels import quote_channel
from streaming.errors import BadTick
from streaming.hub import Hub
from streaming.runtime import Runtime
from streaming.tick import Tick

log = logging.getLogger(__name__)

Info = StrawberryInfo[Any, Any]
PublicContext = Callable[[Runtime], object]  # the schema's context with no caller
RootValue = Callable[[Tick], object]  # what a subscription field yields for a tick


@dataclass(frozen=True, slots=True)
class View:
    """What a quote channel's ticks become for one kind of subscription: `opening` for the
    ticks a stream opens with, `live` for the rest. Views with the same `key` must behave
    alike (their subscribers may share the first one's functions)."""

    key: Hashable
    live: RootValue
    opening: RootValue


@dataclass(frozen=True)
class LiveOperation:
    """An operation whose live frames may bypass Strawberry's stream: each is the shared
    payload in its transport's envelope, `prefix + payload + suffix`."""

    id: str
    outbox: Outbox
    fanout: QuoteFanout
    prefix: bytes
    suffix: bytes
    # Where the operation's membership goes once it streams, when its transport can end the
    # operation's task meanwhile (graphql-transport-ws); else the task waits until cancelled.
    detached: Callable[[Membership], None] | None = None

    @classmethod
    def on_websocket(
        cls,
        operation_id: str,
        outbox: Outbox,
        fanout: QuoteFanout,
        message_type: str,
        detached: Callable[[Membership], None] | None = None,
    ) -> LiveOperation:
        """A WebSocket operation: its frames are its protocol's result messages (`next` on
        graphql-transport-ws, `data` on the legacy graphql-ws)."""
        head = {"id": operation_id, "type": message_type}
        prefix = orjson.dumps(head)[:-1] + b',"payload":'
        return cls(operation_id, outbox, fanout, prefix=prefix, suffix=b"}", detached=detached)


LIVE_OPERATION: ContextVar[LiveOperation | None] = ContextVar("live_operation", default=None)


class SharedSelection:
    """One selection of `quotes`, executed and encoded once per tick."""

    def __init__(self, executor: Executor[Any]) -> None:
        self._executor = executor
        # Each symbol's latest opening payload per view: a burst of joiners renders it once.
        self._openings: dict[tuple[Hashable, str], tuple[int, bytes]] = {}

    def render_opening(self, view: View, tick: Tick) -> bytes:
        """`render` of the view's opening root value, once per symbol and sequence."""
        key = (view.key, tick.symbol)
        known = self._openings.get(key)
        if known is not None and known[0] == tick.sequence:
            return known[1]
        payload = self.render(view.opening(tick))
        self._openings[key] = (tick.sequence, payload)
        return payload

    def render(self, quote: object) -> bytes:
        """The `payload` of a `next` message for this tick, as JSON."""
        result = execute_subscription_event(self._executor.build_per_event_executor(quote))
        if not isinstance(result, ExecutionResult):  # a field became async: not shareable
            raise TypeError("a shared quote selection must resolve synchronously")
        payload: dict[str, object] = {"data": result.data}
        if result.errors:  # as MaskErrors does on Strawberry's path: logged, then masked
            for error in result.errors:
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)
            payload["errors"] = [
                GraphQLError("Unexpected error.", path=error.path).formatted
                for error in result.errors
            ]
        return orjson.dumps(payload)


class _VariablesUsed(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: object, *_: object) -> None:
        self.names.add(node.name.value)  # type: ignore[attr-defined]


def selection_key(info: Info) -> Hashable:
    """What decides a tick's payload: the root field without its arguments (they only pick
    the symbols), the document's fragments and the values of the variables those use."""
    raw = info._raw_info
    root = raw.field_nodes[0]
    shape = FieldNode(
        alias=root.alias,
        name=root.name,
        directives=root.directives,
        selection_set=root.selection_set,
        arguments=(),
    )
    used = _VariablesUsed()
    for node in (shape, *raw.fragments.values()):
        visit(node, used)
    values = {name: info.variable_values.get(name) for name in sorted(used.names)}
    return (
        print_ast(shape),
        tuple(print_ast(fragment) for fragment in raw.fragments.values()),
        orjson.dumps(values, default=str).decode(),  # str: exactly its size, kept per member
    )


def build_selection(info: Info, context: object) -> SharedSelection | None:
    """An executor for this operation's selection, or None when it cannot be built (the
    caller then streams per subscriber instead)."""
    raw = info._raw_info
    document = DocumentNode(definitions=(raw.operation, *raw.fragments.values()))
    executor = TradoExecutor.build(
        raw.schema,
        document,
        context_value=context,
        raw_variable_values=info.variable_values,  # coerced ones: the same for our arguments
        operation_name=raw.operation.name.value if raw.operation.name else None,
    )
    return None if isinstance(executor, list) else SharedSelection(executor)


class LiveSubscriber:
    """One operation's share of the fan-out: splices its id into each payload and keeps each
    symbol in sequence order, above the client's `since`. Ticks that arrive before the
    opening ticks are out are held."""

    __slots__ = ("_held", "_keys", "_last", "_outbox", "_prefix", "_suffix")

    def __init__(
        self, operation: LiveOperation, symbols: Sequence[str], since: Mapping[str, int]
    ) -> None:
        self._outbox = operation.outbox
        self._prefix = operation.prefix
        self._suffix = operation.suffix
        self._keys = {symbol: f"{operation.id}\x00{symbol}" for symbol in symbols}
        self._last: dict[str, int] = dict(since)
        self._held: list[tuple[Tick, bytes]] | None = []

    def deliver(self, tick: Tick, payload: bytes) -> None:
        if self._held is not None:
            self._held.append((tick, payload))
        else:
            self._send(tick, payload)

    def _send(self, tick: Tick, payload: bytes) -> None:
        if tick.sequence > self._last.get(tick.symbol, -1):
            self._last[tick.symbol] = tick.sequence
            self._outbox.push(self._keys[tick.symbol], self._prefix + payload + self._suffix)

    def release(self, opening: list[tuple[Tick, bytes]]) -> None:
        """Send the opening ticks, then what arrived meanwhile (minus what they covered)."""
        held, self._held = self._held or [], None
        for tick, payload in opening:
            self._send(tick, payload)
        for tick, payload in held:
            self.deliver(tick, payload)

    def close(self) -> None:
        """The operation is over."""


class ThrottledSubscriber(LiveSubscriber):
    """`throttleMs`: after the opening ticks, each symbol at most once per `period` seconds,
    with its latest tick; the symbols that changed in a period go out together."""

    __slots__ = ("_due", "_pending", "_period", "_sent_at")

    def __init__(
        self,
        operation: LiveOperation,
        symbols: Sequence[str],
        since: Mapping[str, int],
        period: float,
    ) -> None:
        super().__init__(operation, symbols, since)
        self._period = period
        self._pending: dict[str, tuple[Tick, bytes]] = {}
        self._sent_at = float("-inf")
        self._due: asyncio.TimerHandle | None = None

    def deliver(self, tick: Tick, payload: bytes) -> None:
        if self._held is not None:
            self._held.append((tick, payload))
            return
        self._pending[tick.symbol] = (tick, payload)
        if self._due is None:
            loop = asyncio.get_running_loop()
            due = max(loop.time(), self._sent_at + self._period)
            self._due = loop.call_at(due, self._send_pending)

    def _send_pending(self) -> None:
        self._due = None
        self._sent_at = asyncio.get_running_loop().time()
        pending, self._pending = self._pending, {}
        for tick, payload in pending.values():
            self._send(tick, payload)

    def close(self) -> None:
        if self._due is not None:
            self._due.cancel()


class Membership:
    """One operation's place in the fan-out, until it leaves."""

    __slots__ = ("_fanout", "_hub", "_key", "_subscriber", "channels")

    def __init__(
        self, fanout: QuoteFanout, hub: Hub, key: Hashable, subscriber: LiveSubscriber
    ) -> None:
        self._fanout = fanout
        self._hub = hub
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
            await self._fanout.leave(self._hub, channel, self._key, subscriber)


@dataclass
class _Group:
    selection: SharedSelection
    root_value: RootValue
    subscribers: set[LiveSubscriber] = field(default_factory=set)


class QuoteFanout:
    """Per process: for each quote channel, its shared selections and their subscribers. It is
    the hub's only sink for the channels it serves."""

    def __init__(self, public_context: PublicContext, root_value: RootValue) -> None:
        self._public_context = public_context
        self._quotes = View("quotes", root_value, root_value)
        self._channels: dict[str, dict[Hashable, _Group]] = {}
        self._attached: dict[str, asyncio.Event] = {}  # set once the hub delivers the channel
        self._context: object | None = None
        self._gaps: ChannelGaps | None = None

    async def serve(
        self,
        info: Info,
        operation: LiveOperation,
        symbols: Sequence[str],
        since: Mapping[str, int],
        *,
        throttle: float = 0.0,
        view: View | None = None,
    ) -> bool:
        """Stream `symbols` to `operation`: the opening ticks (the snapshot, or what was
        missed after `since`), then live (at most once per `throttle` seconds per symbol,
        when given), as `view` sees them (default: quotes). Until the operation is cancelled,
        or, when its transport takes the membership (`LiveOperation.detached`), until that
        leaves. False (at once) when the selection cannot be shared; the caller then streams
        it itself."""
        membership = await self.join(info, operation, symbols, since, throttle, view)
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

    async def join(  # noqa: PLR0917 (serve's arguments)
        self,
        info: Info,
        operation: LiveOperation,
        symbols: Sequence[str],
        since: Mapping[str, int],
        throttle: float,
        view: View | None,
    ) -> Membership | None:
        """`operation` joined to each symbol's group, its opening ticks sent."""
        view = view or self._quotes
        runtime: Runtime = info.context.runtime
        if self._context is None:
            self._context = self._public_context(runtime)  # no caller, no per-user state
            self._gaps = ChannelGaps(runtime.pubsub, self._deliver)
        key = (view.key, selection_key(info))
        selection = self._selection(key) or build_selection(info, self._context)
        if selection is None:
            return None
        subscriber = (
            ThrottledSubscriber(operation, symbols, since, throttle)
            if throttle
            else LiveSubscriber(operation, symbols, since)
        )
        membership = Membership(self, runtime.hub, key, subscriber)
        try:
            for symbol in symbols:
                channel = quote_channel(symbol)
                membership.channels.append(channel)
                await self._join(
                    runtime.hub, channel, key, _Group(selection, view.live), subscriber
                )
            ticks = await opening_ticks(runtime.pubsub, runtime.cache, symbols, since)
            subscriber.release([(tick, selection.render_opening(view, tick)) for tick in ticks])
        except BaseException:
            await membership.leave()
            raise
        return membership

    def _selection(self, key: Hashable) -> SharedSelection | None:
        for groups in self._channels.values():
            if key in groups:
                return groups[key].selection
        return None

    async def _join(
        self, hub: Hub, channel: str, key: Hashable, group: _Group, subscriber: LiveSubscriber
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
                await hub.attach(channel, self)
            finally:
                attached.set()
        else:  # the hub delivers the channel once the first joiner's attach has returned
            await self._attached[channel].wait()

    async def leave(
        self, hub: Hub, channel: str, key: Hashable, subscriber: LiveSubscriber
    ) -> None:
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
            if self._gaps is not None:
                self._gaps.forget(channel)
            await hub.detach(channel, self)

    def offer(self, channel: str, message: bytes) -> int:
        if not self._channels.get(channel) or self._gaps is None:
            return 0
        try:
            tick = parse_tick(message)
        except BadTick as error:
            log.warning("skipping a malformed quote message: %s", error)
            return 0
        return self._gaps.offer(channel, tick)  # in order, any jump filled from the history

    def _deliver(self, channel: str, tick: Tick) -> int:
        groups = self._channels.get(channel)
        if not groups:
            return 0
        built: RootValue | None = None  # groups of one view in a row share its root value
        root: object = None
        reached = 0
        for group in groups.values():
            try:
                if group.root_value is not built:
                    built, root = group.root_value, group.root_value(tick)
                payload = group.selection.render(root)
            except Exception:  # keep the hub's listener alive for every other channel
                log.exception("could not render a shared quote selection")
                continue
            for subscriber in group.subscribers:
                subscriber.deliver(tick, payload)
            reached += len(group.subscribers)
        return reached
