"""The recorder (the data collector): what an adapter receives, normalised as market events,
written one NDJSON row per event (`encode_event`: tagged by `kind`), so a day of real data can
be kept and replayed (`streaming/feeds/replay.py` reads these rows back).

A recording appends: an existing file is continued, never truncated, so a restarted recorder
keeps what it had. A file that ends in an unfinished row (the recorder was killed mid-write)
gets a line break first, so that row stays the one unreadable line (the replay skips and
counts it) and the new rows stay whole. Rows are flushed to the operating system at least
every `flush_seconds`, and on close. With `rotate_daily`, each UTC day (by the clock when
written) goes to its own file, `<stem>-YYYY-MM-DD<suffix>` beside the given path.

A file that cannot be opened or written (a missing folder, no permission, a full disk) stops
the recording with a `RecordingError` naming the file and the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from models.types import utcnow
from streaming.feeds.market import Adapter, MarketEvent, encode_event

log = logging.getLogger(__name__)


class RecordingError(Exception):
    """The recording's file cannot be opened or written. Not an OSError on purpose: an
    adapter retries OSErrors as lost connections, and a full disk is no such thing."""


class Recording:
    """An append-only NDJSON file of market events; `write` is an `EventSink`."""

    def __init__(
        self,
        path: Path,
        *,
        rotate_daily: bool = False,
        flush_seconds: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.path = path
        self.rotate_daily = rotate_daily
        self.flush_seconds = flush_seconds
        self.clock = clock
        self.rows = 0
        self.files: list[Path] = []  # every file written to, in order
        self._file: BinaryIO | None = None
        self._day: date | None = None
        self._flushed = time.monotonic()

    def __enter__(self) -> Recording:
        self._open(self.clock().date())
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        try:
            self.close()
        except RecordingError:
            if error is None:
                raise  # else the error in flight (the same full disk, most likely) is told

    def file_for(self, day: date) -> Path:
        if not self.rotate_daily:
            return self.path
        return self.path.with_name(f"{self.path.stem}-{day.isoformat()}{self.path.suffix}")

    async def write(self, event: MarketEvent) -> None:
        """One row; the file is flushed when `flush_seconds` have passed since the last."""
        day = self.clock().date()
        if self._file is None or (self.rotate_daily and day != self._day):
            self.close()
            self._open(day)
        assert self._file is not None
        path = self.file_for(day)
        with _reported(path):
            self._file.write(encode_event(event) + b"\n")
        self.rows += 1
        if time.monotonic() - self._flushed >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        if self._file is not None:
            with _reported(Path(self._file.name)):
                self._file.flush()
        self._flushed = time.monotonic()

    def close(self) -> None:
        """Flush and close the current file (a later `write` opens it again)."""
        file, self._file = self._file, None
        if file is not None:
            with _reported(Path(file.name)):
                try:
                    file.flush()
                finally:
                    file.close()  # closed even when the flush failed

    def _open(self, day: date) -> None:
        path = self.file_for(day)
        with _reported(path):
            file = path.open("ab")
            try:
                if path.is_file() and _ends_unfinished(path):
                    file.write(b"\n")  # the killed writer's last row stays one bad line
            except BaseException:
                file.close()
                raise
        self._file, self._day = file, day
        self.files.append(path)
        log.info("recording to %s", path)


async def record(adapter: Adapter, recording: Recording) -> None:
    """`adapter`'s events into `recording` until cancelled (or the file fails: RecordingError),
    flushing every `flush_seconds` even while no event comes."""

    async def flush_regularly() -> None:
        while True:
            await asyncio.sleep(recording.flush_seconds)
            recording.flush()

    tasks = {
        asyncio.create_task(adapter.stream(recording.write)),
        asyncio.create_task(flush_regularly()),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a RecordingError from either
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _ends_unfinished(path: Path) -> bool:
    with path.open("rb") as file:
        if file.seek(0, 2) == 0:
            return False
        file.seek(-1, 2)
        return file.read(1) != b"\n"


@contextmanager
def _reported(path: Path) -> Iterator[None]:
    """OSErrors on `path` as one `RecordingError`: `cannot write <path>: <reason>`."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        raise RecordingError(f"cannot write {path}: {reason}") from error
