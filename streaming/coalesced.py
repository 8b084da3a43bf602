"""Concurrent lookups by key folded into one fetch at a time.

When many subscribers join at once, each asks for the same few keys (its symbols' instruments,
then their latest quotes): 2,000 joiners made 4,000 MGETs of 10 keys out of 100, each holding a
pooled connection, and as many instrument queries, each holding a database connection. Here a
lookup asked while a fetch is on its way waits for the next one, which fetches every distinct
key asked meanwhile in one call: at most one fetch in flight, however many callers, and each
key fetched once per fetch.

A key that the fetch in flight already holds is shared with it only when told
(`share_in_flight`): otherwise every caller's fetch starts after it asked, so it sees every
write finished before it asked (a subscriber that reads the latest quote after subscribing
misses nothing in between). Fetches run in a task of their own, so a caller that gives up
never cancels a fetch that others wait for.
"""

from __future__ import annotations

import asyncio
from collections import ChainMap
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Fetch(Generic[K, V]):
    """One fetch: the keys it gets and, once it is done, their values."""

    values: asyncio.Future[dict[K, V]]
    keys: set[K] = field(default_factory=set)


class CoalescedLookups(Generic[K, V]):
    def __init__(
        self,
        fetch: Callable[[list[K]], Awaitable[Sequence[V]]],
        *,
        share_in_flight: bool = False,
        name: str = "coalesced-lookups",
    ) -> None:
        self._fetch = fetch  # the values of distinct keys, in their order (one MGET, one query)
        self._share_in_flight = share_in_flight
        self._name = name  # of the task that runs the fetches
        self._in_flight: _Fetch[K, V] | None = None
        self._next: _Fetch[K, V] | None = None  # what the next fetch gets, once asked for
        self._fetcher: asyncio.Task[None] | None = None  # runs fetches while any is asked for

    async def get_many(self, keys: Sequence[K]) -> list[V]:
        if not keys:
            return []
        fetches = []
        shared = self._in_flight if self._share_in_flight else None
        later = [key for key in keys if shared is None or key not in shared.keys]
        if shared is not None and len(later) < len(keys):
            fetches.append(shared)
        if later:
            fetches.append(self._ask_next(later))
        # shielded: a caller that gives up must not cancel the fetch the others wait for
        found = [await asyncio.shield(fetch.values) for fetch in fetches]
        values: Mapping[K, V] = found[0] if len(found) == 1 else ChainMap(*found)
        return [values[key] for key in keys]

    def _ask_next(self, keys: list[K]) -> _Fetch[K, V]:
        if self._next is None:
            self._next = _Fetch(asyncio.get_running_loop().create_future())
        self._next.keys.update(keys)
        if self._fetcher is None:
            self._fetcher = asyncio.create_task(self._fetch_while_asked(), name=self._name)
        return self._next

    async def _fetch_while_asked(self) -> None:
        try:
            while self._next is not None:
                self._in_flight, self._next = self._next, None
                await self._run(self._in_flight)
                self._in_flight = None
        finally:
            self._fetcher = None
            for stopped in (self._in_flight, self._next):  # closing: nobody will get these
                if stopped is not None:
                    stopped.values.cancel()
            self._in_flight = self._next = None

    async def _run(self, fetch: _Fetch[K, V]) -> None:
        keys = list(fetch.keys)
        try:
            values = await self._fetch(keys)
        except Exception as error:  # every caller of this fetch gets it
            fetch.values.set_exception(error)
        else:
            fetch.values.set_result(dict(zip(keys, values, strict=True)))

    async def close(self) -> None:
        """Stop fetching; callers still waiting are cancelled."""
        if self._fetcher is not None:
            self._fetcher.cancel()
            with suppress(asyncio.CancelledError):
                await self._fetcher
