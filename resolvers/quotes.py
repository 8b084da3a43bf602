"""The arguments of the quote fields: symbols, throttle and resume positions, checked."""

from __future__ import annotations

import re
from collections.abc import Sequence

from trading.echo import echo

SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,31}$")
MAX_THROTTLE_MS = 60_000


class BadSymbols(ValueError):
    pass


class BadThrottle(ValueError):
    pass


class BadResume(ValueError):
    pass


def resume_positions(since: Sequence[tuple[str, int]], symbols: Sequence[str]) -> dict[str, int]:
    """`since` as symbol -> last sequence seen; each symbol once, one of `symbols`."""
    positions: dict[str, int] = {}
    for raw_symbol, sequence in since:
        symbol = raw_symbol.strip().upper()
        if symbol not in symbols:
            raise BadResume(f"since names {echo(symbol)!r}, which is not in symbols")
        if symbol in positions:
            raise BadResume(f"since names {echo(symbol)!r} twice")
        if sequence < 0:
            raise BadResume(f"since sequence of {echo(symbol)} must be 0 or more, got {sequence}")
        positions[symbol] = sequence
    return positions


def throttle_seconds(throttle_ms: int | None) -> float:
    """`throttleMs` as seconds; None or 0 means every tick."""
    if throttle_ms is None:
        return 0.0
    if not 0 <= throttle_ms <= MAX_THROTTLE_MS:
        raise BadThrottle(f"throttleMs must be between 0 and {MAX_THROTTLE_MS}, got {throttle_ms}")
    return throttle_ms / 1000


def normalise_symbols(symbols: Sequence[str], *, limit: int) -> list[str]:
    """Upper-cased, de-duplicated, in the caller's order; refuses empty, too many or malformed."""
    wanted = list(dict.fromkeys(s.strip().upper() for s in symbols))
    if not wanted:
        raise BadSymbols("give at least one symbol")
    if len(wanted) > limit:
        raise BadSymbols(f"at most {limit} symbols at once, got {len(wanted)}")
    bad = [s for s in wanted if not SYMBOL.match(s)]
    if bad:
        raise BadSymbols(f"not a valid symbol: {', '.join(map(echo, bad[:5]))}")
    return wanted
