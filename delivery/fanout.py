"""Live subscriptions executed once per message for everyone who asked for the same selection.

Strawberry's own path runs a subscription's selection once per event for each subscriber and
encodes each result on its own: with a thousand subscribers that is a thousand executions of
the same fields over the same message. Here subscribers whose selection is the same (same
fields, aliases, directives, fragments and the variables those use; their symbols may differ)
share one `SharedSelection` (`delivery/shared_selection.py`): each message is executed once with
graphql-core's per-event executor and encoded once, and each subscriber gets that text with
its own operation id spliced in, through its connection's `Outbox`. Parsing, validation,
limits and arguments stay Strawberry's (the resolver runs as usual and hands over here); only
the per-message work is shared.

Two kinds of channel ride it (`delivery/channel_fanout.py` holds what they share):
- quote channels (`QuoteChannels`, `delivery/quotes.py`), seen through a `View` per
  subscription kind: `quotes`, `trades` as trade prints, `book` as the order book around
  each tick; `throttleMs` too (`delivery/live_subscribers.py`);
- candle channels (`CandleChannels`, `delivery/candles.py`): `candles`, one symbol and
  interval each.

An operation takes this path when its transport marks it with `LIVE_OPERATION`: both
WebSocket protocols (`delivery/router.py`), SSE and multipart (`delivery/http_streams.py`),
graphql-sse's single connection mode (`delivery/event_streams.py`). On graphql-transport-ws
the operation's task ends once it streams, its `Membership` kept by the connection.
`quote_stream` and `candle_stream` are the public streams' one entry: the shared fan-out when
it can take the operation, else the same channels and rules per subscriber. The private
streams (`orderUpdates`, `notifications`) have their own rule (`delivery/user_events.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from delivery.candles import CandleChannels
from delivery.channel_fanout import Membership, View
from delivery.outbox import Outbox
from delivery.quotes import QuoteChannels
from delivery.shared_selection import Info
from streaming.candles import Bar, Interval
from streaming.runtime import Runtime
from streaming.tick import Tick

__all__ = [
    "LIVE_OPERATION",
    "LiveFanout",
    "LiveOperation",
    "Membership",
    "View",
    "candle_stream",
    "quote_stream",
]

R = TypeVar("R")

PublicContext = Callable[[Runtime], object]  # the schema's context with no caller


@dataclass(frozen=True)
class LiveOperation:
    """An operation whose live frames may bypass Strawberry's stream: each is the shared
    payload in its transport's envelope, `prefix + payload + suffix`."""

    id: str
    outbox: Outbox
    fanout: LiveFanout
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
        fanout: LiveFanout,
        message_type: str,
        detached: Callable[[Membership], None] | None = None,
    ) -> LiveOperation:
        """A WebSocket operation: its frames are its protocol's result messages (`next` on
        graphql-transport-ws, `data` on the legacy graphql-ws)."""
        head = {"id": operation_id, "type": message_type}
        prefix = orjson.dumps(head)[:-1] + b',"payload":'
        return cls(operation_id, outbox, fanout, prefix=prefix, suffix=b"}", detached=detached)


LIVE_OPERATION: ContextVar[LiveOperation | None] = ContextVar("live_operation", default=None)


@dataclass(frozen=True)
class _Channels:
    quotes: QuoteChannels
    candles: CandleChannels


class LiveFanout:
    """Per process: every kind of live channel's shared fan-out, started with the first
    subscriber (the runtime exists only then)."""

    def __init__(self, public_context: PublicContext) -> None:
        self._public_context = public_context
        self._channels: _Channels | None = None

    def _started(self, runtime: Runtime) -> _Channels:
        if self._channels is None:
            context = self._public_context(runtime)  # no caller, no per-user state
            self._channels = _Channels(
                QuoteChannels(runtime, context), CandleChannels(runtime, context)
            )
        return self._channels

    async def serve(
        self,
        info: Info,
        operation: LiveOperation,
        symbols: Sequence[str],
        since: Mapping[str, int],
        *,
        throttle: float = 0.0,
        view: View[Tick, Any],
    ) -> bool:
        """Stream `symbols`' quote channels to `operation`: the opening ticks (the snapshot, or
        what was missed after `since`), then live (at most once per `throttle` seconds per
        symbol, when given), as `view` sees them; until the operation is cancelled, or, when
        its transport takes the membership (`LiveOperation.detached`), until that leaves.
        False (at once) when the selection cannot be shared; the caller then streams it
        itself."""
        quotes = self._started(info.context.runtime).quotes
        return await quotes.serve(info, operation, symbols, since, throttle=throttle, view=view)

    async def serve_candles(
        self,
        info: Info,
        operation: LiveOperation,
        symbol: str,
        interval: Interval,
        view: View[Bar, Any],
    ) -> bool:
        """Stream the forming bar of `symbol` at `interval`, then every change, as `view`
        sees it, as long as `serve` streams; False (at once) when the selection cannot be
        shared."""
        candles = self._started(info.context.runtime).candles
        return await candles.serve(info, operation, symbol, interval, view)


async def quote_stream(
    info: Info,
    symbols: Sequence[str],
    since: Mapping[str, int],
    *,
    view: View[Tick, R],
    throttle: float = 0.0,
) -> AsyncIterator[R]:
    """`symbols`' quote channels as `view` sees them: on the shared fan-out when the transport
    marked the operation and its selection can be shared (nothing comes out here then: the
    fan-out writes the frames), else as root values for Strawberry to execute per subscriber.

    The per-subscriber path stays for what the shared fan-out cannot take: an operation no
    transport marked (`schema.subscribe` in-process) and a selection it cannot build an
    executor for (`build_selection`: a variable whose coerced value graphql-core will not
    coerce again, such as an enum's in `candles(interval: $i)`). It runs the same
    `QuoteChannels` with that one member, so gap filling, the opening, throttling and
    conflation are the same code."""
    live = LIVE_OPERATION.get()
    if live is not None and await live.fanout.serve(
        info, live, symbols, since, throttle=throttle, view=view
    ):
        return
    channels = QuoteChannels(info.context.runtime, None)
    async for root in channels.stream(symbols, since, throttle=throttle, view=view):
        yield root


async def candle_stream(
    info: Info, symbol: str, interval: Interval, view: View[Bar, R]
) -> AsyncIterator[R]:
    """`symbol`'s forming bar at `interval`, then every change, as `view` sees it: shared, or
    per subscriber as `quote_stream` says, on the same `CandleChannels`."""
    live = LIVE_OPERATION.get()
    if live is not None and await live.fanout.serve_candles(info, live, symbol, interval, view):
        return
    async for root in CandleChannels(info.context.runtime, None).stream(symbol, interval, view):
        yield root
