"""One subscriber of a public live stream (quotes, candles, trades, book): the rules every
delivery path follows, written once. It takes each payload with its symbol and position, holds
what arrives before the stream's opening payloads are out, keeps each symbol moving forward
(nothing at or below the client's `since` or the last position sent), and with `throttleMs`
sends each symbol at most once per period, with its latest payload.

Where a payload then goes is the subscriber's `Envelope`: on the shared fan-out, the encoded
payload spliced into the operation's frame, into its connection's `Outbox`; on the
per-subscriber path, the root value (a one-item tuple, no envelope around it) into a
conflating `Mailbox` the stream reads. Both conflate past their limit the same way
(`streaming.hub.Mailbox`: the latest per key). Splicing is concatenation on both paths, so
the shared one calls nothing per delivery beyond its outbox's `push`.

A position is whatever orders one symbol's messages on a channel: a tick's sequence, a bar's
(start, last sequence). The subscriber only compares them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, Protocol, Self, TypeVar

from delivery.outbox import Outbox


class Spliced(Protocol):
    """A payload and its envelope's parts, which concatenate."""

    def __add__(self, other: Self, /) -> Self: ...


# A payload: encoded bytes on the shared fan-out, `(root value,)` on the per-subscriber path.
P = TypeVar("P", bound=Spliced)


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


Stamped = tuple[str, Position, P]  # a payload with its symbol and position


@dataclass(frozen=True, slots=True)
class Envelope(Generic[P]):
    """Where a subscriber's payloads go: `push(key, prefix + payload + suffix)`, with the
    key of its symbol (what a conflating sink keeps the latest of)."""

    push: Callable[[str, P], object]
    keys: Mapping[str, str]
    prefix: P
    suffix: P

    @staticmethod
    def of(operation: Framing, symbols: Sequence[str]) -> Envelope[bytes]:
        """A shared operation's: its frame around each payload, into its outbox, keyed per
        operation and symbol."""
        keys = _frame_keys(operation.id)
        for symbol in symbols:
            if symbol not in keys:
                keys[symbol] = f"{operation.id}\x00{symbol}"
        return Envelope(operation.outbox.push, keys, operation.prefix, operation.suffix)

    @staticmethod
    def bare(
        push: Callable[[str, tuple[object, ...]], object], symbols: Sequence[str]
    ) -> Envelope[tuple[object, ...]]:
        """Each payload as it is, keyed by its symbol."""
        return Envelope(push, {symbol: symbol for symbol in symbols}, (), ())


@lru_cache(maxsize=1024)
def _frame_keys(operation_id: str) -> dict[str, str]:  # noqa: ARG001 (the cache's key)
    """The outbox keys of an operation id's frames by symbol, filled as symbols come and
    shared by every subscription with that id: clients number their operations alike ("1",
    "2", ...), so ten thousand connections hold one set of keys, not ten thousand."""
    return {}


class LiveSubscriber(Generic[P]):
    """Sends each symbol's payloads in position order, above the client's `since`. Payloads
    that arrive before the opening ones are out are held."""

    __slots__ = ("_held", "_keys", "_last", "_prefix", "_push", "_suffix")

    def __init__(self, envelope: Envelope[P], since: Mapping[str, Position]) -> None:
        self._push = envelope.push
        self._keys = envelope.keys
        self._prefix = envelope.prefix
        self._suffix = envelope.suffix
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
            self._push(self._keys[symbol], self._prefix + payload + self._suffix)

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

    def __init__(self, envelope: Envelope[P], since: Mapping[str, Position], period: float) -> None:
        super().__init__(envelope, since)
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
    envelope: Envelope[P], since: Mapping[str, Position], throttle: float = 0.0
) -> LiveSubscriber[P]:
    """The subscriber for a stream with this `throttle` (seconds; 0: every payload)."""
    if throttle:
        return ThrottledSubscriber(envelope, since, throttle)
    return LiveSubscriber(envelope, since)
