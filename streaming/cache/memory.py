"""The in-process cache of embedded mode."""

from __future__ import annotations

import time
from collections.abc import Sequence


class MemoryCache:
    def __init__(self) -> None:
        self._values: dict[str, tuple[bytes, float | None]] = {}

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
