"""Password hashing (argon2id) off the event loop, bounded, and fair between client addresses.

argon2id with the RFC 9106 low-memory profile costs 64 MiB and a long stretch of CPU per
hash, on purpose. So:
- hashes run in a pool of `PASSWORD_HASH_WORKERS` threads of their own, so at most that many
  run at once per process (memory: 64 MiB each) and the event loop, which also serves live
  prices and /healthz, never runs one; more wait in the pool's queue, holding no memory;
- the pool's threads run at a lower priority than the event loop's (Linux), so under a storm
  the CPU goes to serving first and to hashing after;
- one client address has at most `PASSWORD_HASHES_PER_ADDRESS` hashes running or queued at a
  time; its other attempts wait outside the queue, so one address cannot fill the queue ahead
  of everyone else (a storm from it delays other people's logins by one hash, not by all).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
HASHING_NICENESS = 10  # Linux CFS: a nice-10 thread weighs about a tenth of a nice-0 one

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile; stateless, so safe to share
# Verified against when the email is unknown, so a login takes as long either way.
DUMMY_HASH = _hasher.hash("not-a-real-password")


async def hash_password(settings: Settings, password: str, address: str | None) -> str:
    return await _hashing(settings, address, _hasher.hash, password)


async def verify_password(
    settings: Settings, stored: str, password: str, address: str | None
) -> bool:
    return await _hashing(settings, address, _verify, stored, password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def _hashing(
    settings: Settings, address: str | None, work: Callable[..., T], *args: str
) -> T:
    """`work` in the hashing pool, after `address`'s turn comes (None: no turn to wait)."""
    pool = _hashing_pool(settings.password_hash_workers)
    async with _turns.turn(address, settings.password_hashes_per_address):
        return await asyncio.get_running_loop().run_in_executor(pool, work, *args)


@cache
def _hashing_pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, "password-hash", initializer=_behind_the_event_loop)


def _behind_the_event_loop() -> None:
    """Linux sets niceness per thread (argon2's lane threads inherit it); elsewhere the threads
    keep the process's priority."""
    if sys.platform != "linux":
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
    except OSError as error:  # a failing initializer would break the pool, and every login
        log.warning("password hashing keeps the process's priority: %s", error)


@dataclass
class _Gate:
    semaphore: asyncio.Semaphore
    users: int = 0  # holding or awaiting it


class Turns:
    """Per key, at most `limit` holders at once; the rest wait in arrival order. A key's gate
    exists only while someone holds or awaits it, so passing addresses leave nothing behind."""

    def __init__(self) -> None:
        self._gates: dict[str, _Gate] = {}

    @asynccontextmanager
    async def turn(self, key: str | None, limit: int) -> AsyncIterator[None]:
        if key is None:
            yield
            return
        gate = self._gates.setdefault(key, _Gate(asyncio.Semaphore(limit)))
        gate.users += 1
        try:
            async with gate.semaphore:
                yield
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[key]


_turns = Turns()
