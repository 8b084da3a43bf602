"""One operation's share of the shared fan-out: it takes each rendered payload with its symbol
and position, keeps each symbol moving forward, and splices the payload into its own envelope
in its connection's `Outbox`.

A position is whatever orders one symbol's messages on a channel: a tick's sequence, a bar's
(start, last sequence). The subscriber only compares them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from delivery.outbox import Outbox


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


Stamped = tuple[str, Position, bytes]  # a payload with its symbol and position


class LiveSubscriber:
    """Sends each symbol's payloads in position order, above the client's `since`. Payloads
    that arrive before the opening ones are out are held."""

    __slots__ = ("_held", "_keys", "_last", "_outbox", "_prefix", "_suffix")

    def __init__(
        self, operation: Framing, symbols: Sequence[str], since: Mapping[str, Position]
    ) -> None:
        self._outbox = operation.outbox
        self._prefix = operation.prefix
        self._suffix = operation.suffix
        self._keys = {symbol: f"{operation.id}\x00{symbol}" for symbol in symbols}
        self._last: dict[str, Position] = {**since}
        self._held: list[Stamped] | None = []

    def deliver(self, symbol: str, position: Position, payload: bytes) -> None:
        if self._held is not None:
            self._held.append((symbol, position, payload))
        else:
            self._send(symbol, position, payload)

    def _send(self, symbol: str, position: Position, payload: bytes) -> None:
        last = self._last.get(symbol)
        if last is None or position > last:
            self._last[symbol] = position
            self._outbox.push(self._keys[symbol], self._prefix + payload + self._suffix)

    def release(self, opening: Sequence[Stamped]) -> None:
        """Send the opening payloads, then what arrived meanwhile (minus what they covered)."""
        held, self._held = self._held or [], None
        for symbol, position, payload in opening:
            self._send(symbol, position, payload)
        for symbol, position, payload in held:
            self.deliver(symbol, position, payload)

    def close(self) -> None:
        """The operation is over."""


class ThrottledSubscriber(LiveSubscriber):
    """`throttleMs`: after the opening payloads, each symbol at most once per `period`
    seconds, with its latest payload; the symbols that changed in a period go out together."""

    __slots__ = ("_due", "_pending", "_period", "_sent_at")

    def __init__(
        self,
        operation: Framing,
        symbols: Sequence[str],
        since: Mapping[str, Position],
        period: float,
    ) -> None:
        super().__init__(operation, symbols, since)
        self._period = period
        self._pending: dict[str, Stamped] = {}
        self._sent_at = float("-inf")
        self._due: asyncio.TimerHandle | None = None

    def deliver(self, symbol: str, position: Position, payload: bytes) -> None:
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
