"""Replay of recorded ticks from a CSV or NDJSON file, at recorded or accelerated speed.

An NDJSON row with a `kind` is a market event as the recorder writes it
(`streaming/feeds/recording.py`: a trade, quote, book, status or bar) and is played through a
`MarketState`, as the live adapter's events were: a quote stays a quote, a book a book, a
status a status, and the touch a trade carries is the last quote's. Its `time` is its
timestamp. (A bar, or a status before any price of its symbol, makes no tick.)

Any other row is a tick: columns (CSV header) or keys (NDJSON): `symbol`, `price`,
`timestamp` (ISO 8601 with a zone, or epoch milliseconds), and optionally `bid`, `ask`
(default: the price), `volume` (default 0), `sequence` and `halted`. A row with `halted`
(true/false, or 1/0) is a status message, not a trade: the symbol is halted (true) or
resumes (false) from there; its price is the last one. Ticks of either kind of row leave
unnumbered: the feed sender gives each the next sequence of its symbol (continuing the log's
numbering), so a file replayed twice is played twice. A `sequence` column is only validated
(a whole number, else the row is malformed), not used.

`speed` 1 keeps the recorded gaps between ticks, 10 plays ten times faster, 0 as fast as the
log takes them. `shift_to_now` moves every timestamp by the same amount so the first tick is
"now" (candles then form live). A malformed row is counted, logged and skipped.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec

from models.types import utcnow
from streaming.errors import BadTick
from streaming.feeds import TickSink
from streaming.feeds.market import MarketState, decode_event
from streaming.metrics import FEED_BAD_MESSAGES
from streaming.tick import Tick

log = logging.getLogger(__name__)

Format = Literal["csv", "ndjson"]


def guess_format(path: Path) -> Format:
    return "csv" if path.suffix.lower() == ".csv" else "ndjson"


@dataclass
class Replay:
    path: Path
    speed: float = 1.0
    file_format: Format | None = None
    shift_to_now: bool = False
    bad_rows: int = 0
    state: MarketState = field(default_factory=MarketState)  # for market event rows

    def __post_init__(self) -> None:
        if self.speed < 0:
            raise ValueError("speed must be 0 (as fast as possible) or more")

    async def run(self, sink: TickSink) -> None:
        """Play the file once, then return."""
        started = time.monotonic()
        first: datetime | None = None
        shift = timedelta(0)
        for tick in self.ticks():
            if first is None:
                first = tick.exchange_ts
                shift = utcnow() - first if self.shift_to_now else timedelta(0)
            if self.speed:
                due = (tick.exchange_ts - first).total_seconds() / self.speed
                delay = due - (time.monotonic() - started)
                if delay > 0:
                    await asyncio.sleep(delay)
            if shift:
                tick = _shifted(tick, shift)
            await sink(tick)

    def ticks(self) -> Iterator[Tick]:
        """The file's valid ticks, in file order (read lazily: files may be large)."""
        fmt = self.file_format or guess_format(self.path)
        with self.path.open(newline="", encoding="utf-8") as handle:
            rows = _csv_rows(handle) if fmt == "csv" else _ndjson_rows(handle)
            for line, row in rows:
                try:
                    tick = self._tick(row)
                except (BadTick, KeyError, TypeError, ValueError) as error:
                    self.bad_rows += 1
                    FEED_BAD_MESSAGES.labels("replay").inc()
                    log.warning("%s:%d skipped: %s", self.path.name, line, _reason(error))
                    continue
                if tick is not None:
                    yield tick

    def _tick(self, row: object) -> Tick | None:
        if isinstance(row, BadTick):
            raise row
        if isinstance(row, msgspec.Struct):  # a market event
            return self.state.tick(row, utcnow())  # type: ignore[arg-type]
        if not isinstance(row, dict):
            raise BadTick("not an object")
        symbol = row["symbol"]
        price = row["price"]
        now = utcnow()
        data = {
            "symbol": symbol,
            "price": _or(price, None),
            "bid": _or(row.get("bid"), price),
            "ask": _or(row.get("ask"), price),
            "volume": _or(row.get("volume"), "0"),
            "sequence": _checked_sequence(row.get("sequence")),
            "exchange_ts": _timestamp(row["timestamp"]),
            "received_ts": now.isoformat(),
        }
        halted = row.get("halted")
        if halted not in (None, ""):
            data["halted"] = _flag(halted)
        return Tick.from_dict(data)


def _checked_sequence(given: object) -> int:
    """0 (unnumbered) once a recorded sequence, if any, is a whole number of 0 or more."""
    if given not in (None, "") and (isinstance(given, bool) or int(str(given)) < 0):
        raise BadTick(f"bad sequence {given!r}")
    return 0


def _flag(raw: object) -> bool:
    text = str(raw).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise BadTick(f"bad halted {raw!r}")


def _csv_rows(handle: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(handle)
    for row in reader:
        yield reader.line_num, row


def _ndjson_rows(handle: Any) -> Iterator[tuple[int, object]]:
    """Each line's row: a market event (it has a `kind`), a tick's object, or the BadTick
    saying why it is neither."""
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_float=Decimal)  # exact: never via float
        except ValueError as error:
            cut = "" if line.endswith("\n") else " (an unfinished last row: a recording cut short?)"
            yield number, BadTick(f"not JSON: {error}{cut}")
            continue
        if isinstance(row, dict) and "kind" in row:
            try:
                yield number, decode_event(line)
            except BadTick as error:
                yield number, error
        else:
            yield number, row


def _or(value: object, default: object) -> object:
    chosen = default if value in (None, "") else value
    return str(chosen) if isinstance(chosen, Decimal) else chosen  # exact digits, as text


def _timestamp(raw: object) -> str:
    if isinstance(raw, int | Decimal) and not isinstance(raw, bool):
        return datetime.fromtimestamp(float(raw) / 1000, UTC).isoformat()
    if isinstance(raw, str) and raw.strip().isdigit():
        return datetime.fromtimestamp(int(raw) / 1000, UTC).isoformat()
    if not isinstance(raw, str):
        raise BadTick(f"bad timestamp {raw!r}")
    return raw


def _shifted(tick: Tick, shift: timedelta) -> Tick:
    """The same tick (its kind, status, sizes and book kept), `shift` later."""
    return msgspec.structs.replace(tick, exchange_ts=tick.exchange_ts + shift)


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error}"
    return str(error)
