"""The in-process cache of embedded mode."""

from __future__ import annotations

import time
from collections.abc import Sequence

from streaming.cache import Count

SWEEP_EVERY_INCREMENTS = 1000  # counters of addresses never seen again must not pile up


class MemoryCache:
    def __init__(self) -> None:
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._increments = 0

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        self._values.clear()

    async def ping(self) -> None:
        return None

    async def get(self, key: str) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires <= time.monotonic():
            del self._values[key]
            return None
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [await self.get(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        expires = time.monotonic() + ttl_seconds if ttl_seconds else None
        self._values[key] = (value, expires)

    async def set_many(self, items: dict[str, bytes]) -> None:
        for key, value in items.items():
            self._values[key] = (value, None)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._values.pop(key, None)

    async def increment(self, key: str, ttl_seconds: int) -> Count:
        self._increments += 1
        if self._increments % SWEEP_EVERY_INCREMENTS == 0:
            self._sweep()
        now = time.monotonic()
        entry = self._values.get(key)
        if entry is None or entry[1] is None or entry[1] <= now:
            expires = now + ttl_seconds
            value = 1
        else:
            value, expires = int(entry[0]) + 1, entry[1]
        self._values[key] = (str(value).encode(), expires)
        return Count(value, expires - now)

    def _sweep(self) -> None:
        now = time.monotonic()
        expired = [key for key, (_, expires) in self._values.items() if expires and expires <= now]
        for key in expired:
            del self._values[key]
