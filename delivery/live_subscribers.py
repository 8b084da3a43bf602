"""One subscriber of a public live stream (quotes, candles, trades, book): the rules every
delivery path follows, written once. It takes each payload with its symbol and position, holds
what arrives before the stream's opening payloads are out, keeps each symbol moving forward
(nothing at or below the client's `since` or the last position sent), and with `throttleMs`
sends each symbol at most once per period, with its latest payload.

Where a payload then goes is the subscriber's `Push`: on the shared fan-out, an `Envelope`
splices the encoded payload into the operation's frame in its connection's `Outbox`; on the
per-subscriber path, a conflating `Mailbox` the stream reads root values from. Both conflate
past their limit the same way (`streaming.hub.Mailbox`: the latest per symbol).

A position is whatever orders one symbol's messages on a channel: a tick's sequence, a bar's
(start, last sequence). The subscriber only compares them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from delivery.outbox import Outbox

P = TypeVar("P")  # a payload: encoded bytes on the shared fan-out, a root value per subscriber


class Position(Protocol):
    """Orders one symbol's messages (later is greater)."""

    def __gt__(self, other: Any, /) -> bool: ...


class Framing(Protocol):
    """Where an operation's frames go, and the envelope around each payload."""

    @property
    def id(self) -> str: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def prefix(self) -> bytes: ...
    @property
    def suffix(self) -> bytes: ...


Push = Callable[[str, P], object]  # a payload of a symbol, on its way to the client
Stamped = tuple[str, Position, P]  # a payload with its symbol and position


class Envelope:
    """The shared fan-out's `Push`: each encoded payload in the operation's envelope, into its
    connection's outbox, keyed per operation and symbol (what the outbox conflates by)."""

    __slots__ = ("_keys", "_outbox", "_prefix", "_suffix")

    def __init__(self, operation: Framing, symbols: Sequence[str]) -> None:
        self._outbox = operation.outbox
        self._prefix = operation.prefix
        self._suffix = operation.suffix
        self._keys = {symbol: f"{operation.id}\x00{symbol}" for symbol in symbols}

    def push(self, symbol: str, payload: bytes) -> None:
        self._outbox.push(self._keys[symbol], self._prefix + payload + self._suffix)


class LiveSubscriber(Generic[P]):
    """Sends each symbol's payloads in position order, above the client's `since`. Payloads
    that arrive before the opening ones are out are held."""

    __slots__ = ("_held", "_last", "_push")

    def __init__(self, push: Push[P], since: Mapping[str, Position]) -> None:
        self._push = push
        self._last: dict[str, Position] = {**since}
        self._held: list[Stamped[P]] | None = []

    def deliver(self, symbol: str, position: Position, payload: P) -> None:
        if self._held is not None:
            self._held.append((symbol, position, payload))
        else:
            self._send(symbol, position, payload)

    def _send(self, symbol: str, position: Position, payload: P) -> None:
        last = self._last.get(symbol)
        if last is None or position > last:
            self._last[symbol] = position
            self._push(symbol, payload)

    def release(self, opening: Sequence[Stamped[P]]) -> None:
        """Send the opening payloads, then what arrived meanwhile (minus what they covered)."""
        held, self._held = self._held or [], None
        for symbol, position, payload in opening:
            self._send(symbol, position, payload)
        for symbol, position, payload in held:
            self.deliver(symbol, position, payload)

    def close(self) -> None:
        """The operation is over."""


class ThrottledSubscriber(LiveSubscriber[P]):
    """`throttleMs`: after the opening payloads, each symbol at most once per `period`
    seconds, with its latest payload; the symbols that changed in a period go out together."""

    __slots__ = ("_due", "_pending", "_period", "_sent_at")

    def __init__(self, push: Push[P], since: Mapping[str, Position], period: float) -> None:
        super().__init__(push, since)
        self._period = period
        self._pending: dict[str, Stamped[P]] = {}
        self._sent_at = float("-inf")
        self._due: asyncio.TimerHandle | None = None

    def deliver(self, symbol: str, position: Position, payload: P) -> None:
        if self._held is not None:
            self._held.append((symbol, position, payload))
            return
        self._pending[symbol] = (symbol, position, payload)
        if self._due is None:
            loop = asyncio.get_running_loop()
            due = max(loop.time(), self._sent_at + self._period)
            self._due = loop.call_at(due, self._send_pending)

    def _send_pending(self) -> None:
        self._due = None
        self._sent_at = asyncio.get_running_loop().time()
        pending, self._pending = self._pending, {}
        for stamped in pending.values():
            self._send(*stamped)

    def close(self) -> None:
        if self._due is not None:
            self._due.cancel()


def live_subscriber(
    push: Push[P], since: Mapping[str, Position], throttle: float = 0.0
) -> LiveSubscriber[P]:
    """The subscriber for a stream with this `throttle` (seconds; 0: every payload)."""
    if throttle:
        return ThrottledSubscriber(push, since, throttle)
    return LiveSubscriber(push, since)
