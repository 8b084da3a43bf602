"""One symbol's local order book, kept from Binance's diff-depth stream the way Binance says
to ("How to manage a local order book correctly", spot WebSocket streams:
https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md
#how-to-manage-a-local-order-book-correctly).

Pure state, no I/O: the adapter (`streaming.feeds.binance`) feeds it the stream's events and
the REST snapshots it fetches, and emits the `Depth`s it returns.

- Until it has a snapshot, the book buffers the events it receives (`receive` returns None;
  the newest `MAX_BUFFERED` are kept: a snapshot too old for what is left is refused).
- `load(snapshot)`: a snapshot older than the first buffered event (its `lastUpdateId + 1`
  below that event's `U`: the events between are lost) is refused (`SnapshotTooOld`: fetch
  again). Otherwise the book becomes the snapshot (update id `lastUpdateId`), and the
  buffered events are applied to it: those with `u <= lastUpdateId` are dropped (the snapshot
  holds them), so the first one applied brackets it (`U <= lastUpdateId + 1 <= u`). The
  result is one `Depth` with `previous=None`: a snapshot.
- Then each event is applied as it comes: one whose `u` is not above the book's update id is
  old and ignored; one whose `U` is above the update id + 1 means events were missed
  (normally `U` is the previous `u` + 1): `OutOfSequence`, the book is discarded and starts
  buffering again from that event, for a new snapshot. Every other event gives a `Depth`
  whose `previous` is the update id before it, so a reader can check continuity.
- Quantities are absolute; a quantity of zero removes the level (removing a level the book
  does not have is normal). Prices and quantities are the exact decimals Binance wrote.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from streaming.tick import MAX_BOOK_LEVELS, Depth, Level

MAX_BUFFERED = 10_000  # events kept while waiting for a snapshot (the oldest go first)


class OutOfSequence(Exception):
    """An event does not follow the book's update id: events were missed; resynchronise."""


class SnapshotTooOld(Exception):
    """The snapshot ends before the first buffered event begins: fetch another."""


@dataclass(frozen=True, slots=True)
class DiffUpdate:
    """One `depthUpdate` event: the levels changed between update ids `first` (`U`) and
    `last` (`u`), with their new absolute quantities (0: the level is gone)."""

    symbol: str
    first: int
    last: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    time: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """`GET /api/v3/depth`: the book as of update id `last_update_id`."""

    last_update_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


@dataclass
class LocalBook:
    symbol: str
    levels: int = MAX_BOOK_LEVELS  # levels a side each `Depth` carries
    update_id: int | None = None  # None: not synchronised (buffering)
    _buffer: deque[DiffUpdate] = field(default_factory=lambda: deque(maxlen=MAX_BUFFERED))
    _bids: dict[Decimal, Decimal] = field(default_factory=dict)
    _asks: dict[Decimal, Decimal] = field(default_factory=dict)

    @property
    def synchronised(self) -> bool:
        return self.update_id is not None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def receive(self, update: DiffUpdate) -> Depth | None:
        """The book after `update`; None while buffering or when `update` is old.
        `OutOfSequence` when it does not follow: the book is then buffering again, from it."""
        if self.update_id is None:
            self._buffer.append(update)
            return None
        return self._apply(update)

    def load(self, snapshot: Snapshot) -> Depth:
        """The snapshot with the buffered events after it applied, as a snapshot `Depth`.
        `SnapshotTooOld` (the buffer kept) when it cannot be bridged to the first buffered
        event; `OutOfSequence` (buffering again) when the buffer itself has a gap."""
        if self._buffer and snapshot.last_update_id + 1 < self._buffer[0].first:
            raise SnapshotTooOld(
                f"{self.symbol}: snapshot at {snapshot.last_update_id}, "
                f"first buffered event from {self._buffer[0].first}"
            )
        buffered = list(self._buffer)
        self._buffer.clear()
        self._bids = {price: size for price, size in snapshot.bids if size != 0}
        self._asks = {price: size for price, size in snapshot.asks if size != 0}
        self.update_id = snapshot.last_update_id
        for index, update in enumerate(buffered):
            try:
                self._apply(update)  # continuity checked as for live events
            except OutOfSequence:
                self._buffer.extend(buffered[index + 1 :])  # kept for the next snapshot
                raise
        return self._depth(previous=None)

    def reset(self) -> None:
        """Not synchronised any more (a new connection): buffer until the next snapshot."""
        self.update_id = None
        self._buffer.clear()
        self._bids.clear()
        self._asks.clear()

    def _apply(self, update: DiffUpdate) -> Depth | None:
        assert self.update_id is not None
        if update.last <= self.update_id:
            return None  # covered by what the book already holds
        if update.first > self.update_id + 1:
            missed = f"update {update.first}..{update.last} after {self.update_id}"
            self.reset()
            self._buffer.append(update)
            raise OutOfSequence(f"{self.symbol}: {missed}")
        _set_levels(self._bids, update.bids)
        _set_levels(self._asks, update.asks)
        previous, self.update_id = self.update_id, update.last
        return self._depth(previous)

    def _depth(self, previous: int | None) -> Depth:
        assert self.update_id is not None
        bids = heapq.nlargest(self.levels, self._bids.items())
        asks = heapq.nsmallest(self.levels, self._asks.items())
        return Depth(self.update_id, tuple(bids), tuple(asks), previous)


def _set_levels(side: dict[Decimal, Decimal], changes: tuple[Level, ...]) -> None:
    for price, size in changes:
        if size == 0:
            side.pop(price, None)
        else:
            side[price] = size
