"""Rate limits on signing in and registering, per account and per client address.

Fixed-window counters in the cache (`Cache.increment`): Redis in full mode, so every API replica
counts the same attempts; memory in embedded mode, which has one process. An attempt is counted
and judged before any password is hashed, so a refused one costs a cache round trip and no CPU.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass

from settings import Settings
from streaming.cache import Cache

IPV6_NETWORK_PREFIX = 64  # one subscriber's share: counting each address would let it rotate


@dataclass(frozen=True, slots=True)
class Limit:
    scope: str
    attempts: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """Where a sign-in or registration comes from, and where its counters live."""

    cache: Cache
    client_address: str

    @property
    def address_group(self) -> str:
        return address_group(self.client_address)


def login_limits(settings: Settings) -> tuple[Limit, Limit]:
    """Per address (any accounts), then per account (attempts since its last good login)."""
    per_address = settings.login_attempts_per_address, settings.login_address_window_seconds
    per_account = settings.login_failures_per_account, settings.login_failure_window_seconds
    return Limit("login-address", *per_address), Limit("login-account", *per_account)


def registration_limits(settings: Settings) -> tuple[Limit, Limit]:
    window = settings.registration_window_seconds
    return (
        Limit("register-address", settings.registrations_per_address, window),
        Limit("register-account", settings.registrations_per_account, window),
    )


async def retry_after(attempt: Attempt, limits: tuple[Limit, Limit], email: str) -> int | None:
    """Count this attempt against the address limit, then the account limit; the seconds until
    the first one exceeded lets the caller try again, or None when neither is."""
    address_limit, account_limit = limits
    subjects = ((address_limit, attempt.address_group), (account_limit, email))
    for limit, subject in subjects:
        count = await attempt.cache.increment(counter_key(limit, subject), limit.window_seconds)
        if count.value > limit.attempts:
            return max(1, math.ceil(count.expires_in_seconds))
    return None


async def forget(attempt: Attempt, limit: Limit, subject: str) -> None:
    """Start a subject's count again (a good login clears its account's failures)."""
    await attempt.cache.delete(counter_key(limit, subject))


def counter_key(limit: Limit, subject: str) -> str:
    """Hashed: an email or address of any length makes a short key that does not show it."""
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"rate:{limit.scope}:{digest}"


def address_group(address: str) -> str:
    """The unit an address is counted in: itself for IPv4, its /64 network for IPv6."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a test client's name, "unknown"): counted as written
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_NETWORK_PREFIX}", strict=False))
    return str(parsed)
